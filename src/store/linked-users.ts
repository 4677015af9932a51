/**
 * The one query shape behind every "members of" listing: the users a link table ties to a
 * group, channel, team or role, a page at a time, ordered by username.
 */
import { type Kysely, sql } from 'kysely';
import type { PageQuery, UserPage } from '../model/index.ts';
import { withDbErrors } from './db-errors.ts';
import { checkPage } from './page.ts';
import { toUserRecord, USER_COLUMNS } from './rows.ts';
import type { Database, DbBoolean } from './schema.ts';

/** The link tables behind "members of" listings: which table ties users to what, by which column. */
export const MEMBER_LINKS = {
  group: { table: 'memberships', column: 'group_id' },
  channel: { table: 'channel_members', column: 'channel_id' },
  team: { table: 'team_members', column: 'team_id' },
  role: { table: 'user_roles', column: 'role' },
} as const;

/** Selects the user columns callers may see, and whether the user has a password. */
export function selectUsers(db: Kysely<Database>) {
  return db.selectFrom('users').select(USER_COLUMNS).select(sql<DbBoolean>`(password_hash is not null)`.as('has_password'));
}

/** A page of the users a link table ties to `key` (a group, channel, team or role), ordered by username. */
export function linkedUsersPage(db: Kysely<Database>, what: string, of: keyof typeof MEMBER_LINKS, key: string, page: PageQuery): Promise<UserPage> {
  return withDbErrors(what, async () => {
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
    const rows = await selectUsers(db)
      .innerJoin(table, `${link.table}.user_id` as 'memberships.user_id', 'users.id')
      .where(keyColumn, '=', key)
      .orderBy('users.username_key')
      .orderBy('users.id')
      .limit(page.limit)
      .offset(page.offset)
      .execute();
    return { total: Number(total.total), users: rows.map(toUserRecord) };
  });
}
