/**
 * Brings a database to the latest schema with Kysely's Migrator (which serialises
 * concurrent migrators: a lock table on SQLite, an advisory lock on PostgreSQL).
 */
import { type Kysely, Migrator } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import { translateDbError } from './db-errors.ts';
import { createMigrationProvider } from './migrations/index.ts';
import type { Database } from './schema.ts';
import type { StoreDialect } from './store.ts';

/** Applies every pending migration; returns the names applied. Throws `store.unavailable` or `store.migration_failed`. */
export async function migrateToLatest(db: Kysely<Database>, dialect: StoreDialect): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: createMigrationProvider(dialect),
    // 0011 (write-back) was reserved while 0012 (OIDC) shipped first: databases at 0012 still take 0011.
    allowUnorderedMigrations: true,
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const translated = translateDbError(error, 'migrate the database');
    if (translated instanceof DirbridgeError && translated.code === 'store.unavailable') throw translated;
    const failed = results.find((result) => result.status === 'Error')?.migrationName;
    throw new DirbridgeError('store.migration_failed', `database migration ${failed ?? '(setup)'} failed`, {
      cause: error,
      details: { migration: failed ?? null },
    });
  }
  return results.filter((result) => result.status === 'Success').map((result) => result.migrationName);
}
