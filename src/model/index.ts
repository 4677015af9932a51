/**
 * The records dirbridge keeps and plans with, shared by `sync/` (which plans against them) and
 * `store/` (which keeps them). Types and pure helpers only: no I/O.
 */
export type { Timestamp } from './timestamp.ts';
export type { JsonValue } from './json-value.ts';
export type { PageQuery } from './page.ts';
export type { RecordSource } from './record-source.ts';
export { USER_STATES, usernameKey, emailKey, type DisabledBy, type UserState, type UserRecord, type NewUser, type UserPatch, type UserPage } from './user.ts';
export { groupNameKey, type GroupRecord, type NewGroup, type GroupPatch, type GroupWithMemberCount } from './group.ts';
export type { MembershipPair } from './membership.ts';
export type { SyncState } from './sync-state.ts';
export { DEFAULT_RUN_LEASE_MS, INTERRUPTED_REASON, SYNC_RUN_PHASES, type SyncTrigger, type SyncMode, type SyncRunStatus, type SyncCounts, type SyncRunRecord, type RunLease, type SyncRunPhase, type SyncRunProgress, type SyncRunOutcome } from './sync-run.ts';
export type { SessionRecord, NewSession, SessionWithUsername } from './session.ts';
export type { AuditEntry, NewAuditEntry } from './audit.ts';
export type { ChannelRecord } from './channel.ts';
export type { TeamRecord } from './team.ts';
export type { AvatarRecord, AvatarInfo } from './avatar.ts';
export type { MappingState } from './mapping-state.ts';
export type { StoredSettingsVersion } from './settings-version.ts';
export type { WriteBackObjectKind, OutboxStatus, NewOutboxStep, OutboxRecord, BaselineRecord, NewWriteBackConflict, WriteBackConflictRecord } from './writeback.ts';
export { PRIMARY_DIRECTORY_ID } from './writeback.ts';
export { CHANGE_SOURCES, type CursorScope, type ChangeSource, type SyncCursor, type StoredDirectoryGroup } from './sync-cursor.ts';
