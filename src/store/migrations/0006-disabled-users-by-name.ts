/**
 * Migration 0006: disabled users in username order. The users list filters by state (`active`
 * or `disabled`) and pages by `(username_key, id)`. The partial index of 0002 held only the ids
 * of disabled users, so a page of them meant reading and sorting every disabled row (tens of
 * milliseconds on SQLite with 15k of 100k users disabled). This one holds `(username_key, id)`
 * under the same predicate: a page of disabled users reads just that page in order, and it still
 * serves what the old index did (counting disabled users, and the ids whose sessions auto logout
 * revokes), so it replaces it. Active users page through the unique `username_key` index.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** Builds migration 0006 for the given dialect (the same DDL on both). */
export function createDisabledUsersByNameMigration(_dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // The predicate is a literal, as in 0002: queries must spell it the same way to use the index.
      await db.schema.createIndex('users_disabled_username_idx').on('users').columns(['username_key', 'id']).where(sql<boolean>`is_enabled = false`).execute();
      await db.schema.dropIndex('users_disabled_idx').execute();
    },
  };
}
