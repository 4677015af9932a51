/**
 * Users: listing and lookups, and (inside a transaction) inserts, batched updates, deletes,
 * sync marks and password change times.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import {
  emailKey,
  type NewUser,
  type PageQuery,
  type RecordSource,
  type Timestamp,
  USER_STATES,
  type UserPage,
  type UserPatch,
  type UserRecord,
  type UserState,
  usernameKey,
} from '../model/index.ts';
import { type ColumnKind, chunk, rowsPerStatement, updateRowsById } from './batch.ts';
import { withDbErrors } from './db-errors.ts';
import { selectUsers } from './linked-users.ts';
import { checkPage, containsPattern } from './page.ts';
import { mergePatches, toRowUpdate } from './patches.ts';
import type { RepositoryContext } from './repository-context.ts';
import { newUserRowToRecord, normalizeTimestamp, toNewUserRow, toUserPatchColumns, toUserRecord, writeBoolean } from './rows.ts';
import type { Database } from './schema.ts';
import { claimPatchedExternalIds, claimUnique, reportMissing } from './unique-columns.ts';

/** Reads of users, on the store and inside a transaction. */
export interface UserReader {
  /**
   * Lists users ordered by username; `search` matches username, email and names case-insensitively;
   * `state` keeps enabled (`active`) or disabled users (all when absent).
   */
  list(query: PageQuery & { search?: string; source?: RecordSource; isAdmin?: boolean; state?: UserState }): Promise<UserPage>;
  get(id: string): Promise<UserRecord | undefined>;
  /** Finds a user by username, case-insensitively. */
  findByUsername(username: string): Promise<UserRecord | undefined>;
  findByExternalId(externalId: string): Promise<UserRecord | undefined>;
  /** Finds a user by email, case-insensitively; throws `store.ambiguous` when several users share it. */
  findByEmail(email: string): Promise<UserRecord | undefined>;
  /** Returns the password hash of a user (null when it has none); throws `store.not_found` for an unknown id. */
  getPasswordHash(userId: string): Promise<string | null>;
}

/** Writes of users, available only inside `Store.transaction`. */
export interface UserWriter extends UserReader {
  /** Inserts users in multi-row statements; throws `store.conflict` naming a taken username or external id. */
  insert(users: NewUser[]): Promise<UserRecord[]>;
  /**
   * Applies partial updates in batches. Usernames and external ids may rotate among the
   * patched users (A→B, B→A); a clash with any other user throws `store.conflict`.
   * An unknown id throws `store.not_found`.
   */
  update(patches: Array<{ id: string } & UserPatch>): Promise<void>;
  /** Deletes users and (by cascade) their memberships; unknown ids are ignored. */
  delete(ids: string[]): Promise<void>;
  /**
   * Sets `lastSyncedAt` of the listed users to `at` (a sync saw them), in a few statements and
   * without touching `updatedAt` or any other column; unknown ids are ignored.
   */
  markSynced(ids: readonly string[], at: Timestamp): Promise<void>;
  /**
   * Records password change times, each only where the user's stored value is still `from`
   * (compare-and-set, so a login or another run that recorded the change first wins and nothing is
   * done twice); returns the ids of the users whose value this call changed. Unknown ids are ignored.
   */
  recordPasswordChanges(changes: ReadonlyArray<{ userId: string; from: Timestamp | null; to: Timestamp }>): Promise<string[]>;
}

/**
 * The condition of each user state. Literals, not bound parameters: `is_enabled = false` is the
 * predicate of the partial index users_disabled_username_idx, which only a literal matches.
 */
const USER_STATE_CONDITIONS: Readonly<Record<UserState, RawBuilder<boolean>>> = {
  active: sql<boolean>`is_enabled = true`,
  disabled: sql<boolean>`is_enabled = false`,
};

/** The condition for `state`, or undefined for every user; an unknown state is `usage.invalid`. */
function userStateCondition(state: UserState | undefined): RawBuilder<boolean> | undefined {
  if (state === undefined) return undefined;
  if (!Object.hasOwn(USER_STATE_CONDITIONS, state)) {
    throw new DirbridgeError('usage.invalid', `state must be one of ${USER_STATES.join(', ')}`, { details: { state } });
  }
  return USER_STATE_CONDITIONS[state];
}

/** Columns `update` may write, with the type they are cast to in the batched update. */
const USER_UPDATE_KINDS: Readonly<Record<string, ColumnKind>> = {
  username: 'text',
  username_key: 'text',
  email: 'text',
  email_key: 'text',
  first_name: 'text',
  last_name: 'text',
  display_name: 'text',
  source: 'text',
  external_id: 'text',
  dn: 'text',
  is_enabled: 'boolean',
  disabled_by: 'text',
  disabled_reason: 'text',
  is_admin: 'boolean',
  password_hash: 'text',
  missing_runs: 'integer',
  notes: 'text',
  last_synced_at: 'text',
  password_changed_at: 'text',
};

/** The user reads over `db` (the database, or a transaction). */
export function createUserReader(db: Kysely<Database>, ctx: RepositoryContext): UserReader {
  const { dialect } = ctx;
  const findOne = async (column: 'id' | 'username_key' | 'external_id', value: string): Promise<UserRecord | undefined> => {
    const row = await selectUsers(db).where(column, '=', value).executeTakeFirst();
    return row === undefined ? undefined : toUserRecord(row);
  };

  return {
    list: (query) =>
      withDbErrors('list users', async () => {
        checkPage(query);
        const pattern = query.search === undefined || query.search === '' ? undefined : containsPattern(query.search);
        const source: RecordSource | undefined = query.source;
        const state = userStateCondition(query.state);
        const whereSearch = () => {
          const conditions = [];
          if (pattern !== undefined) {
            conditions.push(
              sql<boolean>`(username_key like ${pattern} escape '\\' or email_key like ${pattern} escape '\\' or lower(first_name) like ${pattern} escape '\\' or lower(last_name) like ${pattern} escape '\\' or lower(display_name) like ${pattern} escape '\\')`,
            );
          }
          if (source !== undefined) conditions.push(sql<boolean>`source = ${source}`);
          if (query.isAdmin !== undefined) conditions.push(sql<boolean>`is_admin = ${writeBoolean(dialect, query.isAdmin)}`);
          if (state !== undefined) conditions.push(state);
          return conditions.length === 0 ? sql<boolean>`1 = 1` : sql<boolean>`${sql.join(conditions, sql` and `)}`;
        };
        const total = await db
          .selectFrom('users')
          .select((eb) => eb.fn.countAll().as('total'))
          .where(whereSearch())
          .executeTakeFirstOrThrow();
        const rows = await selectUsers(db).where(whereSearch()).orderBy('username_key').orderBy('id').limit(query.limit).offset(query.offset).execute();
        return { total: Number(total.total), users: rows.map(toUserRecord) };
      }),

    get: (id) => withDbErrors('read a user', () => findOne('id', id)),
    findByUsername: (username) => withDbErrors('find a user by username', () => findOne('username_key', usernameKey(username))),
    findByExternalId: (externalId) => withDbErrors('find a user by external id', () => findOne('external_id', externalId)),
    findByEmail: (email) =>
      withDbErrors('find a user by email', async () => {
        const rows = await selectUsers(db).where('email_key', '=', emailKey(email)).orderBy('id').limit(2).execute();
        if (rows.length > 1) {
          throw new DirbridgeError('store.ambiguous', `several users have the email "${email}"`, { details: { email } });
        }
        const row = rows[0];
        return row === undefined ? undefined : toUserRecord(row);
      }),

    getPasswordHash: (userId) =>
      withDbErrors('read a password hash', async () => {
        const row = await db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirst();
        if (row === undefined) throw new DirbridgeError('store.not_found', 'no such user', { details: { userId } });
        return row.password_hash;
      }),
  };
}

/** The user reads and writes over a transaction. */
export function createUserWriter(db: Kysely<Database>, ctx: RepositoryContext): UserWriter {
  const { dialect } = ctx;
  return {
    ...createUserReader(db, ctx),

    insert: (users: NewUser[]) =>
      withDbErrors('insert users', async () => {
        if (users.length === 0) return [];
        const now = ctx.now();
        const rows = users.map((user) => toNewUserRow(dialect, user, randomUUID(), now));
        const noOneMoves = new Set<string>();
        await claimUnique(
          db,
          dialect,
          'users',
          'username_key',
          'username',
          rows.map((row) => ({ id: row.id, value: row.username_key, label: row.username })),
          noOneMoves,
        );
        await claimUnique(
          db,
          dialect,
          'users',
          'external_id',
          'external id',
          rows.flatMap((row) => (row.external_id === null ? [] : [{ id: row.id, value: row.external_id, label: row.external_id }])),
          noOneMoves,
        );
        const columnCount = Object.keys(rows[0] ?? {}).length;
        for (const part of chunk(rows, rowsPerStatement(dialect, columnCount))) {
          await db.insertInto('users').values(part).execute();
        }
        return rows.map(newUserRowToRecord);
      }),

    update: (patches: Array<{ id: string } & UserPatch>) =>
      withDbErrors('update users', async () => {
        if (patches.length === 0) return;
        const updates = mergePatches(patches).map((patch) => ({ id: patch.id, columns: toUserPatchColumns(dialect, patch) }));

        const renamed = updates.filter((update) => update.columns.username_key !== undefined);
        await claimUnique(
          db,
          dialect,
          'users',
          'username_key',
          'username',
          renamed.map((update) => ({ id: update.id, value: update.columns.username_key ?? '', label: update.columns.username ?? '' })),
          new Set(renamed.map((update) => update.id)),
        );
        await claimPatchedExternalIds(db, dialect, 'users', 'external id', updates);

        const count = await updateRowsById(
          db,
          dialect,
          'users',
          USER_UPDATE_KINDS,
          updates.map((update) => toRowUpdate(update.id, update.columns)),
          ctx.now(),
        );
        if (count !== updates.length)
          await reportMissing(
            db,
            dialect,
            'users',
            updates.map((update) => update.id),
          );
      }),

    markSynced: (ids, at) =>
      withDbErrors('mark users synced', async () => {
        const syncedAt = normalizeTimestamp(at, 'lastSyncedAt');
        for (const part of chunk([...new Set(ids)], rowsPerStatement(dialect, 1, 1))) {
          await db.updateTable('users').set({ last_synced_at: syncedAt }).where('id', 'in', part).execute();
        }
      }),

    delete: (ids: string[]) =>
      withDbErrors('delete users', async () => {
        for (const part of chunk([...new Set(ids)], rowsPerStatement(dialect, 1))) {
          await db.deleteFrom('users').where('id', 'in', part).execute();
        }
      }),

    recordPasswordChanges: (changes) =>
      withDbErrors('record password changes', async () => {
        const recorded: string[] = [];
        const rows = changes.map((change) => ({
          id: change.userId,
          from: change.from === null ? null : normalizeTimestamp(change.from, 'from'),
          to: normalizeTimestamp(change.to, 'to'),
        }));
        for (const part of chunk(rows, rowsPerStatement(dialect, 3))) {
          if (part.length === 0) continue;
          const values = sql.join(
            part.map((row) => sql`(${sql.join([sql`cast(${row.id} as text)`, sql`cast(${row.from} as text)`, sql`cast(${row.to} as text)`])})`),
          );
          // The stored value must still be `from` (both NULL counts as equal): a concurrent writer that got there first wins.
          const result = await sql<{ id: string }>`with v(id, from_at, to_at) as (values ${values})
            update users set password_changed_at = v.to_at from v
            where users.id = v.id and (users.password_changed_at = v.from_at or (users.password_changed_at is null and v.from_at is null))
            returning users.id`.execute(db);
          recorded.push(...result.rows.map((row) => row.id));
        }
        return recorded;
      }),
  };
}
