/** Request and response controls dirbridge sends, one file each (as ldapts organises its own). */
export { ASSERTION_OID, AssertionControl, assertionControl } from './assertion.ts';
export {
  DIRSYNC_FLAGS,
  DIRSYNC_OID,
  DirSyncControl,
  type DirSyncRequestValue,
  type DirSyncResponseValue,
  decodeDirSyncResponse,
  encodeDirSyncRequest,
} from './dirsync.ts';
export {
  decodePasswordPolicyResponse,
  PASSWORD_POLICY_OID,
  PASSWORD_POLICY_REASONS,
  PasswordPolicyControl,
  type PasswordPolicyError,
  type PasswordPolicyResponse,
} from './password-policy.ts';
export { supportsControl, supportsExtension } from './supported.ts';
export { decodeSyncDone, SYNC_DONE_OID, type SyncDoneValue } from './sync-done.ts';
export { decodeSyncInfo, SYNC_INFO_OID, type SyncInfo } from './sync-info.ts';
export { encodeSyncRequestValue, SYNC_REQUEST_OID, type SyncMode, SyncRequestControl, type SyncRequestValue } from './sync-request.ts';
export { decodeSyncState, SYNC_STATE_OID, type SyncEntryState, type SyncStateValue } from './sync-state.ts';
