/**
 * What mapping grants beyond groups: roles, channels and teams with their members, custom fields,
 * ABAC attributes and avatars. Listings and the mapping state the planner diffs against, and
 * (inside a transaction) the writes that apply a mapping plan.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import type { AvatarInfo, AvatarRecord, ChannelRecord, MappingState, PageQuery, RecordSource, TeamRecord, UserPage } from '../model/index.ts';
import { chunk, chunkByWeight, rowsPerStatement } from './batch.ts';
import { compareTuples, distinct } from './collections.ts';
import { withDbErrors } from './db-errors.ts';
import { linkedUsersPage, MEMBER_LINKS } from './linked-users.ts';
import { findNamed as findNamedRow, type NamedTable, namedPage as namedTablePage } from './named-tables.ts';
import type { RepositoryContext } from './repository-context.ts';
import {
  CHANNEL_COLUMNS,
  type ChannelSelectRow,
  groupAbacAttributes,
  groupCustomFields,
  mappingNameKey,
  TEAM_COLUMNS,
  type TeamSelectRow,
  toAvatarRecord,
  toChannelRecord,
  toTeamRecord,
} from './rows.ts';
import type { Database } from './schema.ts';
import { planUniqueClaims, type UniqueHolder } from './unique-claims.ts';

/** Reads of the mapping's grants, on the store and inside a transaction. */
export interface MappingReader {
  /** Loads every role grant, channel, team, their members, custom fields, ABAC attributes and avatar hashes; with `userIds`, only those users' grants (and every channel and team). */
  loadState(options?: { userIds?: readonly string[] }): Promise<MappingState>;
  /** A user's roles, sorted. */
  listUserRoles(userId: string): Promise<string[]>;
  /** Roles with how many users hold each, sorted by role. */
  listRoles(): Promise<Array<{ role: string; userCount: number }>>;
  /** Channels ordered by name, with member counts. */
  listChannels(query: PageQuery & { search?: string }): Promise<{ total: number; channels: Array<ChannelRecord & { memberCount: number }> }>;
  /** Finds a channel by name, case-insensitively, with its member count. */
  findChannelByName(name: string): Promise<(ChannelRecord & { memberCount: number }) | undefined>;
  /** The users holding a role, by username. */
  listRoleMembers(role: string, page: PageQuery): Promise<UserPage>;
  listChannelMembers(channelId: string, page: PageQuery): Promise<UserPage>;
  /** The channels a user belongs to, ordered by name. */
  listUserChannels(userId: string): Promise<ChannelRecord[]>;
  /** Teams ordered by name, with member counts. */
  listTeams(query: PageQuery & { search?: string }): Promise<{ total: number; teams: Array<TeamRecord & { memberCount: number }> }>;
  /** Finds a team by name, case-insensitively, with its member count. */
  findTeamByName(name: string): Promise<(TeamRecord & { memberCount: number }) | undefined>;
  listTeamMembers(teamId: string, page: PageQuery): Promise<UserPage>;
  /** The teams a user belongs to, ordered by name. */
  listUserTeams(userId: string): Promise<TeamRecord[]>;
  /** A user's custom fields and ABAC attributes ({} when none). */
  getUserAttributes(userId: string): Promise<{ customFields: Record<string, string>; abacAttributes: Record<string, string[]> }>;
  getAvatar(userId: string): Promise<AvatarRecord | undefined>;
  /** The avatars of these users without their bytes, in no particular order; users without one are left out. One query per few thousand ids. */
  listAvatarInfo(userIds: readonly string[]): Promise<AvatarInfo[]>;
}

/** Writes of the mapping's grants, available only inside `Store.transaction`. */
export interface MappingWriter extends MappingReader {
  /** Grants roles; existing grants are left alone. */
  grantRoles(grants: Array<{ userId: string; role: string }>): Promise<void>;
  /** Revokes roles; absent grants are ignored. */
  revokeRoles(grants: Array<{ userId: string; role: string }>): Promise<void>;
  /** Creates channels (names unique case-insensitively; a clash is store.conflict). */
  insertChannels(channels: Array<{ name: string; ownerUsername: string | null; source: RecordSource }>): Promise<ChannelRecord[]>;
  /**
   * Sets channel owners (a username, or null for none), one statement per distinct owner and batch
   * of ids; unknown channel ids are ignored. The last entry for a channel wins.
   */
  setChannelOwners(changes: Array<{ channelId: string; ownerUsername: string | null }>): Promise<void>;
  addChannelMembers(pairs: Array<{ channelId: string; userId: string }>): Promise<void>;
  removeChannelMembers(pairs: Array<{ channelId: string; userId: string }>): Promise<void>;
  /** Creates teams (names unique case-insensitively; a clash is store.conflict). */
  insertTeams(teams: Array<{ name: string; source: RecordSource }>): Promise<TeamRecord[]>;
  addTeamMembers(pairs: Array<{ teamId: string; userId: string }>): Promise<void>;
  removeTeamMembers(pairs: Array<{ teamId: string; userId: string }>): Promise<void>;
  /** Replaces each listed user's whole set of custom fields (an empty record clears them). */
  setCustomFields(entries: Array<{ userId: string; fields: Record<string, string> }>): Promise<void>;
  /** Replaces each listed user's whole set of ABAC attributes, keeping every value (an empty record clears them). */
  setAbacAttributes(entries: Array<{ userId: string; attributes: Record<string, string[]> }>): Promise<void>;
  /** Stores avatars (one per user, replacing any earlier one). */
  setAvatars(avatars: Array<{ userId: string; contentHash: string; mimeType: string; data: Buffer }>): Promise<void>;
  removeAvatars(userIds: string[]): Promise<void>;
}

const CHANNELS: NamedTable<ChannelSelectRow, ChannelRecord> = {
  table: 'channels',
  columns: CHANNEL_COLUMNS,
  members: MEMBER_LINKS.channel,
  toRecord: toChannelRecord,
};
const TEAMS: NamedTable<TeamSelectRow, TeamRecord> = { table: 'teams', columns: TEAM_COLUMNS, members: MEMBER_LINKS.team, toRecord: toTeamRecord };

/** Upper bound on avatar bytes per statement (a statement of 5000 large images would be huge). */
const AVATAR_BYTES_PER_STATEMENT = 8 * 1024 * 1024;

/** The mapping reads over `db` (the database, or a transaction). */
export function createMappingReader(db: Kysely<Database>, ctx: RepositoryContext): MappingReader {
  const { dialect } = ctx;
  const linkedUsers = (what: string, of: keyof typeof MEMBER_LINKS, key: string, page: PageQuery) => linkedUsersPage(db, what, of, key, page);
  const namedPage = <Row, R>(what: string, named: NamedTable<Row, R>, query: PageQuery & { search?: string }) => namedTablePage(db, what, named, query);
  const findNamed = <Row, R>(what: string, named: NamedTable<Row, R>, name: string) => findNamedRow(db, what, named, name);

  const selectChannels = () => db.selectFrom('channels').select(CHANNEL_COLUMNS);
  const selectTeams = () => db.selectFrom('teams').select(TEAM_COLUMNS);

  return {
    loadState: (options = {}) =>
      withDbErrors('load the mapping state', async () => {
        // Sequential, like `runs.loadSyncState`: the SQLite store has one connection, and the public
        // store runs this inside one read transaction (one snapshot).
        const userIds = options.userIds === undefined ? undefined : [...new Set(options.userIds)];
        /** Every row of a per-user table, or the rows of `userIds` (500 ids a query). */
        const perUser = async <Row>(read: (ids: readonly string[] | undefined) => Promise<Row[]>): Promise<Row[]> => {
          if (userIds === undefined) return read(undefined);
          const rows: Row[] = [];
          for (const ids of chunk(userIds, 500)) rows.push(...(await read(ids)));
          return rows;
        };
        const roles = await perUser((ids) => {
          const query = db.selectFrom('user_roles').select(['user_id as userId', 'role']);
          return (ids === undefined ? query : query.where('user_id', 'in', ids)).execute();
        });
        const channels = await selectChannels().execute();
        const channelMembers = await perUser((ids) => {
          const query = db.selectFrom('channel_members').select(['channel_id as channelId', 'user_id as userId']);
          return (ids === undefined ? query : query.where('user_id', 'in', ids)).execute();
        });
        const teams = await selectTeams().execute();
        const teamMembers = await perUser((ids) => {
          const query = db.selectFrom('team_members').select(['team_id as teamId', 'user_id as userId']);
          return (ids === undefined ? query : query.where('user_id', 'in', ids)).execute();
        });
        // Ordered by primary key, so values come back in position order (and the scan follows the index).
        const fields = await perUser((ids) => {
          const query = db.selectFrom('user_custom_fields').select(['user_id', 'field', 'value']);
          return (ids === undefined ? query : query.where('user_id', 'in', ids)).orderBy('user_id').orderBy('field').execute();
        });
        const abac = await perUser((ids) => {
          const query = db.selectFrom('user_abac_attributes').select(['user_id', 'attribute', 'value']);
          return (ids === undefined ? query : query.where('user_id', 'in', ids)).orderBy('user_id').orderBy('attribute').orderBy('position').execute();
        });
        const avatarHashes = await perUser((ids) => {
          const query = db.selectFrom('avatars').select(['user_id as userId', 'content_hash as contentHash']);
          return (ids === undefined ? query : query.where('user_id', 'in', ids)).execute();
        });
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
          for (const row of rows)
            found.push({
              userId: row.user_id,
              contentHash: row.content_hash,
              mimeType: row.mime_type,
              byteLength: Number(row.byte_length),
              updatedAt: row.updated_at,
            });
        }
        return found;
      }),
  };
}

/** The mapping reads and writes over a transaction. */
export function createMappingWriter(db: Kysely<Database>, ctx: RepositoryContext): MappingWriter {
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
  const addMembers = async (
    table: 'channel_members' | 'team_members',
    column: 'channel_id' | 'team_id',
    pairs: ReadonlyArray<readonly [string, string]>,
  ): Promise<void> => {
    // Key order keeps index pages hot, as for memberships.
    for (const part of chunk([...pairs].sort(compareTuples), rowsPerStatement(dialect, 2))) {
      const values = sql.join(part.map(([owner, userId]) => sql`(${owner}, ${userId})`));
      await sql`insert into ${sql.table(table)} (${sql.ref(column)}, ${sql.ref('user_id')}) values ${values} on conflict do nothing`.execute(db);
    }
  };

  /** Removes (container, user) pairs from a member table; absent pairs are ignored. */
  const removeMembers = async (
    table: 'channel_members' | 'team_members',
    column: 'channel_id' | 'team_id',
    pairs: ReadonlyArray<readonly [string, string]>,
  ): Promise<void> => {
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
    ...createMappingReader(db, ctx),

    grantRoles: (grants) =>
      withDbErrors('grant roles', async () => {
        const rows = grants
          .map((grant) => ({ user_id: grant.userId, role: grant.role }))
          .sort((a, b) => compareTuples([a.user_id, a.role], [b.user_id, b.role]));
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
      withDbErrors('add channel members', () =>
        addMembers(
          'channel_members',
          'channel_id',
          pairs.map((pair) => [pair.channelId, pair.userId] as const),
        ),
      ),

    removeChannelMembers: (pairs) =>
      withDbErrors('remove channel members', () =>
        removeMembers(
          'channel_members',
          'channel_id',
          pairs.map((pair) => [pair.channelId, pair.userId] as const),
        ),
      ),

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
      withDbErrors('add team members', () =>
        addMembers(
          'team_members',
          'team_id',
          pairs.map((pair) => [pair.teamId, pair.userId] as const),
        ),
      ),

    removeTeamMembers: (pairs) =>
      withDbErrors('remove team members', () =>
        removeMembers(
          'team_members',
          'team_id',
          pairs.map((pair) => [pair.teamId, pair.userId] as const),
        ),
      ),

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
