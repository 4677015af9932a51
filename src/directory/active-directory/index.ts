/** Active Directory's change feeds: DirSync, uSNChanged polling, and the DC identity they depend on. */
export { parseDirSyncCookie, type DirSyncCookieInfo } from './dirsync-cookie.ts';
export { splitIncrementalValues, type ValueChange } from './incremental-values.ts';
export { readDirSync, type DirSyncEvent, type DirSyncRequest } from './read-dirsync.ts';
export { readUsnChanges, usnChangesFilter, type UsnChangesRequest } from './read-usn-changes.ts';
export { readAdServerIdentity, type AdServerIdentity } from './server-identity.ts';
