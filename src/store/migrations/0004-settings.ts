/**
 * Migration 0004: the settings document, one row per saved version.
 *
 * - `version` counts from 1; the newest row is the settings in force. Saving inserts
 *   `current + 1`, so two administrators saving at once cannot both win: the second insert
 *   hits the primary key and is reported as a conflict.
 * - `document` is JSON text of everything but the `store` section (where the store is cannot
 *   live in the store). Secret values in it are sealed with AES-256-GCM (`settings/secret-box.ts`).
 * - Old versions are kept: they are the settings' history and allow a rollback by re-import.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** Builds migration 0004 for the given dialect. */
export function createSettingsMigration(dialect: StoreDialect): Migration {
  const keyType = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('settings_versions')
        .addColumn('version', 'integer', (col) => col.primaryKey())
        .addColumn('document', 'text', (col) => col.notNull())
        .addColumn('created_at', keyType, (col) => col.notNull())
        .addColumn('created_by', 'text', (col) => col.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('settings_versions').execute();
    },
  };
}
