/**
 * Migration 0005: live progress of a running sync. `sync_runs.progress` holds the JSON text of
 * `SyncRunProgress` while the run is `running` (written about once a second and at each phase
 * change, so every instance sharing the database sees it); `finishRun` clears it to NULL.
 */
import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** Builds migration 0005 for the given dialect (the same DDL on both). */
export function createRunProgressMigration(_dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('sync_runs').addColumn('progress', 'text').execute();
    },
  };
}
