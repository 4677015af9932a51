/**
 * The one store implementation, on Kysely, for SQLite and PostgreSQL alike. Dialect
 * differences are confined to value encoding (`rows.ts`), parameter limits (`batch.ts`)
 * and the migration's column types.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import { chunk, rowsPerStatement, updateRowsById, type ColumnKind, type ColumnValue, type RowUpdate } from './batch.ts';
import { withDbErrors } from './db-errors.ts';
import { orderedUuid } from './ordered-id.ts';
import {
  formatCounts,
  GROUP_COLUMNS,
  newUserRowToRecord,
  normalizeTimestamp,
  SESSION_COLUMNS,
  toAuditEntry,
  toGroupPatchColumns,
  toGroupRecord,
  toNewAuditRow,
  toNewGroupRow,
  toNewSessionRow,
  toNewUserRow,
  toSessionRecord,
  toSyncRunRecord,
  toUserPatchColumns,
  toUserRecord,
  USER_COLUMNS,
  writeBoolean,
} from './rows.ts';
import type { Database, DbBoolean, GroupsTable, UsersTable } from './schema.ts';
import {
  emailKey,
  usernameKey,
  type GroupPatch,
  type GroupRecord,
  type MembershipPair,
  type NewGroup,
  type NewUser,
  type PageQuery,
  type RecordSource,
  type SessionRecord,
  type Store,
  type StoreDialect,
  type StoreReader,
  type StoreWriter,
  type SyncRunOutcome,
  type SyncRunRecord,
  type UserPatch,
  type UserRecord,
} from './store.ts';
import { planUniqueClaims, type UniqueClaim, type UniqueHolder } from './unique-claims.ts';

/** Options for `createKyselyStore`. */
export interface KyselyStoreOptions {
  /** The clock for timestamps; tests pass a fixed one. */
  now?: () => Date;
}

/** What the reader and writer share. */
interface Context {
  dialect: StoreDialect;
  now: () => string;
}

/** Columns `updateUsers` may write, with the type they are cast to in the batched update. */
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
};

/** Columns `updateGroups` may write. */
const GROUP_UPDATE_KINDS: Readonly<Record<string, ColumnKind>> = {
  name: 'text',
  name_key: 'text',
  source: 'text',
  external_id: 'text',
  dn: 'text',
};

/** Prefix of the parking value a username key holds while usernames rotate within one batch. */
const PARKED_KEY_PREFIX = '\u0001';

/** Escapes LIKE wildcards so `search` matches literally (used with `escape '\'`). */
function containsPattern(search: string): string {
  return `%${search.toLowerCase().replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

/** Rejects page arguments that would produce surprising SQL. */
function checkPage(page: PageQuery): void {
  if (!Number.isSafeInteger(page.limit) || page.limit < 0 || !Number.isSafeInteger(page.offset) || page.offset < 0) {
    throw new DirbridgeError('usage.invalid', 'limit and offset must be non-negative integers', { details: { ...page } });
  }
}

/** Copies the defined values of a column set into a batched-update row. */
function toRowUpdate(id: string, columns: Partial<UsersTable> | Partial<GroupsTable>): RowUpdate {
  const values: Record<string, ColumnValue> = {};
  for (const [column, value] of Object.entries(columns)) {
    if (value !== undefined) values[column] = value;
  }
  return { id, columns: values };
}

/** Merges patches addressed to the same id (later fields win), keeping first-seen order. */
function mergePatches<P extends { id: string }>(patches: readonly P[]): P[] {
  const merged = new Map<string, P>();
  for (const patch of patches) {
    const earlier = merged.get(patch.id);
    merged.set(patch.id, earlier === undefined ? patch : { ...earlier, ...patch });
  }
  return [...merged.values()];
}

/** Orders membership pairs by (userId, groupId), the primary key's order. */
function comparePairs(a: MembershipPair, b: MembershipPair): number {
  if (a.userId !== b.userId) return a.userId < b.userId ? -1 : 1;
  if (a.groupId !== b.groupId) return a.groupId < b.groupId ? -1 : 1;
  return 0;
}

/** Distinct strings, in first-seen order. */
function distinct(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function createReader(db: Kysely<Database>, ctx: Context): StoreReader {
  const { dialect } = ctx;
  const selectUsers = () =>
    db
      .selectFrom('users')
      .select(USER_COLUMNS)
      .select(sql<DbBoolean>`(password_hash is not null)`.as('has_password'));

  const selectGroups = () => db.selectFrom('groups').select(GROUP_COLUMNS);

  const findOneUser = async (column: 'id' | 'username_key' | 'external_id', value: string): Promise<UserRecord | undefined> => {
    const row = await selectUsers().where(column, '=', value).executeTakeFirst();
    return row === undefined ? undefined : toUserRecord(row);
  };

  return {
    loadSyncState: () =>
      withDbErrors('load the sync state', async () => {
        const [users, groups, memberships] = [
          await selectUsers().execute(),
          await selectGroups().execute(),
          // Aliased in SQL so the driver's row objects are returned as they are (500k rows: no second copy).
          await db.selectFrom('memberships').select(['user_id as userId', 'group_id as groupId']).execute(),
        ];
        return { users: users.map(toUserRecord), groups: groups.map(toGroupRecord), memberships };
      }),

    listUsers: (query) =>
      withDbErrors('list users', async () => {
        checkPage(query);
        const pattern = query.search === undefined || query.search === '' ? undefined : containsPattern(query.search);
        const source: RecordSource | undefined = query.source;
        const whereSearch = () => {
          const conditions = [];
          if (pattern !== undefined) {
            conditions.push(
              sql<boolean>`(username_key like ${pattern} escape '\\' or email_key like ${pattern} escape '\\' or lower(first_name) like ${pattern} escape '\\' or lower(last_name) like ${pattern} escape '\\' or lower(display_name) like ${pattern} escape '\\')`,
            );
          }
          if (source !== undefined) conditions.push(sql<boolean>`source = ${source}`);
          if (query.isAdmin !== undefined) conditions.push(sql<boolean>`is_admin = ${writeBoolean(dialect, query.isAdmin)}`);
          return conditions.length === 0 ? sql<boolean>`1 = 1` : sql<boolean>`${sql.join(conditions, sql` and `)}`;
        };
        const total = await db
          .selectFrom('users')
          .select((eb) => eb.fn.countAll().as('total'))
          .where(whereSearch())
          .executeTakeFirstOrThrow();
        const rows = await selectUsers()
          .where(whereSearch())
          .orderBy('username_key')
          .orderBy('id')
          .limit(query.limit)
          .offset(query.offset)
          .execute();
        return { total: Number(total.total), users: rows.map(toUserRecord) };
      }),

    getUser: (id) => withDbErrors('read a user', () => findOneUser('id', id)),
    findUserByUsername: (username) => withDbErrors('find a user by username', () => findOneUser('username_key', usernameKey(username))),
    findUserByExternalId: (externalId) => withDbErrors('find a user by external id', () => findOneUser('external_id', externalId)),
    findUserByEmail: (email) =>
      withDbErrors('find a user by email', async () => {
        const rows = await selectUsers().where('email_key', '=', emailKey(email)).orderBy('id').limit(2).execute();
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

    listGroups: (query) =>
      withDbErrors('list groups', async () => {
        checkPage(query);
        const pattern = query.search === undefined || query.search === '' ? undefined : containsPattern(query.search);
        const whereSearch = () => (pattern === undefined ? sql<boolean>`1 = 1` : sql<boolean>`name_key like ${pattern} escape '\\'`);
        const total = await db
          .selectFrom('groups')
          .select((eb) => eb.fn.countAll().as('total'))
          .where(whereSearch())
          .executeTakeFirstOrThrow();
        const rows = await selectGroups()
          .select((eb) =>
            eb
              .selectFrom('memberships')
              .select(eb.fn.countAll().as('count'))
              .whereRef('memberships.group_id', '=', 'groups.id')
              .as('member_count'),
          )
          .where(whereSearch())
          .orderBy('name_key')
          .orderBy('id')
          .limit(query.limit)
          .offset(query.offset)
          .execute();
        return {
          total: Number(total.total),
          groups: rows.map((row) => ({ ...toGroupRecord(row), memberCount: Number(row.member_count ?? 0) })),
        };
      }),

    getGroup: (id) =>
      withDbErrors('read a group', async () => {
        const row = await selectGroups().where('id', '=', id).executeTakeFirst();
        return row === undefined ? undefined : toGroupRecord(row);
      }),

    findGroupByExternalId: (externalId) =>
      withDbErrors('find a group by external id', async () => {
        const row = await selectGroups().where('external_id', '=', externalId).executeTakeFirst();
        return row === undefined ? undefined : toGroupRecord(row);
      }),

    listGroupMembers: (groupId, page) =>
      withDbErrors('list group members', async () => {
        checkPage(page);
        const total = await db
          .selectFrom('memberships')
          .select((eb) => eb.fn.countAll().as('total'))
          .where('group_id', '=', groupId)
          .executeTakeFirstOrThrow();
        const rows = await selectUsers()
          .innerJoin('memberships', 'memberships.user_id', 'users.id')
          .where('memberships.group_id', '=', groupId)
          .orderBy('users.username_key')
          .orderBy('users.id')
          .limit(page.limit)
          .offset(page.offset)
          .execute();
        return { total: Number(total.total), users: rows.map(toUserRecord) };
      }),

    listUserGroups: (userId) =>
      withDbErrors('list user groups', async () => {
        const rows = await selectGroups()
          .innerJoin('memberships', 'memberships.group_id', 'groups.id')
          .where('memberships.user_id', '=', userId)
          .orderBy('groups.name_key')
          .orderBy('groups.id')
          .execute();
        return rows.map(toGroupRecord);
      }),

    findSessionByTokenHash: (tokenHash) =>
      withDbErrors('find a session', async () => {
        const row = await db.selectFrom('sessions').select(SESSION_COLUMNS).where('token_hash', '=', tokenHash).executeTakeFirst();
        return row === undefined ? undefined : toSessionRecord(row);
      }),

    listSessions: (query) =>
      withDbErrors('list sessions', async () => {
        checkPage(query);
        const now = query.now === undefined ? ctx.now() : normalizeTimestamp(query.now, 'now');
        const conditions = [];
        if (query.userId !== undefined) conditions.push(sql<boolean>`sessions.user_id = ${query.userId}`);
        if (query.isActive === true) conditions.push(sql<boolean>`(sessions.revoked_at is null and sessions.expires_at > ${now})`);
        if (query.isActive === false) conditions.push(sql<boolean>`(sessions.revoked_at is not null or sessions.expires_at <= ${now})`);
        const where = conditions.length === 0 ? sql<boolean>`1 = 1` : sql<boolean>`${sql.join(conditions, sql` and `)}`;
        const total = await db
          .selectFrom('sessions')
          .select((eb) => eb.fn.countAll().as('total'))
          .where(where)
          .executeTakeFirstOrThrow();
        const rows = await db
          .selectFrom('sessions')
          .innerJoin('users', 'users.id', 'sessions.user_id')
          .select(SESSION_COLUMNS.map((column) => `sessions.${column}` as const))
          .select('users.username')
          .where(where)
          .orderBy('sessions.created_at', 'desc')
          .orderBy('sessions.id', 'desc')
          .limit(query.limit)
          .offset(query.offset)
          .execute();
        return { total: Number(total.total), sessions: rows.map((row) => ({ ...toSessionRecord(row), username: row.username })) };
      }),

    listAudit: (query) =>
      withDbErrors('list the audit log', async () => {
        checkPage(query);
        const conditions = [];
        if (query.userId !== undefined) conditions.push(sql<boolean>`user_id = ${query.userId}`);
        if (query.action !== undefined) conditions.push(sql<boolean>`action = ${query.action}`);
        const where = conditions.length === 0 ? sql<boolean>`1 = 1` : sql<boolean>`${sql.join(conditions, sql` and `)}`;
        const total = await db
          .selectFrom('audit_log')
          .select((eb) => eb.fn.countAll().as('total'))
          .where(where)
          .executeTakeFirstOrThrow();
        const rows = await db
          .selectFrom('audit_log')
          .selectAll()
          .where(where)
          .orderBy('at', 'desc')
          .orderBy('id', 'desc')
          .limit(query.limit)
          .offset(query.offset)
          .execute();
        return { total: Number(total.total), entries: rows.map(toAuditEntry) };
      }),

    countLoginFailures: (keys, since) =>
      withDbErrors('count login failures', async () => {
        const from = normalizeTimestamp(since, 'since');
        const counts = new Map<string, number>(keys.map((key) => [key, 0]));
        for (const part of chunk(distinct(keys), rowsPerStatement(dialect, 1, 1))) {
          const rows = await db
            .selectFrom('login_failures')
            .select((eb) => ['failure_key', eb.fn.countAll().as('count')])
            .where('failure_key', 'in', part)
            .where('at', '>=', from)
            .groupBy('failure_key')
            .execute();
          for (const row of rows) counts.set(row.failure_key, Number(row.count));
        }
        return Object.fromEntries(counts);
      }),
  };
}

function createWriter(db: Kysely<Database>, ctx: Context): StoreWriter {
  const { dialect } = ctx;

  /** Current holders of the given values of a unique users/groups column. */
  const findHolders = async (
    table: 'users' | 'groups',
    column: 'username_key' | 'external_id',
    values: string[],
  ): Promise<UniqueHolder[]> => {
    const holders: UniqueHolder[] = [];
    for (const part of chunk([...new Set(values)], rowsPerStatement(dialect, 1))) {
      const rows =
        table === 'groups'
          ? await db.selectFrom('groups').select(['id', 'external_id as value']).where('external_id', 'in', part).execute()
          : column === 'external_id'
            ? await db.selectFrom('users').select(['id', 'external_id as value']).where('external_id', 'in', part).execute()
            : await db.selectFrom('users').select(['id', 'username_key as value']).where('username_key', 'in', part).execute();
      for (const row of rows) {
        if (row.value !== null) holders.push({ id: row.id, value: row.value });
      }
    }
    return holders;
  };

  /** Checks claims on a unique column and parks the holders that move within this batch. */
  const claimUnique = async (
    table: 'users' | 'groups',
    column: 'username_key' | 'external_id',
    field: string,
    claims: UniqueClaim[],
    movingIds: ReadonlySet<string>,
  ): Promise<void> => {
    if (claims.length === 0) return;
    const holders = await findHolders(table, column, claims.map((claim) => claim.value));
    const park = planUniqueClaims(field, claims, holders, movingIds);
    for (const part of chunk(park, rowsPerStatement(dialect, 1))) {
      if (table === 'groups') {
        await db.updateTable('groups').set({ external_id: null }).where('id', 'in', part).execute();
      } else if (column === 'external_id') {
        await db.updateTable('users').set({ external_id: null }).where('id', 'in', part).execute();
      } else {
        await db
          .updateTable('users')
          .set({ username_key: sql<string>`${PARKED_KEY_PREFIX} || id` })
          .where('id', 'in', part)
          .execute();
      }
    }
  };

  /** Claims the new external ids of patched rows; rows that set one move out of the way first. */
  const claimPatchedExternalIds = async (
    table: 'users' | 'groups',
    field: string,
    updates: ReadonlyArray<{ id: string; columns: { external_id?: string | null } }>,
  ): Promise<void> => {
    const relinked = updates.filter((update) => update.columns.external_id !== undefined);
    await claimUnique(
      table,
      'external_id',
      field,
      relinked.flatMap((update) => {
        const value = update.columns.external_id;
        return value === null || value === undefined ? [] : [{ id: update.id, value, label: value }];
      }),
      new Set(relinked.map((update) => update.id)),
    );
  };

  /** Throws `store.not_found` naming the ids of `table` that do not exist. */
  const reportMissing = async (table: 'users' | 'groups', ids: string[]): Promise<never> => {
    const found = new Set<string>();
    for (const part of chunk(ids, rowsPerStatement(dialect, 1))) {
      const rows = await db.selectFrom(table).select('id').where('id', 'in', part).execute();
      for (const row of rows) found.add(row.id);
    }
    const missing = ids.filter((id) => !found.has(id));
    throw new DirbridgeError('store.not_found', `no such ${table === 'users' ? 'user' : 'group'}: ${missing.slice(0, 5).join(', ')}`, {
      details: { table, missing: missing.slice(0, 100) },
    });
  };

  return {
    ...createReader(db, ctx),

    insertUsers: (users: NewUser[]) =>
      withDbErrors('insert users', async () => {
        if (users.length === 0) return [];
        const now = ctx.now();
        const rows = users.map((user) => toNewUserRow(dialect, user, randomUUID(), now));
        const noOneMoves = new Set<string>();
        await claimUnique(
          'users',
          'username_key',
          'username',
          rows.map((row) => ({ id: row.id, value: row.username_key, label: row.username })),
          noOneMoves,
        );
        await claimUnique(
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

    updateUsers: (patches: Array<{ id: string } & UserPatch>) =>
      withDbErrors('update users', async () => {
        if (patches.length === 0) return;
        const updates = mergePatches(patches).map((patch) => ({ id: patch.id, columns: toUserPatchColumns(dialect, patch) }));

        const renamed = updates.filter((update) => update.columns.username_key !== undefined);
        await claimUnique(
          'users',
          'username_key',
          'username',
          renamed.map((update) => ({ id: update.id, value: update.columns.username_key ?? '', label: update.columns.username ?? '' })),
          new Set(renamed.map((update) => update.id)),
        );
        await claimPatchedExternalIds('users', 'external id', updates);

        const count = await updateRowsById(
          db,
          dialect,
          'users',
          USER_UPDATE_KINDS,
          updates.map((update) => toRowUpdate(update.id, update.columns)),
          ctx.now(),
        );
        if (count !== updates.length) await reportMissing('users', updates.map((update) => update.id));
      }),

    deleteUsers: (ids: string[]) =>
      withDbErrors('delete users', async () => {
        for (const part of chunk([...new Set(ids)], rowsPerStatement(dialect, 1))) {
          await db.deleteFrom('users').where('id', 'in', part).execute();
        }
      }),

    insertGroups: (groups: NewGroup[]) =>
      withDbErrors('insert groups', async () => {
        if (groups.length === 0) return [];
        const now = ctx.now();
        const rows = groups.map((group) => toNewGroupRow(group, randomUUID(), now));
        await claimUnique(
          'groups',
          'external_id',
          'group external id',
          rows.flatMap((row) => (row.external_id === null ? [] : [{ id: row.id, value: row.external_id, label: row.external_id }])),
          new Set(),
        );
        const columnCount = Object.keys(rows[0] ?? {}).length;
        for (const part of chunk(rows, rowsPerStatement(dialect, columnCount))) {
          await db.insertInto('groups').values(part).execute();
        }
        return rows.map((row): GroupRecord => toGroupRecord(row));
      }),

    updateGroups: (patches: Array<{ id: string } & GroupPatch>) =>
      withDbErrors('update groups', async () => {
        if (patches.length === 0) return;
        const updates = mergePatches(patches).map((patch) => ({ id: patch.id, columns: toGroupPatchColumns(patch) }));
        await claimPatchedExternalIds('groups', 'group external id', updates);
        const count = await updateRowsById(
          db,
          dialect,
          'groups',
          GROUP_UPDATE_KINDS,
          updates.map((update) => toRowUpdate(update.id, update.columns)),
          ctx.now(),
        );
        if (count !== updates.length) await reportMissing('groups', updates.map((update) => update.id));
      }),

    deleteGroups: (ids: string[]) =>
      withDbErrors('delete groups', async () => {
        for (const part of chunk([...new Set(ids)], rowsPerStatement(dialect, 1))) {
          await db.deleteFrom('groups').where('id', 'in', part).execute();
        }
      }),

    addMemberships: (pairs: MembershipPair[]) =>
      withDbErrors('add memberships', async () => {
        // Inserting in key order keeps index pages hot: ~30% faster for large batches.
        for (const part of chunk([...pairs].sort(comparePairs), rowsPerStatement(dialect, 2))) {
          await db
            .insertInto('memberships')
            .values(part.map((pair) => ({ user_id: pair.userId, group_id: pair.groupId })))
            .onConflict((oc) => oc.columns(['user_id', 'group_id']).doNothing())
            .execute();
        }
      }),

    removeMemberships: (pairs: MembershipPair[]) =>
      withDbErrors('remove memberships', async () => {
        for (const part of chunk(pairs, rowsPerStatement(dialect, 2))) {
          const values = sql.join(part.map((pair) => sql`(${pair.userId}, ${pair.groupId})`));
          await sql`delete from memberships where (user_id, group_id) in (values ${values})`.execute(db);
        }
      }),

    insertSession: (session) =>
      withDbErrors('insert a session', async () => {
        const row = toNewSessionRow(session, randomUUID(), ctx.now());
        await db.insertInto('sessions').values(row).execute();
        return toSessionRecord(row);
      }),

    touchSession: (id, at) =>
      withDbErrors('touch a session', async () => {
        const seen = normalizeTimestamp(at, 'at');
        // Only forward: concurrent requests may finish out of order.
        await db
          .updateTable('sessions')
          .set({ last_seen_at: seen })
          .where('id', '=', id)
          .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<', seen)]))
          .execute();
      }),

    revokeSessions: (target, reason, at) =>
      withDbErrors('revoke sessions', async () => {
        const revokedAt = normalizeTimestamp(at, 'at');
        const revoked: SessionRecord[] = [];
        const byColumn = [
          ['id', distinct(target.ids ?? [])],
          ['user_id', distinct(target.userIds ?? [])],
        ] as const;
        for (const [column, values] of byColumn) {
          for (const part of chunk(values, rowsPerStatement(dialect, 1, 3))) {
            const rows = await db
              .updateTable('sessions')
              .set({ revoked_at: revokedAt, revoked_reason: reason })
              .where(column, 'in', part)
              .where('revoked_at', 'is', null)
              .where('expires_at', '>', revokedAt)
              .returning(SESSION_COLUMNS)
              .execute();
            revoked.push(...rows.map(toSessionRecord));
          }
        }
        return revoked;
      }),

    revokeSessionsOfDisabledUsers: (reason, at) =>
      withDbErrors('revoke sessions of disabled users', async () => {
        const revokedAt = normalizeTimestamp(at, 'at');
        const rows = await db
          .updateTable('sessions')
          .set({ revoked_at: revokedAt, revoked_reason: reason })
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', revokedAt)
          // The literal matches the partial index users_disabled_idx (a bound parameter would not).
          .where('user_id', 'in', db.selectFrom('users').select('id').where(sql<boolean>`is_enabled = false`))
          .returning(SESSION_COLUMNS)
          .execute();
        return rows.map(toSessionRecord);
      }),

    deleteSessionsEndedBefore: (before) =>
      withDbErrors('delete ended sessions', async () => {
        const limit = normalizeTimestamp(before, 'before');
        const result = await db
          .deleteFrom('sessions')
          .where((eb) => eb.or([eb('expires_at', '<', limit), eb('revoked_at', '<', limit)]))
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      }),

    appendAudit: (entries) =>
      withDbErrors('append to the audit log', async () => {
        if (entries.length === 0) return;
        const now = ctx.now();
        const rows = entries.map((entry) => toNewAuditRow(entry, orderedUuid(), now));
        for (const part of chunk(rows, rowsPerStatement(dialect, 8))) {
          await db.insertInto('audit_log').values(part).execute();
        }
      }),

    recordLoginFailure: (keys, at) =>
      withDbErrors('record a login failure', async () => {
        const failedAt = normalizeTimestamp(at, 'at');
        const rows = distinct(keys).map((key) => ({ id: randomUUID(), failure_key: key, at: failedAt }));
        for (const part of chunk(rows, rowsPerStatement(dialect, 3))) {
          await db.insertInto('login_failures').values(part).execute();
        }
      }),

    clearLoginFailures: (keys) =>
      withDbErrors('clear login failures', async () => {
        for (const part of chunk(distinct(keys), rowsPerStatement(dialect, 1))) {
          await db.deleteFrom('login_failures').where('failure_key', 'in', part).execute();
        }
      }),

    pruneLoginFailures: (before) =>
      withDbErrors('prune login failures', async () => {
        const limit = normalizeTimestamp(before, 'before');
        const result = await db.deleteFrom('login_failures').where('at', '<', limit).executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
  };
}

/** Creates the store over an open, migrated Kysely instance; `close()` destroys that instance. */
export function createKyselyStore(db: Kysely<Database>, dialect: StoreDialect, options: KyselyStoreOptions = {}): Store {
  const clock = options.now ?? (() => new Date());
  const ctx: Context = { dialect, now: () => clock().toISOString() };

  const getRun = async (id: string): Promise<SyncRunRecord | undefined> => {
    const row = await db.selectFrom('sync_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toSyncRunRecord(row);
  };

  return {
    dialect,
    ...createReader(db, ctx),

    // Three queries, one snapshot: memberships never name a user or group missing from the lists.
    loadSyncState: () =>
      withDbErrors('load the sync state', () =>
        (dialect === 'postgres' ? db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only') : db.transaction()).execute((trx) =>
          createReader(trx, ctx).loadSyncState(),
        ),
      ),

    transaction: (work) =>
      withDbErrors('run a transaction', () => db.transaction().execute((trx) => work(createWriter(trx, ctx)))),

    startRun: (input) =>
      withDbErrors('start a sync run', async () => {
        const row = {
          id: randomUUID(),
          trigger: input.trigger,
          is_dry_run: writeBoolean(dialect, input.isDryRun),
          status: 'running' as const,
          reason: null,
          error_code: null,
          error_message: null,
          started_at: ctx.now(),
          finished_at: null,
          duration_ms: null,
          counts: '{}',
          plan_summary: null,
        };
        await db.insertInto('sync_runs').values(row).execute();
        return toSyncRunRecord(row);
      }),

    finishRun: (id: string, outcome: SyncRunOutcome) =>
      withDbErrors('finish a sync run', async () => {
        const run = await getRun(id);
        if (run === undefined) throw new DirbridgeError('store.not_found', 'no such sync run', { details: { runId: id } });
        if (run.status !== 'running') {
          throw new DirbridgeError('store.conflict', 'sync run already finished', { details: { runId: id, status: run.status } });
        }
        const finishedAt = ctx.now();
        const durationMs = Math.max(0, Date.parse(finishedAt) - Date.parse(run.startedAt));
        const result = await db
          .updateTable('sync_runs')
          .set({
            status: outcome.status,
            reason: outcome.reason ?? null,
            error_code: outcome.errorCode ?? null,
            error_message: outcome.errorMessage ?? null,
            finished_at: finishedAt,
            duration_ms: durationMs,
            counts: formatCounts(outcome.counts),
            plan_summary: outcome.planSummary === undefined || outcome.planSummary === null ? null : JSON.stringify(outcome.planSummary),
          })
          .where('id', '=', id)
          .where('status', '=', 'running')
          .executeTakeFirst();
        if (result.numUpdatedRows === 0n) {
          throw new DirbridgeError('store.conflict', 'sync run already finished', { details: { runId: id } });
        }
        const finished = await getRun(id);
        if (finished === undefined) throw new DirbridgeError('store.not_found', 'no such sync run', { details: { runId: id } });
        return finished;
      }),

    listRuns: (page) =>
      withDbErrors('list sync runs', async () => {
        checkPage(page);
        const total = await db.selectFrom('sync_runs').select((eb) => eb.fn.countAll().as('total')).executeTakeFirstOrThrow();
        const rows = await db
          .selectFrom('sync_runs')
          .selectAll()
          .orderBy('started_at', 'desc')
          .orderBy('id', 'desc')
          .limit(page.limit)
          .offset(page.offset)
          .execute();
        return { total: Number(total.total), runs: rows.map(toSyncRunRecord) };
      }),

    getRun: (id) => withDbErrors('read a sync run', () => getRun(id)),

    close: () => db.destroy(),
  };
}
