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
  type StoredSettingsVersion,
  type JsonValue,
  type SyncRunOutcome,
  type SyncRunRecord,
  type TeamRecord,
  type UserPatch,
  type UserPage,
  type UserRecord,
  type UserState,
} from '../model/index.ts';
import type { Store, StoreDialect, StoreReader, StoreWriter } from './store.ts';
import { createGroupReader, createGroupWriter } from './groups-repository.ts';
import { createSessionReader, createSessionWriter } from './sessions-repository.ts';
import { createAuditReader, createAuditWriter } from './audit-repository.ts';
import { createUserReader, createUserWriter } from './users-repository.ts';
import { compareTuples, distinct } from './collections.ts';
import { linkedUsersPage, MEMBER_LINKS, selectUsers } from './linked-users.ts';
import { findNamed as findNamedRow, namedPage as namedTablePage, type NamedTable } from './named-tables.ts';
import { checkPage } from './page.ts';
import { mergePatches, toRowUpdate } from './patches.ts';
import type { RepositoryContext } from './repository-context.ts';
import { claimPatchedExternalIds as claimPatchedColumn, claimUnique as claimUniqueColumn, reportMissing as reportMissingIds } from './unique-columns.ts';
import { planUniqueClaims, type UniqueClaim, type UniqueHolder } from './unique-claims.ts';

/** Options for `createKyselyStore`. */
export interface KyselyStoreOptions {
  /** The clock for timestamps; tests pass a fixed one. */
  now?: () => Date;
}

const CHANNELS: NamedTable<ChannelSelectRow, ChannelRecord> = { table: 'channels', columns: CHANNEL_COLUMNS, members: MEMBER_LINKS.channel, toRecord: toChannelRecord };
const TEAMS: NamedTable<TeamSelectRow, TeamRecord> = { table: 'teams', columns: TEAM_COLUMNS, members: MEMBER_LINKS.team, toRecord: toTeamRecord };

/** Upper bound on avatar bytes per statement (a statement of 5000 large images would be huge). */
const AVATAR_BYTES_PER_STATEMENT = 8 * 1024 * 1024;

function createReader(db: Kysely<Database>, ctx: RepositoryContext): StoreReader {
  const { dialect } = ctx;
  const linkedUsers = (what: string, of: keyof typeof MEMBER_LINKS, key: string, page: PageQuery) => linkedUsersPage(db, what, of, key, page);
  const namedPage = <Row, R>(what: string, named: NamedTable<Row, R>, query: PageQuery & { search?: string }) => namedTablePage(db, what, named, query);
  const findNamed = <Row, R>(what: string, named: NamedTable<Row, R>, name: string) => findNamedRow(db, what, named, name);

  const selectGroups = () => db.selectFrom('groups').select(GROUP_COLUMNS);
  const selectChannels = () => db.selectFrom('channels').select(CHANNEL_COLUMNS);
  const selectTeams = () => db.selectFrom('teams').select(TEAM_COLUMNS);

  return {
    users: createUserReader(db, ctx),
    audit: createAuditReader(db),
    sessions: createSessionReader(db, ctx),
    groups: createGroupReader(db),

    loadSyncState: () =>
      withDbErrors('load the sync state', async () => {
        const [users, groups, memberships] = [
          await selectUsers(db).execute(),
          await selectGroups().execute(),
          // Aliased in SQL so the driver's row objects are returned as they are (500k rows: no second copy).
          await db.selectFrom('memberships').select(['user_id as userId', 'group_id as groupId']).execute(),
        ];
        return { users: users.map(toUserRecord), groups: groups.map(toGroupRecord), memberships };
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

    listRoleMembers: (role, page) => linkedUsers('list role members', 'role', role, page),

    listChannelMembers: (channelId, page) => linkedUsers('list channel members', 'channel', channelId, page),

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

    listTeamMembers: (teamId, page) => linkedUsers('list team members', 'team', teamId, page),

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

function createWriter(db: Kysely<Database>, ctx: RepositoryContext): StoreWriter {
  const { dialect } = ctx;


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
    users: createUserWriter(db, ctx),
    audit: createAuditWriter(db, ctx),
    sessions: createSessionWriter(db, ctx),
    groups: createGroupWriter(db, ctx),

    isRunStillOwned: (id, owner) =>
      withDbErrors('check a sync run', async () => {
        const query = db.selectFrom('sync_runs').select(['status', 'owner']).where('id', '=', id);
        // SQLite's BEGIN IMMEDIATE already excludes every other writer until this transaction ends.
        const row = await (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
        return row !== undefined && row.status === 'running' && row.owner === owner;
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
  const ctx: RepositoryContext = { dialect, now: () => clock().toISOString() };

  const getRun = async (id: string): Promise<SyncRunRecord | undefined> => {
    const row = await db.selectFrom('sync_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toSyncRunRecord(row);
  };

  return {
    dialect,
    ...createReader(db, ctx),
    ...createLoginAttemptStore(db, dialect, (trx, entries) => createAuditWriter(trx, ctx).append(entries)),

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
            if (input.audit !== undefined) await createAuditWriter(trx, ctx).append([input.audit]);
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
