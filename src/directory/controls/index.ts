/** Request and response controls dirbridge sends, one file each (as ldapts organises its own). */
export { ASSERTION_OID, AssertionControl, assertionControl } from './assertion.ts';
export {
  decodePasswordPolicyResponse,
  PASSWORD_POLICY_OID,
  PASSWORD_POLICY_REASONS,
  PasswordPolicyControl,
  type PasswordPolicyError,
  type PasswordPolicyResponse,
} from './password-policy.ts';
export { supportsControl, supportsExtension } from './supported.ts';
export {
  decodeDirSyncResponse,
  DIRSYNC_FLAGS,
  DIRSYNC_OID,
  DirSyncControl,
  encodeDirSyncRequest,
  type DirSyncRequestValue,
  type DirSyncResponseValue,
} from './dirsync.ts';
export { encodeSyncRequestValue, SYNC_REQUEST_OID, type SyncMode, SyncRequestControl, type SyncRequestValue } from './sync-request.ts';
export { decodeSyncState, type SyncEntryState, SYNC_STATE_OID, type SyncStateValue } from './sync-state.ts';
export { decodeSyncDone, SYNC_DONE_OID, type SyncDoneValue } from './sync-done.ts';
export { decodeSyncInfo, type SyncInfo, SYNC_INFO_OID } from './sync-info.ts';
