/**
 * The embedded backend: one better-sqlite3 connection to `<dataDir>/dirbridge.sqlite`,
 * in WAL mode with foreign keys enforced.
 *
 * Three adjustments to Kysely's stock SQLite dialect. Two make it safe when several processes
 * (the server and a CLI command) share the file:
 * - transactions start with BEGIN IMMEDIATE, taking the write lock up front, so a
 *   read-then-write transaction waits for `busy_timeout` instead of failing with
 *   SQLITE_BUSY_SNAPSHOT when another process wrote in between;
 * - the Migrator is told SQLite's DDL is transactional (it is), so each migration run is
 *   one transaction — atomic, and serialised across processes by that write lock. Stock
 *   Kysely 0.28 runs SQLite migrations outside any transaction and without a lock: two
 *   processes starting on a fresh file both ran 0001 and one failed.
 *
 * And a rollback is skipped when SQLite has already ended the transaction itself: after
 * SQLITE_FULL (a full disk) or an I/O error SQLite may roll back on its own, and Kysely's
 * ROLLBACK would then fail with "cannot rollback - no transaction is active", which replaced
 * the error that says what happened.
 *
 * better-sqlite3 is synchronous, so two stores on one file in the same process would block
 * each other's event loop while waiting for the lock: open one store per file per process.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
} from 'kysely';
import { DirbridgeError } from '../errors.ts';
import type { Database } from './schema.ts';

/** The database file name inside the data directory. */
export const SQLITE_FILE_NAME = 'dirbridge.sqlite';

/** How long a statement waits for another process's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Page cache size. SQLite's default (2 MiB) thrashes on random UUID keys once the directory
 * has tens of thousands of users; 64 MiB took 500k membership inserts from 3.1 s to 2.2 s.
 */
const CACHE_KIB = 65_536;

/** Lets the Migrator wrap migrations in a transaction (SQLite's DDL is transactional). */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/** Starts transactions with BEGIN IMMEDIATE; rolls back only a transaction SQLite still has open. */
class ImmediateSqliteDriver extends SqliteDriver {
  readonly #database: BetterSqlite3.Database;

  constructor(config: SqliteDialectConfig, database: BetterSqlite3.Database) {
    super(config);
    this.#database = database;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // Already rolled back by SQLite (SQLITE_FULL, I/O errors): the transaction's own error stands.
    if (!this.#database.inTransaction) return;
    await super.rollbackTransaction(connection);
  }
}

/** Kysely's SQLite dialect with the adjustments above. */
class DirbridgeSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #database: BetterSqlite3.Database;

  constructor(database: BetterSqlite3.Database) {
    const config: SqliteDialectConfig = { database };
    super(config);
    this.#config = config;
    this.#database = database;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config, this.#database);
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** Opens (creating if needed) the SQLite database in `dataDir` and returns a Kysely instance over it. */
export function createSqliteKysely(dataDir: string): Kysely<Database> {
  const file = join(dataDir, SQLITE_FILE_NAME);
  let database: BetterSqlite3.Database;
  try {
    mkdirSync(dataDir, { recursive: true });
    database = new BetterSqlite3(file, { timeout: BUSY_TIMEOUT_MS });
  } catch (cause) {
    throw new DirbridgeError('store.unavailable', `cannot open the SQLite database ${file}`, { cause, details: { file } });
  }
  try {
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    database.pragma(`cache_size = -${CACHE_KIB}`);
  } catch (cause) {
    database.close();
    throw new DirbridgeError('store.unavailable', `cannot configure the SQLite database ${file}`, { cause, details: { file } });
  }
  return new Kysely<Database>({ dialect: new DirbridgeSqliteDialect(database) });
}
