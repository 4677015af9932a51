/**
 * Tables whose rows are listed alike: groups, channels and teams, ordered and searched by their
 * case-insensitive `name_key`, each with its member count from its link table.
 */
import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { PageQuery } from '../model/index.ts';
import { withDbErrors } from './db-errors.ts';
import type { MEMBER_LINKS } from './linked-users.ts';
import { checkPage, containsPattern } from './page.ts';
import { mappingNameKey } from './rows.ts';
import type { Database } from './schema.ts';

/** A named table: its columns, its link table, and how a row becomes a record. */
export interface NamedTable<Row, R> {
  table: 'groups' | 'channels' | 'teams';
  columns: ReadonlyArray<keyof Row & string>;
  members: (typeof MEMBER_LINKS)['group' | 'channel' | 'team'];
  toRecord: (row: Row) => R;
}

/** The rows of a named table that match `where`, by name key, each with its member count. */
async function namedRows<Row, R>(
  db: Kysely<Database>,
  named: NamedTable<Row, R>,
  where: RawBuilder<boolean>,
  page: PageQuery,
): Promise<Array<R & { memberCount: number }>> {
  const { table, members } = named;
  const result = await sql<Row & { member_count: number | string | bigint }>`
    select ${sql.join(named.columns.map((column) => sql.ref(`${table}.${column}`)))},
      (select count(*) from ${sql.table(members.table)} where ${sql.ref(`${members.table}.${members.column}`)} = ${sql.ref(`${table}.id`)}) as member_count
    from ${sql.table(table)}
    where ${where}
    order by name_key, id
    limit ${page.limit} offset ${page.offset}`.execute(db);
  return result.rows.map((row) => ({ ...named.toRecord(row), memberCount: Number(row.member_count) }));
}

/** A page of a named table, optionally searched (a literal, case-insensitive substring of the name). */
export function namedPage<Row, R>(db: Kysely<Database>, what: string, named: NamedTable<Row, R>, query: PageQuery & { search?: string }) {
  return withDbErrors(what, async () => {
    checkPage(query);
    const where =
      query.search === undefined || query.search === '' ? sql<boolean>`1 = 1` : sql<boolean>`name_key like ${containsPattern(query.search)} escape '\\'`;
    const total = await db
      .selectFrom(named.table)
      .select((eb) => eb.fn.countAll().as('total'))
      .where(where)
      .executeTakeFirstOrThrow();
    return { total: Number(total.total), items: await namedRows(db, named, where, query) };
  });
}

/** One row of a named table by name (through the unique name key), with its member count. */
export function findNamed<Row, R>(db: Kysely<Database>, what: string, named: NamedTable<Row, R>, name: string) {
  return withDbErrors(what, async () => (await namedRows(db, named, sql<boolean>`name_key = ${mappingNameKey(name)}`, { limit: 1, offset: 0 }))[0]);
}
