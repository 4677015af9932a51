/**
 * The one store implementation, on Kysely, for SQLite and PostgreSQL alike. Dialect
 * differences are confined to value encoding (`rows.ts`), parameter limits (`batch.ts`)
 * and the migration's column types.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import { chunk, chunkByWeight, rowsPerStatement, updateRowsById, type ColumnKind, type ColumnValue, type RowUpdate } from './batch.ts';
import { databaseNow } from './db-clock.ts';
import { withDbErrors } from './db-errors.ts';
import { createLoginAttemptStore } from './login-attempts.ts';
import { createOidcRepository } from './oidc-repository.ts';
import { orderedUuid } from './ordered-id.ts';
import {
  CHANNEL_COLUMNS,
  formatCounts,
  GROUP_COLUMNS,
  groupAbacAttributes,
  groupCustomFields,
  mappingNameKey,
  newUserRowToRecord,
  normalizeTimestamp,
  SESSION_COLUMNS,
  TEAM_COLUMNS,
  toAuditEntry,
  toAvatarRecord,
  toChannelRecord,
  toGroupPatchColumns,
  toGroupRecord,
  toNewAuditRow,
  toNewGroupRow,
  toNewSessionRow,
  toNewUserRow,
  toSessionRecord,
  toSyncRunRecord,
  formatProgress,
  toTeamRecord,
  toUserPatchColumns,
  toUserRecord,
  USER_COLUMNS,
  writeBoolean,
  type ChannelSelectRow,
  type GroupSelectRow,
  type TeamSelectRow,
} from './rows.ts';
import type { Database, DbBoolean, GroupsTable, UsersTable } from './schema.ts';
import {
  DEFAULT_RUN_LEASE_MS,
  emailKey,
  INTERRUPTED_REASON,
  USER_STATES,
  usernameKey,
  type AvatarInfo,
  type ChannelRecord,
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
  type StoredSettingsVersion,
  type JsonValue,
  type SyncRunOutcome,
  type SyncRunRecord,
  type TeamRecord,
  type UserPatch,
  type UserPage,
  type UserRecord,
  type UserState,
} from './store.ts';
import { planUniqueClaims, type UniqueClaim, type UniqueHolder } from './unique-claims.ts';

/** Options for `createKyselyStore`. */
export interface KyselyStoreOptions {
  /** The clock for timestamps; tests pass a fixed one. */
  now?: () => Date;
}

/** The link tables behind "members of" listings: which table ties users to what, by which column. */
const MEMBER_LINKS = {
  group: { table: 'memberships', column: 'group_id' },
  channel: { table: 'channel_members', column: 'channel_id' },
  team: { table: 'team_members', column: 'team_id' },
  role: { table: 'user_roles', column: 'role' },
} as const;

/**
 * A table whose rows are listed alike: groups, channels and teams, ordered and searched by their
 * case-insensitive `name_key`, each with its member count from its link table.
 */
interface NamedTable<Row, R> {
  table: 'groups' | 'channels' | 'teams';
  columns: ReadonlyArray<keyof Row & string>;
  members: (typeof MEMBER_LINKS)['group' | 'channel' | 'team'];
  toRecord: (row: Row) => R;
}

const GROUPS: NamedTable<GroupSelectRow, GroupRecord> = { table: 'groups', columns: GROUP_COLUMNS, members: MEMBER_LINKS.group, toRecord: toGroupRecord };
const CHANNELS: NamedTable<ChannelSelectRow, ChannelRecord> = { table: 'channels', columns: CHANNEL_COLUMNS, members: MEMBER_LINKS.channel, toRecord: toChannelRecord };
const TEAMS: NamedTable<TeamSelectRow, TeamRecord> = { table: 'teams', columns: TEAM_COLUMNS, members: MEMBER_LINKS.team, toRecord: toTeamRecord };

/**
 * The condition of each user state. Literals, not bound parameters: `is_enabled = false` is the
 * predicate of the partial index users_disabled_username_idx, which only a literal matches.
 */
const USER_STATE_CONDITIONS: Readonly<Record<UserState, RawBuilder<boolean>>> = {
  active: sql<boolean>`is_enabled = true`,
  disabled: sql<boolean>`is_enabled = false`,
};

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
  password_changed_at: 'text',
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

/** The condition for `state`, or undefined for every user; an unknown state is `usage.invalid`. */
function userStateCondition(state: UserState | undefined): RawBuilder<boolean> | undefined {
  if (state === undefined) return undefined;
  if (!Object.hasOwn(USER_STATE_CONDITIONS, state)) {
    throw new DirbridgeError('usage.invalid', `state must be one of ${USER_STATES.join(', ')}`, { details: { state } });
  }
  return USER_STATE_CONDITIONS[state];
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

/** Orders string pairs lexicographically (the primary-key order of the two-column tables). */
function compareTuples(a: readonly [string, string], b: readonly [string, string]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}

/** Upper bound on avatar bytes per statement (a statement of 5000 large images would be huge). */
const AVATAR_BYTES_PER_STATEMENT = 8 * 1024 * 1024;

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

  /**
   * A page of the users a link table ties to `key` (a group, channel, team or role), ordered by
   * username: the one query shape behind every "members of" listing.
   */
  const linkedUsersPage = (what: string, of: keyof typeof MEMBER_LINKS, key: string, page: PageQuery): Promise<UserPage> =>
    withDbErrors(what, async () => {
      checkPage(page);
      const link = MEMBER_LINKS[of];
      const keyColumn = sql.ref(`${link.table}.${link.column}`);
      const total = await db
        .selectFrom(link.table)
        .select((eb) => eb.fn.countAll().as('total'))
        .where(keyColumn, '=', key)
        .executeTakeFirstOrThrow();
      // Typed as one link table: the rows hold user columns only, whichever table is joined.
      const table = link.table as 'memberships';
      const rows = await selectUsers()
        .innerJoin(table, `${link.table}.user_id` as 'memberships.user_id', 'users.id')
        .where(keyColumn, '=', key)
        .orderBy('users.username_key')
        .orderBy('users.id')
        .limit(page.limit)
        .offset(page.offset)
        .execute();
      return { total: Number(total.total), users: rows.map(toUserRecord) };
    });

  /** The rows of a named table that match `where`, by name key, each with its member count. */
  const namedRows = async <Row, R>(named: NamedTable<Row, R>, where: RawBuilder<boolean>, page: PageQuery): Promise<Array<R & { memberCount: number }>> => {
    const { table, members } = named;
    const result = await sql<Row & { member_count: number | string | bigint }>`
      select ${sql.join(named.columns.map((column) => sql.ref(`${table}.${column}`)))},
        (select count(*) from ${sql.table(members.table)} where ${sql.ref(`${members.table}.${members.column}`)} = ${sql.ref(`${table}.id`)}) as member_count
      from ${sql.table(table)}
      where ${where}
      order by name_key, id
      limit ${page.limit} offset ${page.offset}`.execute(db);
    return result.rows.map((row) => ({ ...named.toRecord(row), memberCount: Number(row.member_count) }));
  };

  /** A page of a named table, optionally searched (a literal, case-insensitive substring of the name). */
  const namedPage = <Row, R>(what: string, named: NamedTable<Row, R>, query: PageQuery & { search?: string }) =>
    withDbErrors(what, async () => {
      checkPage(query);
      const where = query.search === undefined || query.search === '' ? sql<boolean>`1 = 1` : sql<boolean>`name_key like ${containsPattern(query.search)} escape '\\'`;
      const total = await db
        .selectFrom(named.table)
        .select((eb) => eb.fn.countAll().as('total'))
        .where(where)
        .executeTakeFirstOrThrow();
      return { total: Number(total.total), items: await namedRows(named, where, query) };
    });

  /** One row of a named table by name (through the unique name key), with its member count. */
  const findNamed = <Row, R>(what: string, named: NamedTable<Row, R>, name: string) =>
    withDbErrors(what, async () => (await namedRows(named, sql<boolean>`name_key = ${mappingNameKey(name)}`, { limit: 1, offset: 0 }))[0]);

  const selectGroups = () => db.selectFrom('groups').select(GROUP_COLUMNS);
  const selectChannels = () => db.selectFrom('channels').select(CHANNEL_COLUMNS);
  const selectTeams = () => db.selectFrom('teams').select(TEAM_COLUMNS);

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

    listGroups: async (query) => {
      const { total, items } = await namedPage('list groups', GROUPS, query);
      return { total, groups: items };
    },

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

    listGroupMembers: (groupId, page) => linkedUsersPage('list group members', 'group', groupId, page),

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

    listAuditAfter: (query) =>
      withDbErrors('read the audit log after a cursor', async () => {
        if (!Number.isInteger(query.limit) || query.limit < 1) throw new DirbridgeError('usage.invalid', 'limit must be a positive integer');
        const matches = [
          ...query.actionPrefixes.map((prefix) => sql<boolean>`action like ${`${prefix.replace(/[\\%_]/g, (character) => `\\${character}`)}%`} escape '\\'`),
          ...query.actions.map((action) => sql<boolean>`action = ${action}`),
        ];
        if (matches.length === 0) return [];
        let select = db.selectFrom('audit_log').selectAll().where(sql<boolean>`(${sql.join(matches, sql` or `)})`);
        if (query.after !== undefined) select = select.where('id', '>', query.after);
        if (query.before !== undefined) select = select.where('id', '<', query.before);
        const rows = await select.orderBy('id', 'asc').limit(query.limit).execute();
        return rows.map(toAuditEntry);
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

    loadMappingState: () =>
      withDbErrors('load the mapping state', async () => {
        // Sequential, like loadSyncState: the SQLite store has one connection, and the public
        // store runs this inside one read transaction (one snapshot).
        const roles = await db.selectFrom('user_roles').select(['user_id as userId', 'role']).execute();
        const channels = await selectChannels().execute();
        const channelMembers = await db.selectFrom('channel_members').select(['channel_id as channelId', 'user_id as userId']).execute();
        const teams = await selectTeams().execute();
        const teamMembers = await db.selectFrom('team_members').select(['team_id as teamId', 'user_id as userId']).execute();
        // Ordered by primary key, so values come back in position order (and the scan follows the index).
        const fields = await db.selectFrom('user_custom_fields').select(['user_id', 'field', 'value']).orderBy('user_id').orderBy('field').execute();
        const abac = await db
          .selectFrom('user_abac_attributes')
          .select(['user_id', 'attribute', 'value'])
          .orderBy('user_id')
          .orderBy('attribute')
          .orderBy('position')
          .execute();
        const avatarHashes = await db.selectFrom('avatars').select(['user_id as userId', 'content_hash as contentHash']).execute();
        return {
          roles,
          channels: channels.map(toChannelRecord),
          channelMembers,
          teams: teams.map(toTeamRecord),
          teamMembers,
          customFields: groupCustomFields(fields),
          abacAttributes: groupAbacAttributes(abac),
          avatarHashes,
        };
      }),

    listUserRoles: (userId) =>
      withDbErrors('list user roles', async () => {
        const rows = await db.selectFrom('user_roles').select('role').where('user_id', '=', userId).orderBy('role').execute();
        return rows.map((row) => row.role);
      }),

    listRoles: () =>
      withDbErrors('list roles', async () => {
        const rows = await db
          .selectFrom('user_roles')
          .select((eb) => ['role', eb.fn.countAll().as('user_count')])
          .groupBy('role')
          .orderBy('role')
          .execute();
        return rows.map((row) => ({ role: row.role, userCount: Number(row.user_count) }));
      }),

    listChannels: async (query) => {
      const { total, items } = await namedPage('list channels', CHANNELS, query);
      return { total, channels: items };
    },

    findChannelByName: (name) => findNamed('find a channel by name', CHANNELS, name),

    listRoleMembers: (role, page) => linkedUsersPage('list role members', 'role', role, page),

    listChannelMembers: (channelId, page) => linkedUsersPage('list channel members', 'channel', channelId, page),

    listUserChannels: (userId) =>
      withDbErrors('list user channels', async () => {
        const rows = await selectChannels()
          .innerJoin('channel_members', 'channel_members.channel_id', 'channels.id')
          .where('channel_members.user_id', '=', userId)
          .orderBy('channels.name_key')
          .orderBy('channels.id')
          .execute();
        return rows.map(toChannelRecord);
      }),

    listTeams: async (query) => {
      const { total, items } = await namedPage('list teams', TEAMS, query);
      return { total, teams: items };
    },

    findTeamByName: (name) => findNamed('find a team by name', TEAMS, name),

    listTeamMembers: (teamId, page) => linkedUsersPage('list team members', 'team', teamId, page),

    listUserTeams: (userId) =>
      withDbErrors('list user teams', async () => {
        const rows = await selectTeams()
          .innerJoin('team_members', 'team_members.team_id', 'teams.id')
          .where('team_members.user_id', '=', userId)
          .orderBy('teams.name_key')
          .orderBy('teams.id')
          .execute();
        return rows.map(toTeamRecord);
      }),

    getUserAttributes: (userId) =>
      withDbErrors('read user attributes', async () => {
        const fields = await db.selectFrom('user_custom_fields').select(['user_id', 'field', 'value']).where('user_id', '=', userId).orderBy('field').execute();
        const abac = await db
          .selectFrom('user_abac_attributes')
          .select(['user_id', 'attribute', 'value'])
          .where('user_id', '=', userId)
          .orderBy('attribute')
          .orderBy('position')
          .execute();
        return {
          customFields: groupCustomFields(fields)[0]?.fields ?? {},
          abacAttributes: groupAbacAttributes(abac)[0]?.attributes ?? {},
        };
      }),

    getAvatar: (userId) =>
      withDbErrors('read an avatar', async () => {
        const row = await db.selectFrom('avatars').selectAll().where('user_id', '=', userId).executeTakeFirst();
        return row === undefined ? undefined : toAvatarRecord(row);
      }),

    listAvatarInfo: (userIds) =>
      withDbErrors('read avatar hashes', async () => {
        const found: AvatarInfo[] = [];
        for (const part of chunk(distinct(userIds), rowsPerStatement(dialect, 1))) {
          const rows = await db
            .selectFrom('avatars')
            .select(['user_id', 'content_hash', 'mime_type', 'updated_at'])
            .select(sql<number | string>`length(data)`.as('byte_length'))
            .where('user_id', 'in', part)
            .execute();
          for (const row of rows) found.push({ userId: row.user_id, contentHash: row.content_hash, mimeType: row.mime_type, byteLength: Number(row.byte_length), updatedAt: row.updated_at });
        }
        return found;
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

  /** Throws `store.not_found` naming the users among `ids` that do not exist (one query per chunk). */
  const requireUsers = async (ids: string[]): Promise<void> => {
    const found = new Set<string>();
    for (const part of chunk(ids, rowsPerStatement(dialect, 1))) {
      const rows = await db.selectFrom('users').select('id').where('id', 'in', part).execute();
      for (const row of rows) found.add(row.id);
    }
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) {
      throw new DirbridgeError('store.not_found', `no such user: ${missing.slice(0, 5).join(', ')}`, {
        details: { table: 'users', missing: missing.slice(0, 100) },
      });
    }
  };

  /** Checks that new channel or team names clash neither with each other nor with existing ones (case-insensitively). */
  const claimNames = async (table: 'channels' | 'teams', rows: ReadonlyArray<{ id: string; name: string; name_key: string }>): Promise<void> => {
    const holders: UniqueHolder[] = [];
    for (const part of chunk(distinct(rows.map((row) => row.name_key)), rowsPerStatement(dialect, 1))) {
      const found =
        table === 'channels'
          ? await db.selectFrom('channels').select(['id', 'name_key as value']).where('name_key', 'in', part).execute()
          : await db.selectFrom('teams').select(['id', 'name_key as value']).where('name_key', 'in', part).execute();
      holders.push(...found);
    }
    const claims = rows.map((row) => ({ id: row.id, value: row.name_key, label: row.name }));
    planUniqueClaims(table === 'channels' ? 'channel name' : 'team name', claims, holders, new Set());
  };

  /** Adds (container, user) pairs to a member table; existing pairs are left alone, unknown ids fail the foreign keys. */
  const addMembers = async (table: 'channel_members' | 'team_members', column: 'channel_id' | 'team_id', pairs: ReadonlyArray<readonly [string, string]>): Promise<void> => {
    // Key order keeps index pages hot, as for memberships.
    for (const part of chunk([...pairs].sort(compareTuples), rowsPerStatement(dialect, 2))) {
      const values = sql.join(part.map(([owner, userId]) => sql`(${owner}, ${userId})`));
      await sql`insert into ${sql.table(table)} (${sql.ref(column)}, ${sql.ref('user_id')}) values ${values} on conflict do nothing`.execute(db);
    }
  };

  /** Removes (container, user) pairs from a member table; absent pairs are ignored. */
  const removeMembers = async (table: 'channel_members' | 'team_members', column: 'channel_id' | 'team_id', pairs: ReadonlyArray<readonly [string, string]>): Promise<void> => {
    for (const part of chunk(pairs, rowsPerStatement(dialect, 2))) {
      const values = sql.join(part.map(([owner, userId]) => sql`(${owner}, ${userId})`));
      await sql`delete from ${sql.table(table)} where (${sql.ref(column)}, ${sql.ref('user_id')}) in (values ${values})`.execute(db);
    }
  };

  /** Deletes the rows of the listed users from a per-user table (before their new set is inserted). */
  const deleteUserRows = async (table: 'user_custom_fields' | 'user_abac_attributes', userIds: string[]): Promise<void> => {
    for (const part of chunk(userIds, rowsPerStatement(dialect, 1))) {
      await db.deleteFrom(table).where('user_id', 'in', part).execute();
    }
  };

  return {
    ...createReader(db, ctx),

    isRunStillOwned: (id, owner) =>
      withDbErrors('check a sync run', async () => {
        const query = db.selectFrom('sync_runs').select(['status', 'owner']).where('id', '=', id);
        // SQLite's BEGIN IMMEDIATE already excludes every other writer until this transaction ends.
        const row = await (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
        return row !== undefined && row.status === 'running' && row.owner === owner;
      }),

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

    markUsersSynced: (ids, at) =>
      withDbErrors('mark users synced', async () => {
        const syncedAt = normalizeTimestamp(at, 'lastSyncedAt');
        for (const part of chunk([...new Set(ids)], rowsPerStatement(dialect, 1, 1))) {
          await db.updateTable('users').set({ last_synced_at: syncedAt }).where('id', 'in', part).execute();
        }
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

    grantRoles: (grants) =>
      withDbErrors('grant roles', async () => {
        const rows = grants.map((grant) => ({ user_id: grant.userId, role: grant.role })).sort((a, b) => compareTuples([a.user_id, a.role], [b.user_id, b.role]));
        for (const part of chunk(rows, rowsPerStatement(dialect, 2))) {
          await db
            .insertInto('user_roles')
            .values(part)
            .onConflict((oc) => oc.columns(['user_id', 'role']).doNothing())
            .execute();
        }
      }),

    revokeRoles: (grants) =>
      withDbErrors('revoke roles', async () => {
        for (const part of chunk(grants, rowsPerStatement(dialect, 2))) {
          const values = sql.join(part.map((grant) => sql`(${grant.userId}, ${grant.role})`));
          await sql`delete from user_roles where (user_id, role) in (values ${values})`.execute(db);
        }
      }),

    insertChannels: (channels) =>
      withDbErrors('insert channels', async () => {
        if (channels.length === 0) return [];
        const now = ctx.now();
        const rows = channels.map((channel) => ({
          id: randomUUID(),
          name: channel.name,
          name_key: mappingNameKey(channel.name),
          owner_username: channel.ownerUsername,
          source: channel.source,
          created_at: now,
        }));
        await claimNames('channels', rows);
        for (const part of chunk(rows, rowsPerStatement(dialect, 6))) {
          await db.insertInto('channels').values(part).execute();
        }
        return rows.map(toChannelRecord);
      }),

    setChannelOwners: (changes) =>
      withDbErrors('set channel owners', async () => {
        const ownerOf = new Map<string, string | null>();
        for (const change of changes) ownerOf.set(change.channelId, change.ownerUsername);
        const idsByOwner = new Map<string | null, string[]>();
        for (const [channelId, owner] of ownerOf) {
          const ids = idsByOwner.get(owner);
          if (ids === undefined) idsByOwner.set(owner, [channelId]);
          else ids.push(channelId);
        }
        for (const [owner, ids] of idsByOwner) {
          for (const part of chunk(ids, rowsPerStatement(dialect, 1, 1))) {
            await db.updateTable('channels').set({ owner_username: owner }).where('id', 'in', part).execute();
          }
        }
      }),

    addChannelMembers: (pairs) =>
      withDbErrors('add channel members', () => addMembers('channel_members', 'channel_id', pairs.map((pair) => [pair.channelId, pair.userId] as const))),

    removeChannelMembers: (pairs) =>
      withDbErrors('remove channel members', () => removeMembers('channel_members', 'channel_id', pairs.map((pair) => [pair.channelId, pair.userId] as const))),

    insertTeams: (teams) =>
      withDbErrors('insert teams', async () => {
        if (teams.length === 0) return [];
        const now = ctx.now();
        const rows = teams.map((team) => ({ id: randomUUID(), name: team.name, name_key: mappingNameKey(team.name), source: team.source, created_at: now }));
        await claimNames('teams', rows);
        for (const part of chunk(rows, rowsPerStatement(dialect, 5))) {
          await db.insertInto('teams').values(part).execute();
        }
        return rows.map(toTeamRecord);
      }),

    addTeamMembers: (pairs) =>
      withDbErrors('add team members', () => addMembers('team_members', 'team_id', pairs.map((pair) => [pair.teamId, pair.userId] as const))),

    removeTeamMembers: (pairs) =>
      withDbErrors('remove team members', () => removeMembers('team_members', 'team_id', pairs.map((pair) => [pair.teamId, pair.userId] as const))),

    setCustomFields: (entries) =>
      withDbErrors('set custom fields', async () => {
        // A user listed twice gets the later set (replace semantics).
        const latest = new Map<string, Record<string, string>>();
        for (const entry of entries) latest.set(entry.userId, entry.fields);
        const userIds = [...latest.keys()].sort();
        if (userIds.length === 0) return;
        await requireUsers(userIds);
        await deleteUserRows('user_custom_fields', userIds);
        const rows = userIds.flatMap((userId) =>
          Object.entries(latest.get(userId) ?? {}).map(([field, value]) => {
            if (typeof value !== 'string') {
              throw new DirbridgeError('usage.invalid', `custom field ${field}: expected a string`, { details: { userId, field } });
            }
            return { user_id: userId, field, value };
          }),
        );
        for (const part of chunk(rows, rowsPerStatement(dialect, 3))) {
          await db.insertInto('user_custom_fields').values(part).execute();
        }
      }),

    setAbacAttributes: (entries) =>
      withDbErrors('set ABAC attributes', async () => {
        const latest = new Map<string, Record<string, string[]>>();
        for (const entry of entries) latest.set(entry.userId, entry.attributes);
        const userIds = [...latest.keys()].sort();
        if (userIds.length === 0) return;
        await requireUsers(userIds);
        await deleteUserRows('user_abac_attributes', userIds);
        const rows = userIds.flatMap((userId) =>
          Object.entries(latest.get(userId) ?? {}).flatMap(([attribute, values]) => {
            if (!Array.isArray(values) || values.some((value) => typeof value !== 'string')) {
              throw new DirbridgeError('usage.invalid', `ABAC attribute ${attribute}: expected an array of strings`, { details: { userId, attribute } });
            }
            // Every value is kept, duplicates included; `position` restores their order.
            return values.map((value, position) => ({ user_id: userId, attribute, value, position }));
          }),
        );
        for (const part of chunk(rows, rowsPerStatement(dialect, 4))) {
          await db.insertInto('user_abac_attributes').values(part).execute();
        }
      }),

    setAvatars: (avatars) =>
      withDbErrors('set avatars', async () => {
        const latest = new Map<string, (typeof avatars)[number]>();
        for (const avatar of avatars) {
          if (!Buffer.isBuffer(avatar.data)) {
            throw new DirbridgeError('usage.invalid', 'avatar data: expected a Buffer', { details: { userId: avatar.userId } });
          }
          latest.set(avatar.userId, avatar);
        }
        const now = ctx.now();
        const rows = [...latest.values()]
          .map((avatar) => ({ user_id: avatar.userId, content_hash: avatar.contentHash, mime_type: avatar.mimeType, data: avatar.data, updated_at: now }))
          .sort((a, b) => (a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0));
        for (const part of chunkByWeight(rows, rowsPerStatement(dialect, 5), AVATAR_BYTES_PER_STATEMENT, (row) => row.data.length)) {
          await db
            .insertInto('avatars')
            .values(part)
            .onConflict((oc) =>
              oc.column('user_id').doUpdateSet((eb) => ({
                content_hash: eb.ref('excluded.content_hash'),
                mime_type: eb.ref('excluded.mime_type'),
                data: eb.ref('excluded.data'),
                updated_at: eb.ref('excluded.updated_at'),
              })),
            )
            .execute();
        }
      }),

    removeAvatars: (userIds) =>
      withDbErrors('remove avatars', async () => {
        for (const part of chunk(distinct(userIds), rowsPerStatement(dialect, 1))) {
          await db.deleteFrom('avatars').where('user_id', 'in', part).execute();
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
          const values = sql.join(part.map((row) => sql`(${sql.join([sql`cast(${row.id} as text)`, sql`cast(${row.from} as text)`, sql`cast(${row.to} as text)`])})`));
          // The stored value must still be `from` (both NULL counts as equal): a concurrent writer that got there first wins.
          const result = await sql<{ id: string }>`with v(id, from_at, to_at) as (values ${values})
            update users set password_changed_at = v.to_at from v
            where users.id = v.id and (users.password_changed_at = v.from_at or (users.password_changed_at is null and v.from_at is null))
            returning users.id`.execute(db);
          recorded.push(...result.rows.map((row) => row.id));
        }
        return recorded;
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
          // The literal matches the partial index users_disabled_username_idx (a bound parameter would not).
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

  };
}

/** The lease given to a running run of an earlier version, which has none. */
const LEGACY_RUN_LEASE_MS = 60 * 60 * 1_000;

/** Checks a run lease: a positive whole number of milliseconds (at most a day), and a non-empty owner or none. */
function checkLease(lease: { owner: string | null; leaseMs: number }): { owner: string | null; leaseMs: number } {
  if (!Number.isInteger(lease.leaseMs) || lease.leaseMs <= 0 || lease.leaseMs > 86_400_000) {
    throw new DirbridgeError('usage.invalid', 'lease.leaseMs: expected a whole number of milliseconds from 1 to 86400000', { details: { leaseMs: lease.leaseMs } });
  }
  if (lease.owner !== null && lease.owner.trim() === '') throw new DirbridgeError('usage.invalid', 'lease.owner: expected a non-empty string');
  return lease;
}

function toSettingsVersion(row: { version: number; document: string; created_at: string; created_by: string }): StoredSettingsVersion {
  return { version: Number(row.version), document: JSON.parse(row.document) as JsonValue, createdAt: normalizeTimestamp(row.created_at, 'created_at'), createdBy: row.created_by };
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
    ...createLoginAttemptStore(db, dialect, (trx, entries) => createWriter(trx, ctx).appendAudit(entries)),
    ...createOidcRepository(db, dialect, (trx, entries) => createWriter(trx, ctx).appendAudit(entries), clock),

    // Three queries, one snapshot: memberships never name a user or group missing from the lists.
    loadSyncState: () =>
      withDbErrors('load the sync state', () =>
        (dialect === 'postgres' ? db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only') : db.transaction()).execute((trx) =>
          createReader(trx, ctx).loadSyncState(),
        ),
      ),

    // Eight queries, one snapshot: members never name a channel or team missing from the lists.
    loadMappingState: () =>
      withDbErrors('load the mapping state', () =>
        (dialect === 'postgres' ? db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only') : db.transaction()).execute((trx) =>
          createReader(trx, ctx).loadMappingState(),
        ),
      ),

    transaction: (work) =>
      withDbErrors('run a transaction', () => db.transaction().execute((trx) => work(createWriter(trx, ctx)))),

    startRun: (input) =>
      withDbErrors('start a sync run', async () => {
        const lease = checkLease(input.lease ?? { owner: null, leaseMs: DEFAULT_RUN_LEASE_MS });
        const startedAt = ctx.now();
        const id = randomUUID();
        await db
          .insertInto('sync_runs')
          .values({
            id,
            trigger: input.trigger,
            is_dry_run: writeBoolean(dialect, input.isDryRun),
            status: 'running' as const,
            reason: null,
            error_code: null,
            error_message: null,
            started_at: startedAt,
            finished_at: null,
            duration_ms: null,
            counts: '{}',
            plan_summary: null,
            // A run is visible as connecting from its first moment, on every instance.
            progress: formatProgress({ phase: 'connecting', usersRead: 0, groupsRead: 0, applied: 0, applyTotal: 0 }, startedAt),
            owner: lease.owner,
            heartbeat_at: databaseNow(dialect),
            lease_expires_at: databaseNow(dialect, lease.leaseMs),
          })
          .execute();
        const run = await getRun(id);
        if (run === undefined) throw new DirbridgeError('store.not_found', 'the sync run just recorded is gone', { details: { runId: id } });
        return run;
      }),

    renewRunLease: (id, lease) =>
      withDbErrors('renew a sync run lease', async () => {
        const { owner, leaseMs } = checkLease(lease);
        if (owner === null) throw new DirbridgeError('usage.invalid', 'lease.owner: expected a non-empty string');
        const result = await db
          .updateTable('sync_runs')
          .set({ heartbeat_at: databaseNow(dialect), lease_expires_at: databaseNow(dialect, leaseMs) })
          .where('id', '=', id)
          .where('status', '=', 'running')
          .where('owner', '=', owner)
          .executeTakeFirst();
        return result.numUpdatedRows > 0n;
      }),

    reapExpiredRuns: ({ reapedBy }) =>
      withDbErrors('record interrupted sync runs', async () => {
        // The partial index's predicate, spelled as its literal.
        const running = sql<boolean>`status = 'running'`;
        // An earlier version's run has no lease: it gets one, and is judged by it like any other.
        // Looked for first, so that a check finding nothing (the usual case) writes nothing and
        // never waits for SQLite's write lock.
        const leaseless = await db.selectFrom('sync_runs').select('id').where(running).where('lease_expires_at', 'is', null).execute();
        if (leaseless.length > 0) {
          await db
            .updateTable('sync_runs')
            .set({ heartbeat_at: sql<string>`coalesce(heartbeat_at, started_at)`, lease_expires_at: databaseNow(dialect, LEGACY_RUN_LEASE_MS) })
            .where(running)
            .where('lease_expires_at', 'is', null)
            .execute();
        }
        const expired = await db
          .selectFrom('sync_runs')
          .select(['id', 'owner', 'started_at', 'heartbeat_at'])
          .where(running)
          .where('lease_expires_at', '<', databaseNow(dialect))
          .orderBy('started_at')
          .execute();
        const reaped: SyncRunRecord[] = [];
        for (const row of expired) {
          const lastHeard = row.heartbeat_at ?? row.started_at;
          const result = await db
            .updateTable('sync_runs')
            .set({
              status: 'failed',
              reason: INTERRUPTED_REASON,
              error_code: 'sync.interrupted',
              error_message: `the process running this sync (${row.owner ?? 'an earlier version'}) stopped renewing its lease: last heard of at ${lastHeard}; recorded as interrupted by ${reapedBy}`,
              finished_at: lastHeard,
              duration_ms: Math.max(0, Date.parse(lastHeard) - Date.parse(row.started_at)),
              progress: null,
            })
            .where('id', '=', row.id)
            .where(running)
            // Checked again in the same statement: a renewal that came in meanwhile keeps the run alive.
            .where('lease_expires_at', '<', databaseNow(dialect))
            .executeTakeFirst();
          if (result.numUpdatedRows === 0n) continue;
          const run = await getRun(row.id);
          if (run !== undefined) reaped.push(run);
        }
        return reaped;
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
            progress: null,
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

    updateRunProgress: (id, progress) =>
      withDbErrors('record sync run progress', async () => {
        const text = formatProgress(progress, ctx.now());
        const result = await db.updateTable('sync_runs').set({ progress: text }).where('id', '=', id).where('status', '=', 'running').executeTakeFirst();
        return result.numUpdatedRows > 0n;
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

    getSettings: () =>
      withDbErrors('read the settings', async () => {
        const row = await db.selectFrom('settings_versions').selectAll().orderBy('version', 'desc').limit(1).executeTakeFirst();
        return row === undefined ? undefined : toSettingsVersion(row);
      }),

    getSettingsVersion: () =>
      withDbErrors('read the settings version', async () => {
        const row = await db.selectFrom('settings_versions').select((eb) => eb.fn.max('version').as('version')).executeTakeFirst();
        return Number(row?.version ?? 0);
      }),

    saveSettings: (input) =>
      withDbErrors('save the settings', async () => {
        const row = { version: input.expectedVersion + 1, document: JSON.stringify(input.document), created_at: ctx.now(), created_by: input.actor };
        const conflict = (current: number) =>
          new DirbridgeError('settings.conflict', `the settings changed meanwhile (version ${current}, expected ${input.expectedVersion}); reload them and apply your change again`, {
            details: { version: current, expectedVersion: input.expectedVersion },
          });
        try {
          await db.transaction().execute(async (trx) => {
            const newest = await trx.selectFrom('settings_versions').select((eb) => eb.fn.max('version').as('version')).executeTakeFirst();
            const current = Number(newest?.version ?? 0);
            if (current !== input.expectedVersion) throw conflict(current);
            await trx.insertInto('settings_versions').values(row).execute();
            if (input.audit !== undefined) await createWriter(trx, ctx).appendAudit([input.audit]);
          });
        } catch (error) {
          if (error instanceof DirbridgeError) throw error;
          // A concurrent save of the same version lost the race on the primary key.
          const current = await db.selectFrom('settings_versions').select((eb) => eb.fn.max('version').as('version')).executeTakeFirst();
          if (Number(current?.version ?? 0) !== input.expectedVersion) throw conflict(Number(current?.version ?? 0));
          throw error;
        }
        return toSettingsVersion(row);
      }),

    close: () => db.destroy(),
  };
}
