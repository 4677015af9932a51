/**
 * The directory boundary: the only code in dirbridge that talks LDAP (through ldapts). Everything
 * it returns is normalised (`DirectoryEntry`), and everything it throws is a DirbridgeError.
 */

export {
  type AdServerIdentity,
  type DirSyncCookieInfo,
  type DirSyncEvent,
  type DirSyncRequest,
  parseDirSyncCookie,
  readAdServerIdentity,
  readDirSync,
  readUsnChanges,
  type UsnChangesRequest,
  type ValueChange,
} from './active-directory/index.ts';
export {
  type BindPool,
  type BindPoolOptions,
  type BindPoolStats,
  createBindPool,
  DEFAULT_BIND_POOL_SIZE,
  type PasswordPolicyError,
} from './bind-pool.ts';
export {
  type BindAs,
  type ConnectionSecurity,
  type DirectoryConnection,
  type OpenDirectoryOptions,
  openDirectory,
  openWritableDirectory,
  type WritableDirectoryConnection,
} from './connect.ts';
export { type ContentSyncEvent, type ContentSyncRequest, readContentSync, supportsContentSync } from './content-sync/index.ts';
export { type AttributeValue, addValues, deleteValues, type Modification, replaceValues, valueChanges } from './modifications.ts';
export { BINARY_ATTRIBUTES, isBinaryAttribute, uniqueIdOf } from './normalize-entry.ts';
export { changeOwnPassword, type OwnPasswordChange, PASSWORD_MODIFY_OID, type PasswordReset, resetPassword } from './passwords.ts';
export { defaultUniqueIdAttribute, detectServerType, type RootDse, type ServerType } from './root-dse.ts';
export type { SearchRequest } from './search.ts';
export { AD_BIND_CODES, isRetryableDirectoryError } from './translate-error.ts';
export type { ExtendedResult, NewEntryAttributes, NewName, WriteOptions } from './write.ts';
