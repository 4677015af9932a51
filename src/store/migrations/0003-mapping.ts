/**
 * Migration 0003: what role/channel/team mapping keeps — role grants, channels and teams with
 * their members, custom fields, ABAC attributes and avatars.
 *
 * Same conventions as 0001/0002: timestamps are ISO-8601 TEXT; names and keys that are sorted
 * are `collate "C"` on PostgreSQL so they order bytewise, as on SQLite. Every per-user table
 * cascades from `users`, and member tables also from their channel or team.
 *
 * - `channels.name_key` / `teams.name_key` hold the lower-cased name (computed by the store)
 *   and are unique: names are unique case-insensitively.
 * - `user_abac_attributes` keeps every value of a multi-valued attribute with its `position`,
 *   so values come back in the order they were set (duplicates included).
 * - `avatars.data` is BLOB on SQLite and BYTEA on PostgreSQL; `content_hash` tells the mapping
 *   whether an image changed without reading it.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** Builds migration 0003 for the given dialect. */
export function createMappingMigration(dialect: StoreDialect): Migration {
  const keyType = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  const bytesType = dialect === 'postgres' ? 'bytea' : 'blob';

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('user_roles')
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('role', keyType, (col) => col.notNull())
        .addPrimaryKeyConstraint('user_roles_pkey', ['user_id', 'role'])
        .execute();
      await db.schema.createIndex('user_roles_role_idx').on('user_roles').column('role').execute();

      await db.schema
        .createTable('channels')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('name_key', keyType, (col) => col.notNull())
        .addColumn('owner_username', 'text')
        .addColumn('source', 'text', (col) => col.notNull())
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addUniqueConstraint('channels_name_key_key', ['name_key'])
        .addCheckConstraint('channels_source_check', sql`source in ('local', 'directory')`)
        .execute();

      await db.schema
        .createTable('channel_members')
        .addColumn('channel_id', 'text', (col) => col.notNull().references('channels.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('channel_members_pkey', ['channel_id', 'user_id'])
        .execute();
      await db.schema.createIndex('channel_members_user_id_idx').on('channel_members').column('user_id').execute();

      await db.schema
        .createTable('teams')
        .addColumn('id', 'text', (col) => col.primaryKey())
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('name_key', keyType, (col) => col.notNull())
        .addColumn('source', 'text', (col) => col.notNull())
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addUniqueConstraint('teams_name_key_key', ['name_key'])
        .addCheckConstraint('teams_source_check', sql`source in ('local', 'directory')`)
        .execute();

      await db.schema
        .createTable('team_members')
        .addColumn('team_id', 'text', (col) => col.notNull().references('teams.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('team_members_pkey', ['team_id', 'user_id'])
        .execute();
      await db.schema.createIndex('team_members_user_id_idx').on('team_members').column('user_id').execute();

      await db.schema
        .createTable('user_custom_fields')
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('field', keyType, (col) => col.notNull())
        .addColumn('value', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('user_custom_fields_pkey', ['user_id', 'field'])
        .execute();

      await db.schema
        .createTable('user_abac_attributes')
        .addColumn('user_id', 'text', (col) => col.notNull().references('users.id').onDelete('cascade'))
        .addColumn('attribute', keyType, (col) => col.notNull())
        .addColumn('value', 'text', (col) => col.notNull())
        .addColumn('position', 'integer', (col) => col.notNull())
        .addPrimaryKeyConstraint('user_abac_attributes_pkey', ['user_id', 'attribute', 'position'])
        .addCheckConstraint('user_abac_attributes_position_check', sql`position >= 0`)
        .execute();

      await db.schema
        .createTable('avatars')
        .addColumn('user_id', 'text', (col) => col.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('content_hash', 'text', (col) => col.notNull())
        .addColumn('mime_type', 'text', (col) => col.notNull())
        .addColumn('data', bytesType, (col) => col.notNull())
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .execute();
    },
  };
}
