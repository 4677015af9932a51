/**
 * Migration 0001: users, groups, memberships and sync runs.
 *
 * Types differ per dialect only where SQLite has no equivalent: booleans are BOOLEAN on
 * PostgreSQL and INTEGER 0/1 (with a CHECK) on SQLite. Timestamps are ISO-8601 TEXT on both,
 * so they compare and sort identically; JSON is TEXT on both. Lookup keys (`username_key`,
 * `email_key`, `name_key`) are lower-cased by the store in JavaScript, never by SQL `lower()`,
 * whose Unicode handling differs between the two.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** Builds migration 0001 for the given dialect. */
export function createInitialMigration(dialect: StoreDialect): Migration {
  const booleanType = dialect === 'postgres' ? 'boolean' : 'integer';
  /** Lookup keys and sort columns compare bytewise on both backends (SQLite's BINARY = PostgreSQL's "C"). */
  const keyType = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  /** SQLite lets any integer into an INTEGER column; keep booleans to 0/1 there. */
  const booleanCheck = (column: string) => (dialect === 'sqlite' ? [sql`${sql.ref(column)} in (0, 1)`] : []);

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      let users = db.schema
        .createTable('users')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('username', 'text', (col) => col.notNull())
        .addColumn('username_key', keyType, (col) => col.notNull())
        .addColumn('email', 'text')
        .addColumn('email_key', keyType)
        .addColumn('first_name', 'text', (col) => col.notNull().defaultTo(''))
        .addColumn('last_name', 'text', (col) => col.notNull().defaultTo(''))
        .addColumn('display_name', 'text')
        .addColumn('source', 'text', (col) => col.notNull())
        .addColumn('external_id', 'text')
        .addColumn('dn', 'text')
        .addColumn('is_enabled', booleanType, (col) => col.notNull().defaultTo(sql`true`))
        .addColumn('disabled_by', 'text')
        .addColumn('disabled_reason', 'text')
        .addColumn('is_admin', booleanType, (col) => col.notNull().defaultTo(sql`false`))
        .addColumn('password_hash', 'text')
        .addColumn('missing_runs', 'integer', (col) => col.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .addColumn('last_synced_at', 'text')
        .addUniqueConstraint('users_username_key_key', ['username_key'])
        .addUniqueConstraint('users_external_id_key', ['external_id'])
        .addCheckConstraint('users_source_check', sql`source in ('local', 'directory')`)
        .addCheckConstraint('users_disabled_by_check', sql`disabled_by is null or disabled_by in ('directory', 'sync', 'admin')`)
        .addCheckConstraint('users_missing_runs_check', sql`missing_runs >= 0`);
      for (const [index, check] of [...booleanCheck('is_enabled'), ...booleanCheck('is_admin')].entries()) {
        users = users.addCheckConstraint(`users_boolean_check_${index}`, check);
      }
      await users.execute();
      await db.schema.createIndex('users_email_key_idx').on('users').column('email_key').execute();

      await db.schema
        .createTable('groups')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('external_id', 'text')
        .addColumn('dn', 'text')
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('name_key', keyType, (col) => col.notNull())
        .addColumn('source', 'text', (col) => col.notNull())
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .addUniqueConstraint('groups_external_id_key', ['external_id'])
        .addCheckConstraint('groups_source_check', sql`source in ('local', 'directory')`)
        .execute();
      await db.schema.createIndex('groups_name_key_idx').on('groups').columns(['name_key', 'id']).execute();

      await db.schema
        .createTable('memberships')
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('group_id', 'text', (col) => col.notNull().references('groups.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('memberships_pkey', ['user_id', 'group_id'])
        .execute();
      await db.schema.createIndex('memberships_group_id_idx').on('memberships').column('group_id').execute();

      let runs = db.schema
        .createTable('sync_runs')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('trigger', 'text', (col) => col.notNull())
        .addColumn('is_dry_run', booleanType, (col) => col.notNull())
        .addColumn('status', 'text', (col) => col.notNull())
        .addColumn('reason', 'text')
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('started_at', keyType, (col) => col.notNull())
        .addColumn('finished_at', 'text')
        .addColumn('duration_ms', 'integer')
        .addColumn('counts', 'text', (col) => col.notNull().defaultTo('{}'))
        .addColumn('plan_summary', 'text')
        .addCheckConstraint('sync_runs_trigger_check', sql`trigger in ('cli', 'schedule', 'startup', 'api', 'login')`)
        .addCheckConstraint('sync_runs_status_check', sql`status in ('running', 'succeeded', 'failed', 'refused')`);
      for (const [index, check] of booleanCheck('is_dry_run').entries()) {
        runs = runs.addCheckConstraint(`sync_runs_boolean_check_${index}`, check);
      }
      await runs.execute();
      await db.schema.createIndex('sync_runs_started_at_idx').on('sync_runs').columns(['started_at', 'id']).execute();
    },
  };
}
