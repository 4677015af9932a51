/**
 * Migration 0013: incremental sync (issue #11).
 *
 * - `sync_cursors`: where each change feed was last read, per directory id and scope (`users`,
 *   `groups`): the source (`contentSync`, `dirSync`, `usnChanged`, `modifyTimestamp`), its
 *   position (a cookie in base64, a USN or a timestamp), the server identity the position is
 *   only valid on, and a fingerprint of the settings it was read with. A mismatch of either
 *   makes the next run a full one.
 * - `directory_groups`: the group entries as the directory last showed them (mapped, with their
 *   direct member values), so an incremental run resolves memberships, nested ones included,
 *   without reading every group again. Written by every full and incremental run that applies.
 * - `sync_runs.mode` (`full` / `incremental`), `sync_runs.mode_reason` (why a run that could have
 *   been incremental read everything) and `sync_runs.entries_read`.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** Builds migration 0013 for the given dialect. */
export function createIncrementalSyncMigration(dialect: StoreDialect): Migration {
  /** Keys compare bytewise on both backends, as in 0001. */
  const keyType = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('sync_cursors')
        .addColumn('directory_id', keyType, (col) => col.notNull())
        .addColumn('scope', keyType, (col) => col.notNull())
        .addColumn('source', 'text', (col) => col.notNull())
        .addColumn('position', 'text')
        .addColumn('server_identity', 'text')
        .addColumn('settings_fingerprint', 'text', (col) => col.notNull())
        .addColumn('updated_at', keyType, (col) => col.notNull())
        .addPrimaryKeyConstraint('sync_cursors_pkey', ['directory_id', 'scope'])
        .execute();
      await db.schema
        .createTable('directory_groups')
        .addColumn('directory_id', keyType, (col) => col.notNull())
        .addColumn('external_id', keyType, (col) => col.notNull())
        .addColumn('content', 'text', (col) => col.notNull())
        .addColumn('content_hash', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('directory_groups_pkey', ['directory_id', 'external_id'])
        .execute();
      await db.schema.alterTable('sync_runs').addColumn('mode', 'text').execute();
      await db.schema.alterTable('sync_runs').addColumn('mode_reason', 'text').execute();
      await db.schema.alterTable('sync_runs').addColumn('entries_read', 'integer').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('sync_runs').dropColumn('entries_read').execute();
      await db.schema.alterTable('sync_runs').dropColumn('mode_reason').execute();
      await db.schema.alterTable('sync_runs').dropColumn('mode').execute();
      await db.schema.dropTable('directory_groups').execute();
      await db.schema.dropTable('sync_cursors').execute();
    },
  };
}
