/**
 * Migration 0007: the login throttle reserves before it guesses, and remembers where users signed in.
 *
 * - `login_failures` rows become attempts: `status` is `pending` from the moment an attempt is
 *   reserved (before the directory is asked) until it is settled, then `failed`; a released attempt
 *   (not a guess: the directory was down, or it was refused) is deleted. `attempt_id` ties the rows
 *   of one attempt together (one per key), `settled_at` says when it became `failed`. Rows written
 *   before this migration are failures.
 * - `login_known_addresses`: one row per throttle subject (`user:<name>`, `account:<id>`) and client
 *   address (IPv4, or IPv6 /64) with the time of the last successful login from it.
 *
 * Timestamps are ISO-8601 TEXT, compared bytewise (`collate "C"` on PostgreSQL), as in 0002.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** Builds migration 0007 for the given dialect. */
export function createLoginAttemptsMigration(dialect: StoreDialect): Migration {
  const keyType = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // One column per statement: SQLite's ALTER TABLE adds one at a time.
      await db.schema.alterTable('login_failures').addColumn('attempt_id', 'text').execute();
      await db.schema
        .alterTable('login_failures')
        .addColumn('status', 'text', (col) => col.notNull().defaultTo('failed'))
        .execute();
      await db.schema.alterTable('login_failures').addColumn('settled_at', keyType).execute();
      await db.schema.createIndex('login_failures_attempt_id_idx').on('login_failures').column('attempt_id').execute();

      await db.schema
        .createTable('login_known_addresses')
        .addColumn('subject_key', keyType, (col) => col.notNull())
        .addColumn('address', keyType, (col) => col.notNull())
        .addColumn('last_success_at', keyType, (col) => col.notNull())
        .addPrimaryKeyConstraint('login_known_addresses_pkey', ['subject_key', 'address'])
        .execute();
      await db.schema.createIndex('login_known_addresses_last_success_at_idx').on('login_known_addresses').column('last_success_at').execute();
    },
  };
}
