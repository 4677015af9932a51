/**
 * Migration 0009: when the directory last changed each user's password (`users.password_changed_at`,
 * an ISO-8601 timestamp as the mapping reads it from `pwdChangedTime`, `pwdUpdateTime` or
 * `pwdLastSet`). NULL until a sync or login has looked: the first value seen is recorded without
 * revoking anything, and a later value that moved forward ends the user's sessions. Existing rows
 * start NULL, so upgrading revokes nothing.
 */
import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** Builds migration 0009 for the given dialect (the same DDL on both). */
export function createPasswordChangedAtMigration(_dialect: StoreDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('users').addColumn('password_changed_at', 'text').execute();
    },
  };
}
