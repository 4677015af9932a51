/**
 * The Kysely `Database` type: table and column names exactly as they are in SQL.
 * Rows are converted to the camelCase records of `store.ts` in `rows.ts`.
 */
import type { DisabledBy, RecordSource, SyncRunStatus, SyncTrigger, Timestamp } from './store.ts';

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
  created_at: Timestamp;
  updated_at: Timestamp;
  last_synced_at: Timestamp | null;
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
}

/** All tables of the store. */
export interface Database {
  users: UsersTable;
  groups: GroupsTable;
  memberships: MembershipsTable;
  sync_runs: SyncRunsTable;
}
