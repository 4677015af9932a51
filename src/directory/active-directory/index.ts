/** Active Directory's change feeds: DirSync, uSNChanged polling, and the DC identity they depend on. */
export { type DirSyncCookieInfo, parseDirSyncCookie } from './dirsync-cookie.ts';
export { splitIncrementalValues, type ValueChange } from './incremental-values.ts';
export { type DirSyncEvent, type DirSyncRequest, readDirSync } from './read-dirsync.ts';
export { readUsnChanges, type UsnChangesRequest, usnChangesFilter } from './read-usn-changes.ts';
export { type AdServerIdentity, readAdServerIdentity } from './server-identity.ts';
