/**
 * Conversions between SQL rows (snake_case, 0/1 booleans on SQLite, JSON text) and the
 * camelCase records of `src/model/`. The only place that knows how values are encoded.
 */
import { DirbridgeError } from '../errors.ts';
import {
  type AuditEntry,
  type AvatarRecord,
  type ChannelRecord,
  emailKey,
  type GroupPatch,
  type GroupRecord,
  groupNameKey,
  type JsonValue,
  type NewAuditEntry,
  type NewGroup,
  type NewSession,
  type NewUser,
  type SessionRecord,
  SYNC_RUN_PHASES,
  type SyncCounts,
  type SyncRunProgress,
  type SyncRunRecord,
  type TeamRecord,
  type Timestamp,
  type UserPatch,
  type UserRecord,
  usernameKey,
} from '../model/index.ts';
import type { AuditLogTable, AvatarsTable, ChannelsTable, DbBoolean, GroupsTable, SessionsTable, SyncRunsTable, TeamsTable, UsersTable } from './schema.ts';
import type { StoreDialect } from './store.ts';

/** The user columns callers may see (everything but the password hash and the lookup keys). */
export const USER_COLUMNS = [
  'id',
  'username',
  'email',
  'first_name',
  'last_name',
  'display_name',
  'source',
  'external_id',
  'dn',
  'is_enabled',
  'disabled_by',
  'disabled_reason',
  'is_admin',
  'missing_runs',
  'notes',
  'created_at',
  'updated_at',
  'last_synced_at',
  'password_changed_at',
] as const;

/** A user row as selected with `USER_COLUMNS` plus `has_password`. */
export type UserSelectRow = Pick<UsersTable, (typeof USER_COLUMNS)[number]> & { has_password: DbBoolean };

/** Reads a boolean column (0/1 on SQLite, boolean on PostgreSQL). */
export function readBoolean(value: DbBoolean): boolean {
  return typeof value === 'boolean' ? value : value !== 0;
}

/** Encodes a boolean for the dialect's boolean column. */
export function writeBoolean(dialect: StoreDialect, value: boolean): DbBoolean {
  return dialect === 'sqlite' ? (value ? 1 : 0) : value;
}

/** Normalises a caller's timestamp to `Date#toISOString()` form; throws `usage.invalid` when unparseable. */
export function normalizeTimestamp(value: Timestamp, field: string): Timestamp {
  const time = Date.parse(value);
  if (Number.isNaN(time)) {
    throw new DirbridgeError('usage.invalid', `${field}: expected an ISO-8601 timestamp`, { details: { field } });
  }
  return new Date(time).toISOString();
}

/** Converts a selected user row to a record. */
export function toUserRecord(row: UserSelectRow): UserRecord {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    firstName: row.first_name,
    lastName: row.last_name,
    displayName: row.display_name,
    source: row.source,
    externalId: row.external_id,
    dn: row.dn,
    isEnabled: readBoolean(row.is_enabled),
    disabledBy: row.disabled_by,
    disabledReason: row.disabled_reason,
    isAdmin: readBoolean(row.is_admin),
    hasPassword: readBoolean(row.has_password),
    missingRuns: Number(row.missing_runs),
    notes: row.notes,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastSyncedAt: row.last_synced_at,
    passwordChangedAt: row.password_changed_at,
  };
}

/** Builds the full row for a new user. */
export function toNewUserRow(dialect: StoreDialect, user: NewUser, id: string, now: Timestamp): UsersTable {
  const email = user.email ?? null;
  return {
    id,
    username: user.username,
    username_key: usernameKey(user.username),
    email,
    email_key: email === null ? null : emailKey(email),
    first_name: user.firstName ?? '',
    last_name: user.lastName ?? '',
    display_name: user.displayName ?? null,
    source: user.source,
    external_id: user.externalId ?? null,
    dn: user.dn ?? null,
    is_enabled: writeBoolean(dialect, user.isEnabled ?? true),
    disabled_by: user.disabledBy ?? null,
    disabled_reason: user.disabledReason ?? null,
    is_admin: writeBoolean(dialect, user.isAdmin ?? false),
    password_hash: user.passwordHash ?? null,
    missing_runs: user.missingRuns ?? 0,
    notes: user.notes ?? null,
    created_at: now,
    updated_at: now,
    last_synced_at: user.lastSyncedAt == null ? null : normalizeTimestamp(user.lastSyncedAt, 'lastSyncedAt'),
    password_changed_at: user.passwordChangedAt == null ? null : normalizeTimestamp(user.passwordChangedAt, 'passwordChangedAt'),
  };
}

/** The record a freshly inserted row reads back as. */
export function newUserRowToRecord(row: UsersTable): UserRecord {
  return toUserRecord({ ...row, has_password: row.password_hash !== null });
}

/** The user columns a patch writes (lookup keys included); fields left undefined are not written. */
export function toUserPatchColumns(dialect: StoreDialect, patch: UserPatch): Partial<UsersTable> {
  const columns: Partial<UsersTable> = {};
  if (patch.username !== undefined) {
    columns.username = patch.username;
    columns.username_key = usernameKey(patch.username);
  }
  if (patch.email !== undefined) {
    columns.email = patch.email;
    columns.email_key = patch.email === null ? null : emailKey(patch.email);
  }
  if (patch.firstName !== undefined) columns.first_name = patch.firstName;
  if (patch.lastName !== undefined) columns.last_name = patch.lastName;
  if (patch.displayName !== undefined) columns.display_name = patch.displayName;
  if (patch.source !== undefined) columns.source = patch.source;
  if (patch.externalId !== undefined) columns.external_id = patch.externalId;
  if (patch.dn !== undefined) columns.dn = patch.dn;
  if (patch.isEnabled !== undefined) columns.is_enabled = writeBoolean(dialect, patch.isEnabled);
  if (patch.disabledBy !== undefined) columns.disabled_by = patch.disabledBy;
  if (patch.disabledReason !== undefined) columns.disabled_reason = patch.disabledReason;
  if (patch.isAdmin !== undefined) columns.is_admin = writeBoolean(dialect, patch.isAdmin);
  if (patch.passwordHash !== undefined) columns.password_hash = patch.passwordHash;
  if (patch.missingRuns !== undefined) columns.missing_runs = patch.missingRuns;
  if (patch.notes !== undefined) columns.notes = patch.notes;
  if (patch.lastSyncedAt !== undefined) {
    columns.last_synced_at = patch.lastSyncedAt === null ? null : normalizeTimestamp(patch.lastSyncedAt, 'lastSyncedAt');
  }
  if (patch.passwordChangedAt !== undefined) {
    columns.password_changed_at = patch.passwordChangedAt === null ? null : normalizeTimestamp(patch.passwordChangedAt, 'passwordChangedAt');
  }
  return columns;
}

/** The group columns callers may see. */
export const GROUP_COLUMNS = ['id', 'external_id', 'dn', 'name', 'source', 'created_at', 'updated_at'] as const;

/** A group row as selected with `GROUP_COLUMNS`. */
export type GroupSelectRow = Pick<GroupsTable, (typeof GROUP_COLUMNS)[number]>;

/** Converts a group row to a record. */
export function toGroupRecord(row: GroupSelectRow): GroupRecord {
  return {
    id: row.id,
    externalId: row.external_id,
    dn: row.dn,
    name: row.name,
    source: row.source,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Builds the full row for a new group. */
export function toNewGroupRow(group: NewGroup, id: string, now: Timestamp): GroupsTable {
  return {
    id,
    external_id: group.externalId ?? null,
    dn: group.dn ?? null,
    name: group.name,
    name_key: groupNameKey(group.name),
    source: group.source,
    created_at: now,
    updated_at: now,
  };
}

/** The group columns a patch writes. */
export function toGroupPatchColumns(patch: GroupPatch): Partial<GroupsTable> {
  const columns: Partial<GroupsTable> = {};
  if (patch.name !== undefined) {
    columns.name = patch.name;
    columns.name_key = groupNameKey(patch.name);
  }
  if (patch.source !== undefined) columns.source = patch.source;
  if (patch.externalId !== undefined) columns.external_id = patch.externalId;
  if (patch.dn !== undefined) columns.dn = patch.dn;
  return columns;
}

/** True when `value` is a JSON value (as `JSON.parse` produces). */
function isJsonValue(value: unknown): value is JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJsonValue);
  if (typeof value === 'object') return Object.values(value).every(isJsonValue);
  return false;
}

/** Parses a JSON text column; a malformed value is a store defect, reported as `store.corrupt`. */
function parseJsonColumn(text: string, column: string): JsonValue {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new DirbridgeError('store.corrupt', `column ${column} holds invalid JSON`, { cause, details: { column } });
  }
  if (!isJsonValue(value)) {
    throw new DirbridgeError('store.corrupt', `column ${column} holds invalid JSON`, { details: { column } });
  }
  return value;
}

/** Parses the `counts` column into name → number. */
function parseCounts(text: string): SyncCounts {
  const value = parseJsonColumn(text, 'sync_runs.counts');
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DirbridgeError('store.corrupt', 'column sync_runs.counts is not an object', { details: { column: 'sync_runs.counts' } });
  }
  const counts: SyncCounts = {};
  for (const [key, count] of Object.entries(value)) {
    if (typeof count !== 'number') {
      throw new DirbridgeError('store.corrupt', 'column sync_runs.counts holds a non-number', { details: { column: 'sync_runs.counts', key } });
    }
    counts[key] = count;
  }
  return counts;
}

/** Serialises counts, rejecting non-finite numbers (JSON would turn them into null). */
export function formatCounts(counts: SyncCounts): string {
  for (const [key, count] of Object.entries(counts)) {
    if (!Number.isFinite(count)) {
      throw new DirbridgeError('usage.invalid', `counts.${key}: expected a finite number`, { details: { key } });
    }
  }
  return JSON.stringify(counts);
}

/** Converts a sync run row to a record. */
export function toSyncRunRecord(row: SyncRunsTable): SyncRunRecord {
  return {
    id: row.id,
    trigger: row.trigger,
    isDryRun: readBoolean(row.is_dry_run),
    status: row.status,
    reason: row.reason,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    counts: parseCounts(row.counts),
    planSummary: row.plan_summary === null ? null : parseJsonColumn(row.plan_summary, 'sync_runs.plan_summary'),
    progress: row.progress === null ? null : parseProgress(row.progress),
    owner: row.owner,
    heartbeatAt: row.heartbeat_at,
    leaseExpiresAt: row.lease_expires_at,
    mode: row.mode ?? null,
    modeReason: row.mode_reason ?? null,
    entriesRead: row.entries_read === null || row.entries_read === undefined ? null : Number(row.entries_read),
  };
}

/** JSON text of a run's progress, as `runs.updateProgress` writes it. */
export function formatProgress(progress: Omit<SyncRunProgress, 'updatedAt'>, updatedAt: Timestamp): string {
  const { phase, usersRead, groupsRead, applied, applyTotal } = progress;
  if (!(SYNC_RUN_PHASES as readonly string[]).includes(phase))
    throw new DirbridgeError('usage.invalid', `progress.phase: unknown phase ${JSON.stringify(phase)}`);
  for (const [key, value] of Object.entries({ usersRead, groupsRead, applied, applyTotal })) {
    if (!Number.isInteger(value) || value < 0)
      throw new DirbridgeError('usage.invalid', `progress.${key}: expected a non-negative integer`, { details: { key } });
  }
  return JSON.stringify({ phase, usersRead, groupsRead, applied, applyTotal, updatedAt } satisfies SyncRunProgress);
}

/** Parses the `progress` column; anything but a progress object is a store defect. */
function parseProgress(text: string): SyncRunProgress {
  const value = parseJsonColumn(text, 'sync_runs.progress');
  const corrupt = () => new DirbridgeError('store.corrupt', 'column sync_runs.progress is not a run progress', { details: { column: 'sync_runs.progress' } });
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw corrupt();
  const { phase, usersRead, groupsRead, applied, applyTotal, updatedAt } = value;
  const phaseOf = SYNC_RUN_PHASES.find((candidate) => candidate === phase);
  if (phaseOf === undefined || typeof updatedAt !== 'string') throw corrupt();
  if (typeof usersRead !== 'number' || typeof groupsRead !== 'number' || typeof applied !== 'number' || typeof applyTotal !== 'number') throw corrupt();
  return { phase: phaseOf, usersRead, groupsRead, applied, applyTotal, updatedAt };
}

/** A SHA-256 digest, hex-encoded in lower case, as session token hashes are stored. */
const TOKEN_HASH = /^[0-9a-f]{64}$/;

/** Builds the row for a new session; rejects a `tokenHash` that is not a SHA-256 hex digest (a raw token must never be stored). */
export function toNewSessionRow(session: NewSession, id: string, now: Timestamp): SessionsTable {
  if (!TOKEN_HASH.test(session.tokenHash)) {
    throw new DirbridgeError('usage.invalid', 'tokenHash: expected the lower-case hex SHA-256 of the token', { details: { field: 'tokenHash' } });
  }
  return {
    id,
    user_id: session.userId,
    token_hash: session.tokenHash,
    created_at: now,
    expires_at: normalizeTimestamp(session.expiresAt, 'expiresAt'),
    last_seen_at: null,
    revoked_at: null,
    revoked_reason: null,
    client_address: session.clientAddress ?? null,
  };
}

/** The session columns callers may see (everything but the token hash). */
export const SESSION_COLUMNS = ['id', 'user_id', 'created_at', 'expires_at', 'last_seen_at', 'revoked_at', 'revoked_reason', 'client_address'] as const;

/** A session row as selected with `SESSION_COLUMNS`. */
export type SessionSelectRow = Pick<SessionsTable, (typeof SESSION_COLUMNS)[number]>;

/** Converts a session row to a record. */
export function toSessionRecord(row: SessionSelectRow): SessionRecord {
  return {
    id: row.id,
    userId: row.user_id,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastSeenAt: row.last_seen_at,
    revokedAt: row.revoked_at,
    revokedReason: row.revoked_reason,
    clientAddress: row.client_address,
  };
}

/** Serialises an audit entry's details; non-finite numbers are rejected (JSON would turn them into null). */
function formatDetails(details: JsonValue): string {
  return JSON.stringify(details, (key, value: unknown) => {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new DirbridgeError('usage.invalid', `details${key === '' ? '' : `.${key}`}: expected a finite number`, { details: { key } });
    }
    return value;
  });
}

/** Builds the row for a new audit entry (`at` defaults to `now`). */
export function toNewAuditRow(entry: NewAuditEntry, id: string, now: Timestamp): AuditLogTable {
  return {
    id,
    at: entry.at === undefined ? now : normalizeTimestamp(entry.at, 'at'),
    actor: entry.actor,
    action: entry.action,
    user_id: entry.userId ?? null,
    subject: entry.subject ?? null,
    reason: entry.reason ?? null,
    details: entry.details === undefined || entry.details === null ? null : formatDetails(entry.details),
  };
}

/** Converts an audit row to an entry. */
export function toAuditEntry(row: AuditLogTable): AuditEntry {
  return {
    id: row.id,
    at: row.at,
    actor: row.actor,
    action: row.action,
    userId: row.user_id,
    subject: row.subject,
    reason: row.reason,
    details: row.details === null ? null : parseJsonColumn(row.details, 'audit_log.details'),
  };
}

/** The case-insensitive key under which channel and team names are unique, searched and ordered. */
export function mappingNameKey(name: string): string {
  return groupNameKey(name);
}

/** The channel columns callers may see. */
export const CHANNEL_COLUMNS = ['id', 'name', 'owner_username', 'source', 'created_at'] as const;

/** A channel row as selected with `CHANNEL_COLUMNS`. */
export type ChannelSelectRow = Pick<ChannelsTable, (typeof CHANNEL_COLUMNS)[number]>;

/** Converts a channel row to a record. */
export function toChannelRecord(row: ChannelSelectRow): ChannelRecord {
  return { id: row.id, name: row.name, ownerUsername: row.owner_username, source: row.source, createdAt: row.created_at };
}

/** The team columns callers may see. */
export const TEAM_COLUMNS = ['id', 'name', 'source', 'created_at'] as const;

/** A team row as selected with `TEAM_COLUMNS`. */
export type TeamSelectRow = Pick<TeamsTable, (typeof TEAM_COLUMNS)[number]>;

/** Converts a team row to a record. */
export function toTeamRecord(row: TeamSelectRow): TeamRecord {
  return { id: row.id, name: row.name, source: row.source, createdAt: row.created_at };
}

/** Reads a BLOB/BYTEA column as a Buffer (both drivers return Buffers; a plain Uint8Array is wrapped without copying). */
function readBytes(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** Converts an avatar row to a record. */
export function toAvatarRecord(row: AvatarsTable): AvatarRecord {
  return { userId: row.user_id, contentHash: row.content_hash, mimeType: row.mime_type, data: readBytes(row.data), updatedAt: row.updated_at };
}

/** Groups custom-field rows (ordered by user) into one record per user, in first-seen user order. */
export function groupCustomFields(
  rows: ReadonlyArray<{ user_id: string; field: string; value: string }>,
): Array<{ userId: string; fields: Record<string, string> }> {
  const byUser = new Map<string, Array<[string, string]>>();
  for (const row of rows) {
    const entries = byUser.get(row.user_id);
    if (entries === undefined) byUser.set(row.user_id, [[row.field, row.value]]);
    else entries.push([row.field, row.value]);
  }
  // Object.fromEntries defines own properties, so a field named "__proto__" stays a field.
  return [...byUser].map(([userId, entries]) => ({ userId, fields: Object.fromEntries(entries) }));
}

/** Groups ABAC rows (ordered by user, attribute, position) into one record per user, values in order. */
export function groupAbacAttributes(
  rows: ReadonlyArray<{ user_id: string; attribute: string; value: string }>,
): Array<{ userId: string; attributes: Record<string, string[]> }> {
  const byUser = new Map<string, Map<string, string[]>>();
  for (const row of rows) {
    let attributes = byUser.get(row.user_id);
    if (attributes === undefined) {
      attributes = new Map();
      byUser.set(row.user_id, attributes);
    }
    const values = attributes.get(row.attribute);
    if (values === undefined) attributes.set(row.attribute, [row.value]);
    else values.push(row.value);
  }
  return [...byUser].map(([userId, attributes]) => ({ userId, attributes: Object.fromEntries(attributes) }));
}
