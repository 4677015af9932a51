/**
 * The Kysely `Database` type: table and column names exactly as they are in SQL.
 * Rows are converted to the camelCase records of `src/model/` in `rows.ts`.
 */
import type { DisabledBy, RecordSource, SyncMode, SyncRunStatus, SyncTrigger, Timestamp } from '../model/index.ts';

/** A boolean column: INTEGER 0/1 on SQLite, BOOLEAN on PostgreSQL. */
export type DbBoolean = number | boolean;

/** The `users` table. */
export interface UsersTable {
  id: string;
  username: string;
  /** `usernameKey(username)`; unique. */
  username_key: string;
  email: string | null;
  /** `emailKey(email)`; indexed, not unique. */
  email_key: string | null;
  first_name: string;
  last_name: string;
  display_name: string | null;
  source: RecordSource;
  external_id: string | null;
  dn: string | null;
  is_enabled: DbBoolean;
  disabled_by: DisabledBy | null;
  disabled_reason: string | null;
  is_admin: DbBoolean;
  password_hash: string | null;
  missing_runs: number;
  /** Free text kept by administrators (migration 0002). */
  notes: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  last_synced_at: Timestamp | null;
  /** When the directory last changed the password, as last seen (migration 0009); NULL before. */
  password_changed_at: Timestamp | null;
}

/** The `groups` table. */
export interface GroupsTable {
  id: string;
  external_id: string | null;
  dn: string | null;
  name: string;
  /** `groupNameKey(name)`: case-insensitive search and ordering; not unique. */
  name_key: string;
  source: RecordSource;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** The `memberships` table. */
export interface MembershipsTable {
  user_id: string;
  group_id: string;
}

/** The `sync_runs` table. */
export interface SyncRunsTable {
  id: string;
  trigger: SyncTrigger;
  is_dry_run: DbBoolean;
  status: SyncRunStatus;
  reason: string | null;
  error_code: string | null;
  error_message: string | null;
  started_at: Timestamp;
  finished_at: Timestamp | null;
  duration_ms: number | null;
  /** JSON text of `SyncCounts`. */
  counts: string;
  /** JSON text, or null. */
  plan_summary: string | null;
  /** JSON text of `SyncRunProgress` while running (migration 0005), else null. */
  progress: string | null;
  /** The instance running it (migration 0008); null for runs of earlier versions. */
  owner: string | null;
  /** When the owner last renewed the lease, by the database's clock (migration 0008). */
  heartbeat_at: Timestamp | null;
  /** Until when a running run counts as alive, by the database's clock (migration 0008). */
  lease_expires_at: Timestamp | null;
  /** `full` / `incremental` (migration 0013); null until known and for earlier runs. */
  mode: SyncMode | null;
  mode_reason: string | null;
  entries_read: number | null;
}

/** The `sessions` table (migration 0002); rows go with their user (ON DELETE CASCADE). */
export interface SessionsTable {
  id: string;
  user_id: string;
  /** SHA-256 of the token, lower-case hex; unique. */
  token_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  last_seen_at: Timestamp | null;
  revoked_at: Timestamp | null;
  revoked_reason: string | null;
  client_address: string | null;
}

/** The `audit_log` table (migration 0002). `user_id` is deliberately not a foreign key: entries outlive their user. */
export interface AuditLogTable {
  /** A time-ordered UUID (version 7), so entries with the same `at` keep their insertion order. */
  id: string;
  at: Timestamp;
  actor: string;
  action: string;
  user_id: string | null;
  subject: string | null;
  reason: string | null;
  /** JSON text, or null. */
  details: string | null;
}

/** The `login_failures` table (migrations 0002, 0007): one row per login attempt per throttle key. */
export interface LoginFailuresTable {
  id: string;
  failure_key: string;
  /** When the attempt was reserved. */
  at: Timestamp;
  /** The attempt the row belongs to (null for rows written before 0007). */
  attempt_id: string | null;
  /** `pending` until the attempt is settled, then `failed` (released attempts are deleted). */
  status: 'pending' | 'failed';
  /** When the attempt became `failed`. */
  settled_at: Timestamp | null;
}

/** The `login_known_addresses` table (migration 0007): where each throttle subject last signed in. */
export interface LoginKnownAddressesTable {
  subject_key: string;
  address: string;
  last_success_at: Timestamp;
}

/** The `user_roles` table (migration 0003): one row per role granted to a user. */
export interface UserRolesTable {
  user_id: string;
  role: string;
}

/** The `channels` table (migration 0003). */
export interface ChannelsTable {
  id: string;
  name: string;
  /** `mappingNameKey(name)`; unique. */
  name_key: string;
  owner_username: string | null;
  source: RecordSource;
  created_at: Timestamp;
}

/** The `channel_members` table (migration 0003). */
export interface ChannelMembersTable {
  channel_id: string;
  user_id: string;
}

/** The `teams` table (migration 0003). */
export interface TeamsTable {
  id: string;
  name: string;
  /** `mappingNameKey(name)`; unique. */
  name_key: string;
  source: RecordSource;
  created_at: Timestamp;
}

/** The `team_members` table (migration 0003). */
export interface TeamMembersTable {
  team_id: string;
  user_id: string;
}

/** The `user_custom_fields` table (migration 0003). */
export interface UserCustomFieldsTable {
  user_id: string;
  field: string;
  value: string;
}

/** The `user_abac_attributes` table (migration 0003): one row per value, `position` its index. */
export interface UserAbacAttributesTable {
  user_id: string;
  attribute: string;
  value: string;
  position: number;
}

/** The `avatars` table (migration 0003): BLOB on SQLite, BYTEA on PostgreSQL. */
export interface AvatarsTable {
  user_id: string;
  content_hash: string;
  mime_type: string;
  data: Buffer;
  updated_at: Timestamp;
}

/** All tables of the store. */
/** One saved version of the settings document (migration 0004). */
export interface SettingsVersionsTable {
  version: number;
  /** JSON text; secret values are sealed. */
  document: string;
  created_at: Timestamp;
  created_by: string;
}

/** The `oidc_payloads` table (migration 0012): oidc-provider's persisted models, by model name and id. */
export interface OidcPayloadsTable {
  model: string;
  id: string;
  /** JSON text of the model's payload. */
  payload: string;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  expires_at: Timestamp | null;
  consumed_at: Timestamp | null;
}

/** The `oidc_clients` table (migration 0012): registered relying parties. */
export interface OidcClientsTable {
  id: string;
  name: string;
  /** SHA-256 of the secret, lower-case hex; null for a public client. */
  secret_hash: string | null;
  is_public: DbBoolean;
  is_first_party: DbBoolean;
  /** JSON text: string[]. */
  redirect_uris: string;
  /** JSON text: string[]. */
  post_logout_redirect_uris: string;
  backchannel_logout_uri: string | null;
  /** JSON text: group names (string[]); empty means every user. */
  allowed_groups: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** The `oidc_signing_keys` table (migration 0012): sealed private JWKs. */
export interface OidcSigningKeysTable {
  kid: string;
  sealed_jwk: string;
  created_at: Timestamp;
  retired_at: Timestamp | null;
}

/** The `writeback_outbox` table (migration 0011). */
export interface WriteBackOutboxTable {
  id: string;
  directory_id: string;
  action_id: string;
  seq: number;
  step_kind: string;
  subject: string;
  object_kind: 'user' | 'group';
  object_id: string;
  /** JSON text: a DirectoryChange. */
  change: string;
  reason: string;
  actor: string;
  status: 'pending' | 'failed' | 'done';
  attempts: number;
  next_attempt_at: Timestamp;
  last_error_code: string | null;
  last_error: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** The `writeback_baselines` table (migration 0011). */
export interface WriteBackBaselinesTable {
  directory_id: string;
  object_kind: 'user' | 'group';
  object_id: string;
  field: string;
  /** JSON text: string[]. */
  baseline: string;
  change_marker: string | null;
  updated_at: Timestamp;
}

/** The `writeback_conflicts` table (migration 0011). */
export interface WriteBackConflictsTable {
  id: string;
  directory_id: string;
  object_kind: 'user' | 'group';
  object_id: string;
  subject: string;
  field: string;
  winner: 'directory' | 'dirbridge';
  /** JSON text: string[] each. */
  directory_value: string;
  dirbridge_value: string;
  baseline: string;
  created_at: Timestamp;
  resolved_at: Timestamp | null;
  resolved_by: string | null;
  resolution: 'keep' | 'restore' | null;
}

export interface Database {
  users: UsersTable;
  groups: GroupsTable;
  memberships: MembershipsTable;
  sync_runs: SyncRunsTable;
  sessions: SessionsTable;
  audit_log: AuditLogTable;
  login_failures: LoginFailuresTable;
  login_known_addresses: LoginKnownAddressesTable;
  user_roles: UserRolesTable;
  channels: ChannelsTable;
  channel_members: ChannelMembersTable;
  teams: TeamsTable;
  team_members: TeamMembersTable;
  user_custom_fields: UserCustomFieldsTable;
  user_abac_attributes: UserAbacAttributesTable;
  avatars: AvatarsTable;
  settings_versions: SettingsVersionsTable;
  oidc_payloads: OidcPayloadsTable;
  oidc_clients: OidcClientsTable;
  oidc_signing_keys: OidcSigningKeysTable;
  writeback_outbox: WriteBackOutboxTable;
  writeback_baselines: WriteBackBaselinesTable;
  writeback_conflicts: WriteBackConflictsTable;
  sync_cursors: SyncCursorsTable;
  directory_groups: DirectoryGroupsTable;
}

/** The `sync_cursors` table (migration 0013): one change feed position per directory and scope. */
export interface SyncCursorsTable {
  directory_id: string;
  scope: string;
  source: string;
  position: string | null;
  server_identity: string | null;
  settings_fingerprint: string;
  updated_at: Timestamp;
}

/** The `directory_groups` table (migration 0013): group entries as last read, JSON of `MappedGroup`. */
export interface DirectoryGroupsTable {
  directory_id: string;
  external_id: string;
  content: string;
  content_hash: string;
}
