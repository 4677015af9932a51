/**
 * The records dirbridge keeps and plans with, shared by `sync/` (which plans against them) and
 * `store/` (which keeps them). Types and pure helpers only: no I/O.
 */

export type { AuditEntry, NewAuditEntry } from './audit.ts';
export type { AvatarInfo, AvatarRecord } from './avatar.ts';
export type { ChannelRecord } from './channel.ts';
export { type GroupPatch, type GroupRecord, type GroupWithMemberCount, groupNameKey, type NewGroup } from './group.ts';
export type { JsonValue } from './json-value.ts';
export type { MappingState } from './mapping-state.ts';
export type { MembershipPair } from './membership.ts';
export type { PageQuery } from './page.ts';
export type { RecordSource } from './record-source.ts';
export type { NewSession, SessionRecord, SessionWithUsername } from './session.ts';
export type { StoredSettingsVersion } from './settings-version.ts';
export { CHANGE_SOURCES, type ChangeSource, type CursorScope, type StoredDirectoryGroup, type SyncCursor } from './sync-cursor.ts';
export {
  DEFAULT_RUN_LEASE_MS,
  INTERRUPTED_REASON,
  type RunLease,
  SYNC_RUN_PHASES,
  type SyncCounts,
  type SyncMode,
  type SyncRunOutcome,
  type SyncRunPhase,
  type SyncRunProgress,
  type SyncRunRecord,
  type SyncRunStatus,
  type SyncTrigger,
} from './sync-run.ts';
export type { SyncState } from './sync-state.ts';
export type { TeamRecord } from './team.ts';
export type { Timestamp } from './timestamp.ts';
export { type DisabledBy, emailKey, type NewUser, USER_STATES, type UserPage, type UserPatch, type UserRecord, type UserState, usernameKey } from './user.ts';
export type {
  BaselineRecord,
  NewOutboxStep,
  NewWriteBackConflict,
  OutboxRecord,
  OutboxStatus,
  WriteBackConflictRecord,
  WriteBackObjectKind,
} from './writeback.ts';
export { PRIMARY_DIRECTORY_ID } from './writeback.ts';
