/**
 * Migration 0012: the OpenID Connect provider's state (issue #12), shared by every instance.
 *
 * - `oidc_payloads`: what oidc-provider persists through its adapter (sessions, interactions,
 *   grants, authorization codes, refresh tokens, ...), one row per model name and id, the
 *   payload as JSON text. `grant_id`, `uid` and `user_code` are copied out of the payload for the
 *   adapter's lookups; `expires_at` lets reads ignore and pruning delete expired rows;
 *   `consumed_at` marks a used authorization code or rotated refresh token.
 * - `oidc_clients`: registered relying parties. Only a SHA-256 of a confidential client's
 *   secret is kept; redirect URIs and allowed groups are JSON arrays of strings.
 * - `oidc_signing_keys`: the provider's signing keys, each private JWK sealed with the secret
 *   key as the bind password is. The newest key not retired signs; retired keys stay published
 *   until `retired_at` plus the longest token lifetime.
 */
import { type Kysely, type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store.ts';

/** Builds migration 0012 for the given dialect. */
export function createOidcMigration(dialect: StoreDialect): Migration {
  const booleanType = dialect === 'postgres' ? 'boolean' : 'integer';
  /** Keys and timestamps compare bytewise on both backends, as in 0001. */
  const keyType = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('oidc_payloads')
        .addColumn('model', keyType, (col) => col.notNull())
        .addColumn('id', keyType, (col) => col.notNull())
        .addColumn('payload', 'text', (col) => col.notNull())
        .addColumn('grant_id', keyType)
        .addColumn('uid', keyType)
        .addColumn('user_code', keyType)
        .addColumn('expires_at', keyType)
        .addColumn('consumed_at', keyType)
        .addPrimaryKeyConstraint('oidc_payloads_pkey', ['model', 'id'])
        .execute();
      await db.schema.createIndex('oidc_payloads_grant_id_idx').on('oidc_payloads').column('grant_id').where(sql<boolean>`grant_id is not null`).execute();
      await db.schema.createIndex('oidc_payloads_uid_idx').on('oidc_payloads').columns(['model', 'uid']).where(sql<boolean>`uid is not null`).execute();
      await db.schema
        .createIndex('oidc_payloads_user_code_idx')
        .on('oidc_payloads')
        .columns(['model', 'user_code'])
        .where(sql<boolean>`user_code is not null`)
        .execute();
      await db.schema
        .createIndex('oidc_payloads_expires_at_idx')
        .on('oidc_payloads')
        .column('expires_at')
        .where(sql<boolean>`expires_at is not null`)
        .execute();

      let clients = db.schema
        .createTable('oidc_clients')
        .addColumn('id', keyType, (col) => col.primaryKey())
        .addColumn('name', 'text', (col) => col.notNull())
        .addColumn('secret_hash', 'text')
        .addColumn('is_public', booleanType, (col) => col.notNull())
        .addColumn('is_first_party', booleanType, (col) => col.notNull())
        .addColumn('redirect_uris', 'text', (col) => col.notNull())
        .addColumn('post_logout_redirect_uris', 'text', (col) => col.notNull().defaultTo('[]'))
        .addColumn('backchannel_logout_uri', 'text')
        .addColumn('allowed_groups', 'text', (col) => col.notNull().defaultTo('[]'))
        .addColumn('created_at', keyType, (col) => col.notNull())
        .addColumn('updated_at', keyType, (col) => col.notNull())
        // A public client has no secret, a confidential one always has one.
        .addCheckConstraint(
          'oidc_clients_secret_check',
          dialect === 'postgres' ? sql`is_public = (secret_hash is null)` : sql`(is_public = 1) = (secret_hash is null)`,
        );
      if (dialect === 'sqlite') {
        clients = clients.addCheckConstraint('oidc_clients_boolean_check', sql`is_public in (0, 1) and is_first_party in (0, 1)`);
      }
      await clients.execute();

      await db.schema
        .createTable('oidc_signing_keys')
        .addColumn('kid', keyType, (col) => col.primaryKey())
        .addColumn('sealed_jwk', 'text', (col) => col.notNull())
        .addColumn('created_at', keyType, (col) => col.notNull())
        .addColumn('retired_at', keyType)
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('oidc_signing_keys').execute();
      await db.schema.dropTable('oidc_clients').execute();
      await db.schema.dropTable('oidc_payloads').execute();
    },
  };
}
