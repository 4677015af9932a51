/**
 * Migration 0010: room on each `users` page for the sync's per-run update. Every full sync sets
 * `last_synced_at` of every user it saw ("Last synced"). On PostgreSQL, with the default fillfactor
 * of 100, each such update found no room on its page and wrote a new row version into all five
 * indexes of the table (measured: 4.3–6.6 s per 100k users on this machine under load, 1,677 of
 * 500k updates heap-only, the table growing to 197 MB in five runs). With fillfactor 70 the
 * column, which no index holds, is updated in place on the page (heap-only tuples): 2.0–2.9 s,
 * 356k of 500k heap-only, 118 MB. New pages honour it at once; pages written before fill as rows
 * are updated. SQLite rewrites a row in place and has no such setting: nothing to do there.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** The users table's fillfactor on PostgreSQL (percent of each page filled by inserts). */
export const USERS_FILLFACTOR = 70;

/** Builds migration 0010 for the given dialect (PostgreSQL only; a no-op on SQLite). */
export function createUsersFillfactorMigration(dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      await sql`alter table users set (fillfactor = ${sql.lit(USERS_FILLFACTOR)})`.execute(db);
    },
  };
}
