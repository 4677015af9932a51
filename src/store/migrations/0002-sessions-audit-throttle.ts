/**
 * Migration 0002: administrators' notes on users, login sessions, the audit log and the
 * login-failure log the throttle counts.
 *
 * Same conventions as 0001: timestamps are ISO-8601 TEXT, and columns that are compared or
 * sorted are `collate "C"` on PostgreSQL so they order bytewise, as on SQLite.
 *
 * - `sessions.user_id` cascades: a deleted user's sessions go with them.
 * - `audit_log.user_id` is NOT a foreign key: the audit trail outlives the users it is about
 *   (and a `user.deleted` entry may be written after the row is gone). It keeps the id of a
 *   deleted user so that user's history stays queryable.
 * - `audit_log.id` is a UUIDv7 generated in order by the store, so `(at, id)` is the log's order.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** Builds migration 0002 for the given dialect. */
export function createSessionsAuditThrottleMigration(dialect: StoreDialect): Migration {
  const keyType = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('users').addColumn('notes', 'text').execute();
      // Lets "sessions of disabled users" read the few disabled ids instead of every user row.
      await db.schema.createIndex('users_disabled_idx').on('users').column('id').where(sql<boolean>`is_enabled = false`).execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('token_hash', 'text', (col) => col.notNull())
        .addColumn('created_at', keyType, (col) => col.notNull())
        .addColumn('expires_at', keyType, (col) => col.notNull())
        .addColumn('last_seen_at', keyType)
        .addColumn('revoked_at', keyType)
        .addColumn('revoked_reason', 'text')
        .addColumn('client_address', 'text')
        .addUniqueConstraint('sessions_token_hash_key', ['token_hash'])
        .execute();
      // Also serves the cascade from users and a user's sessions newest first.
      await db.schema.createIndex('sessions_user_id_idx').on('sessions').columns(['user_id', 'created_at']).execute();
      await db.schema.createIndex('sessions_expires_at_idx').on('sessions').column('expires_at').execute();
      await db.schema.createIndex('sessions_revoked_at_idx').on('sessions').column('revoked_at').execute();

      await db.schema
        .createTable('audit_log')
        .addColumn('id', keyType, (col) => col.primaryKey())
        .addColumn('at', keyType, (col) => col.notNull())
        .addColumn('actor', 'text', (col) => col.notNull())
        .addColumn('action', 'text', (col) => col.notNull())
        .addColumn('user_id', 'text')
        .addColumn('subject', 'text')
        .addColumn('reason', 'text')
        .addColumn('details', 'text')
        .execute();
      await db.schema.createIndex('audit_log_at_idx').on('audit_log').columns(['at', 'id']).execute();
      await db.schema.createIndex('audit_log_user_id_at_idx').on('audit_log').columns(['user_id', 'at', 'id']).execute();
      await db.schema.createIndex('audit_log_action_at_idx').on('audit_log').columns(['action', 'at', 'id']).execute();

      await db.schema
        .createTable('login_failures')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('failure_key', 'text', (col) => col.notNull())
        .addColumn('at', keyType, (col) => col.notNull())
        .execute();
      await db.schema.createIndex('login_failures_key_at_idx').on('login_failures').columns(['failure_key', 'at']).execute();
      await db.schema.createIndex('login_failures_at_idx').on('login_failures').column('at').execute();
    },
  };
}
