/**
 * Reads of several queries that must agree with each other (the sync and mapping states).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.ts';
import type { StoreDialect } from './store.ts';

/**
 * Runs `work` in one transaction that sees one snapshot: repeatable read and read only on
 * PostgreSQL; on SQLite any transaction does (one connection, one writer).
 */
export function inReadSnapshot<T>(db: Kysely<Database>, dialect: StoreDialect, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return (dialect === 'postgres' ? db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only') : db.transaction()).execute(work);
}
