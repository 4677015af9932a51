/**
 * Opens the store the settings describe: PostgreSQL when `url` is set, otherwise SQLite in
 * `dataDir`, migrated to the latest schema.
 */
import type { StoreSettings } from '../settings/schema.ts';
import { createStore } from './create-store.ts';
import { migrateToLatest } from './migrate.ts';
import { createPostgresKysely, type PostgresOptions } from './postgres.ts';
import { createSqliteKysely } from './sqlite.ts';
import type { Store } from './store.ts';

/** Options for `openStore` beyond the settings. */
export interface OpenStoreOptions extends PostgresOptions {
  /** The clock for timestamps; tests pass a fixed one. */
  now?: () => Date;
}

/** Opens and migrates the store; throws `store.unavailable` or `store.migration_failed`. */
export async function openStore(settings: StoreSettings, options: OpenStoreOptions = {}): Promise<Store> {
  const dialect = settings.url === undefined ? 'sqlite' : 'postgres';
  const db = settings.url === undefined ? createSqliteKysely(settings.dataDir) : createPostgresKysely(settings.url, options);
  try {
    await migrateToLatest(db, dialect);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return createStore(db, dialect, options.now === undefined ? {} : { now: options.now });
}
