/**
 * Migration 0011: write-back (issue #10), every row keyed by `directory_id` ('default' today).
 *
 * - `writeback_outbox`: one row per write step of an administrator's action, delivered in
 *   (action_id, seq) order; the change is a DirectoryChange as JSON text. Rows are never dropped:
 *   pending (with backoff), failed (shown, retried on request) or done.
 * - `writeback_baselines`: per directory object and field, what both sides held before
 *   dirbridge's local change, and the change marker read with the entry. A row exists only while
 *   dirbridge's value may differ from the directory's; for every other object the store's own
 *   values are the last-seen values.
 * - `writeback_conflicts`: fields both sides changed, the winner, and how an administrator resolved it.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** Builds migration 0011 for the given dialect. */
export function createWriteBackMigration(dialect: StoreDialect): Migration {
  /** Keys and timestamps compare bytewise on both backends, as in 0001. */
  const keyType = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('writeback_outbox')
        .addColumn('id', keyType, (col) => col.primaryKey())
        .addColumn('directory_id', keyType, (col) => col.notNull())
        .addColumn('action_id', keyType, (col) => col.notNull())
        .addColumn('seq', 'integer', (col) => col.notNull())
        .addColumn('step_kind', 'text', (col) => col.notNull())
        .addColumn('subject', 'text', (col) => col.notNull())
        .addColumn('object_kind', 'text', (col) => col.notNull())
        .addColumn('object_id', keyType, (col) => col.notNull())
        .addColumn('change', 'text', (col) => col.notNull())
        .addColumn('reason', 'text', (col) => col.notNull())
        .addColumn('actor', 'text', (col) => col.notNull())
        .addColumn('status', 'text', (col) => col.notNull())
        .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('next_attempt_at', keyType, (col) => col.notNull())
        .addColumn('last_error_code', 'text')
        .addColumn('last_error', 'text')
        .addColumn('created_at', keyType, (col) => col.notNull())
        .addColumn('updated_at', keyType, (col) => col.notNull())
        .addUniqueConstraint('writeback_outbox_action_seq_key', ['action_id', 'seq'])
        .addCheckConstraint('writeback_outbox_status_check', sql`status in ('pending', 'failed', 'done')`)
        .addCheckConstraint('writeback_outbox_object_kind_check', sql`object_kind in ('user', 'group')`)
        .execute();
      await db.schema.createIndex('writeback_outbox_due_idx').on('writeback_outbox').columns(['directory_id', 'status', 'next_attempt_at']).execute();

      await db.schema
        .createTable('writeback_baselines')
        .addColumn('directory_id', keyType, (col) => col.notNull())
        .addColumn('object_kind', 'text', (col) => col.notNull())
        .addColumn('object_id', keyType, (col) => col.notNull())
        .addColumn('field', keyType, (col) => col.notNull())
        /** JSON text: string[] (empty when the field was absent). */
        .addColumn('baseline', 'text', (col) => col.notNull())
        .addColumn('change_marker', 'text')
        .addColumn('updated_at', keyType, (col) => col.notNull())
        .addPrimaryKeyConstraint('writeback_baselines_pkey', ['directory_id', 'object_kind', 'object_id', 'field'])
        .addCheckConstraint('writeback_baselines_object_kind_check', sql`object_kind in ('user', 'group')`)
        .execute();

      await db.schema
        .createTable('writeback_conflicts')
        .addColumn('id', keyType, (col) => col.primaryKey())
        .addColumn('directory_id', keyType, (col) => col.notNull())
        .addColumn('object_kind', 'text', (col) => col.notNull())
        .addColumn('object_id', keyType, (col) => col.notNull())
        .addColumn('subject', 'text', (col) => col.notNull())
        .addColumn('field', 'text', (col) => col.notNull())
        .addColumn('winner', 'text', (col) => col.notNull())
        .addColumn('directory_value', 'text', (col) => col.notNull())
        .addColumn('dirbridge_value', 'text', (col) => col.notNull())
        .addColumn('baseline', 'text', (col) => col.notNull())
        .addColumn('created_at', keyType, (col) => col.notNull())
        .addColumn('resolved_at', keyType)
        .addColumn('resolved_by', 'text')
        .addColumn('resolution', 'text')
        .addCheckConstraint('writeback_conflicts_winner_check', sql`winner in ('directory', 'dirbridge')`)
        .addCheckConstraint('writeback_conflicts_resolution_check', sql`resolution is null or resolution in ('keep', 'restore')`)
        .execute();
      await db.schema.createIndex('writeback_conflicts_open_idx').on('writeback_conflicts').columns(['directory_id', 'resolved_at', 'created_at']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('writeback_conflicts').execute();
      await db.schema.dropTable('writeback_baselines').execute();
      await db.schema.dropTable('writeback_outbox').execute();
    },
  };
}
