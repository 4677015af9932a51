/**
 * The directory boundary: the only code in dirbridge that talks LDAP (through ldapts). Everything
 * it returns is normalised (`DirectoryEntry`), and everything it throws is a DirbridgeError.
 */
export {
  openDirectory,
  openWritableDirectory,
  type BindAs,
  type ConnectionSecurity,
  type DirectoryConnection,
  type OpenDirectoryOptions,
  type WritableDirectoryConnection,
} from './connect.ts';
export type { ExtendedResult, NewEntryAttributes, NewName, WriteOptions } from './write.ts';
export { addValues, deleteValues, replaceValues, valueChanges, type AttributeValue, type Modification } from './modifications.ts';
export { changeOwnPassword, PASSWORD_MODIFY_OID, resetPassword, type OwnPasswordChange, type PasswordReset } from './passwords.ts';
export { isRetryableDirectoryError } from './translate-error.ts';
export type { SearchRequest } from './search.ts';
export { defaultUniqueIdAttribute, detectServerType, type RootDse, type ServerType } from './root-dse.ts';
export { BINARY_ATTRIBUTES, isBinaryAttribute, uniqueIdOf } from './normalize-entry.ts';
export { AD_BIND_CODES } from './translate-error.ts';
export { readContentSync, supportsContentSync, type ContentSyncEvent, type ContentSyncRequest } from './content-sync/index.ts';
export {
  createBindPool,
  DEFAULT_BIND_POOL_SIZE,
  type BindPool,
  type BindPoolOptions,
  type BindPoolStats,
  type PasswordPolicyError,
} from './bind-pool.ts';
export {
  parseDirSyncCookie,
  readAdServerIdentity,
  readDirSync,
  readUsnChanges,
  type AdServerIdentity,
  type DirSyncCookieInfo,
  type DirSyncEvent,
  type DirSyncRequest,
  type UsnChangesRequest,
  type ValueChange,
} from './active-directory/index.ts';
