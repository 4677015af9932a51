/**
 * The shared backend: a `pg` pool over the configured PostgreSQL URL, made safe for a server
 * that restarts or goes away:
 * - every pooled client has an 'error' listener from the moment it connects. pg-pool listens
 *   only on idle clients; a client checked out by a transaction between two statements would
 *   otherwise emit 'error' with no listener when the server ends its session, and crash the
 *   process. The query waiting on that client fails instead, and the pool drops the client;
 * - a ROLLBACK that fails because the connection is gone is not allowed to replace the error
 *   that made the transaction fail: the server rolls back a transaction whose session ended;
 * - each session tells the server to probe for a vanished client after 30 s (`pg-session.ts`),
 *   so a transaction of a machine that rebooted does not hold its rows for two hours.
 */
import { type DatabaseConnection, type Driver, Kysely, PostgresDialect, type PostgresDialectConfig, PostgresDriver } from 'kysely';
import pg from 'pg';
import { DirbridgeError } from '../errors.ts';
import { translateDbError } from './db-errors.ts';
import { CLIENT_KEEPALIVE_DELAY_MS, detectDeadClients } from './pg-session.ts';
import type { Database } from './schema.ts';

/** Options for the PostgreSQL pool. */
export interface PostgresOptions {
  /** Pool size; defaults to 10 (sync runs one transaction at a time, the rest is HTTP reads). */
  maxConnections?: number;
  /**
   * Told when a pooled connection fails, idle or checked out (e.g. the server restarted). The
   * query using it (if any) fails with the error; pg drops the connection and the next query
   * opens a new one. Without a listener the process would crash.
   */
  onConnectionError?: (error: Error) => void;
}

/** Kysely's driver, with a rollback on a lost connection that keeps the transaction's own error. */
class LostConnectionSafePostgresDriver extends PostgresDriver {
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await super.rollbackTransaction(connection);
    } catch (error) {
      const translated = translateDbError(error, 'roll back a transaction');
      // The session is gone, and its transaction with it: the error that failed the transaction is the one to report.
      if (translated instanceof DirbridgeError && translated.code === 'store.unavailable') return;
      throw error;
    }
  }
}

/** Kysely's PostgreSQL dialect with that driver. */
class DirbridgePostgresDialect extends PostgresDialect {
  readonly #config: PostgresDialectConfig;

  constructor(config: PostgresDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new LostConnectionSafePostgresDriver(this.#config);
  }
}

/** Creates a Kysely instance over a new pool for `url`; no connection is made until the first query. */
export function createPostgresKysely(url: string, options: PostgresOptions = {}): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'dirbridge',
    keepAlive: true,
    keepAliveInitialDelayMillis: CLIENT_KEEPALIVE_DELAY_MS,
  });
  const onError = options.onConnectionError ?? (() => {});
  // Idle clients: pg-pool removes the client and emits on the pool.
  pool.on('error', onError);
  pool.on('connect', (client) => {
    // Every client, also while a transaction holds it: the pending query fails, the process does not.
    client.on('error', onError);
    // Queued before any query of the one who checked it out.
    void detectDeadClients(client);
  });
  return new Kysely<Database>({ dialect: new DirbridgePostgresDialect({ pool }) });
}
