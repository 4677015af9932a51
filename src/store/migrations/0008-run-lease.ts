/**
 * Migration 0008: a lease on each running sync run, so that a run whose process is gone (killed,
 * rebooted, cut off from the store) is recorded as interrupted instead of staying `running`.
 *
 * - `owner`: the instance running it (`host:pid:random`), for the record and the reaper's message;
 * - `heartbeat_at`: when the owner last renewed the lease, by the database's clock;
 * - `lease_expires_at`: until when the run counts as alive, by the database's clock. The owner
 *   renews it on a timer; any instance may record a run whose lease has expired as `failed`
 *   with the reason `interrupted`.
 *
 * Runs left `running` by earlier versions get a lease of one hour from the migration: long
 * enough for a run an older instance is still doing during a rolling upgrade to finish, and
 * then they are recorded as interrupted like any other.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import { databaseNow } from '../db-clock.ts';
import type { StoreDialect } from '../store.ts';

/** The lease given to runs already `running` when the migration runs. */
const LEGACY_RUN_LEASE_MS = 60 * 60 * 1_000;

/** Builds migration 0008 for the given dialect. */
export function createRunLeaseMigration(dialect: StoreDialect): Migration {
  /** Timestamps compare bytewise on both backends, as the lookup keys of 0001 do. */
  const timestampType = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('sync_runs').addColumn('owner', 'text').execute();
      await db.schema.alterTable('sync_runs').addColumn('heartbeat_at', timestampType).execute();
      await db.schema.alterTable('sync_runs').addColumn('lease_expires_at', timestampType).execute();
      await sql`update sync_runs set heartbeat_at = started_at, lease_expires_at = ${databaseNow(dialect, LEGACY_RUN_LEASE_MS)} where status = 'running'`.execute(
        db,
      );
      // The reaper's query: running runs by lease expiry. The predicate is a literal, so the query must spell it the same way.
      await db.schema.createIndex('sync_runs_running_lease_idx').on('sync_runs').column('lease_expires_at').where(sql<boolean>`status = 'running'`).execute();
    },
  };
}
