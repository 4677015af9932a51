/**
 * The shared backend: a `pg` pool over the configured PostgreSQL URL.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';

/** Options for the PostgreSQL pool. */
export interface PostgresOptions {
  /** Pool size; defaults to 10 (sync runs one transaction at a time, the rest is HTTP reads). */
  maxConnections?: number;
  /**
   * Called when an idle pooled connection fails (e.g. the server restarted). pg removes the
   * connection itself and the next query opens a new one; without a listener the process would crash.
   */
  onIdleError?: (error: Error) => void;
}

/** Creates a Kysely instance over a new pool for `url`; no connection is made until the first query. */
export function createPostgresKysely(url: string, options: PostgresOptions = {}): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'dirbridge',
  });
  pool.on('error', options.onIdleError ?? (() => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
