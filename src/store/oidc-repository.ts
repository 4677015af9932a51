/**
 * The OpenID Connect provider's part of the store (migration 0012): oidc-provider's persisted
 * models, registered clients and sealed signing keys. Every instance sharing the database sees
 * the same sessions, grants, codes and tokens, so a flow may start on one and end on another.
 */
import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { DirbridgeError } from '../errors.ts';
import type { NewAuditEntry, Timestamp } from '../model/index.ts';
import { withDbErrors } from './db-errors.ts';
import type { AuditAppender } from './login-attempts-repository.ts';
import { normalizeTimestamp, readBoolean, writeBoolean } from './rows.ts';
import type { Database, OidcClientsTable } from './schema.ts';
import type { StoreDialect } from './store.ts';

/** One persisted model instance, as oidc-provider's adapter hands it over. */
export interface OidcPayloadRecord {
  payload: Record<string, unknown>;
  expiresAt: Timestamp | null;
  consumedAt: Timestamp | null;
}

/** What an upsert stores: the payload and its lookup columns (the adapter decides which apply to a model). */
export interface OidcPayloadWrite {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  /** The grant it was issued under, for `revokeOidcGrant`. */
  grantId: string | null;
  /** A session's `uid`. */
  uid: string | null;
  /** A device code's `userCode`. */
  userCode: string | null;
  expiresAt: Timestamp | null;
}

/** A registered relying party (the secret itself is never stored). */
export interface OidcClientRecord {
  id: string;
  name: string;
  isPublic: boolean;
  /** First-party clients skip the consent page. */
  isFirstParty: boolean;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  backchannelLogoutUri: string | null;
  /** Group names whose members may use the client; empty means every enabled user. */
  allowedGroups: string[];
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

/** A client to register; `secretHash` is null exactly when the client is public. */
export type NewOidcClient = Omit<OidcClientRecord, 'createdAt' | 'updatedAt'> & { secretHash: string | null };

/** A signing key as stored: the private JWK sealed with the secret key. */
export interface OidcSigningKeyRecord {
  kid: string;
  sealedJwk: string;
  createdAt: Timestamp;
  retiredAt: Timestamp | null;
}

/** The OpenID Connect provider's part of the store. */
export interface OidcStore {
  /** Inserts or replaces a model instance (its consumed mark is kept across replacements). */
  upsertOidcPayload(write: OidcPayloadWrite): Promise<void>;
  /** A model instance by id; undefined when absent or expired at `now`. */
  findOidcPayload(model: string, id: string, now: Timestamp): Promise<OidcPayloadRecord | undefined>;
  /** A model instance by its `uid` (sessions); undefined when absent or expired at `now`. */
  findOidcPayloadByUid(model: string, uid: string, now: Timestamp): Promise<OidcPayloadRecord | undefined>;
  /** A model instance by its `userCode` (device flow); undefined when absent or expired at `now`. */
  findOidcPayloadByUserCode(model: string, userCode: string, now: Timestamp): Promise<OidcPayloadRecord | undefined>;
  /** Marks a model instance consumed at `at` (the first mark stays). */
  consumeOidcPayload(model: string, id: string, at: Timestamp): Promise<void>;
  destroyOidcPayload(model: string, id: string): Promise<void>;
  /** Deletes everything issued under a grant, every model; returns how many rows went. */
  revokeOidcGrant(grantId: string): Promise<number>;
  /** Payloads of `model` whose JSON `accountId` is one of `accountIds` (e.g. a user's sessions). */
  listOidcPayloadsByAccount(model: string, accountIds: readonly string[], now: Timestamp): Promise<Array<{ id: string } & OidcPayloadRecord>>;
  /** Deletes rows expired before `before`; returns how many. */
  deleteExpiredOidcPayloads(before: Timestamp): Promise<number>;

  /** Registers a client and appends `audit` in the same transaction; a taken id throws `store.conflict`. */
  insertOidcClient(client: NewOidcClient, audit: NewAuditEntry): Promise<OidcClientRecord>;
  getOidcClient(id: string): Promise<OidcClientRecord | undefined>;
  /** The stored SHA-256 of a confidential client's secret; undefined for unknown or public clients. */
  getOidcClientSecretHash(id: string): Promise<string | undefined>;
  /** Every client, by name. */
  listOidcClients(): Promise<OidcClientRecord[]>;
  /** Removes a client with everything issued to it, and audits; false when there was none. */
  removeOidcClient(id: string, audit: NewAuditEntry): Promise<boolean>;
  /** Replaces a confidential client's secret hash, and audits; throws `store.not_found` for unknown or public clients. */
  setOidcClientSecretHash(id: string, secretHash: string, audit: NewAuditEntry): Promise<void>;

  /** Every signing key, oldest first. */
  listOidcSigningKeys(): Promise<OidcSigningKeyRecord[]>;
  /**
   * Adds a key, retiring at `at` every key not yet retired, and audits (`audit` may be omitted for
   * the first key made on start); when `onlyIfNone` is set and a key exists, adds nothing and
   * returns false (two instances starting at once make one key).
   */
  addOidcSigningKey(key: { kid: string; sealedJwk: string; at: Timestamp }, options: { onlyIfNone: boolean; audit?: NewAuditEntry }): Promise<boolean>;
  /** Deletes keys retired before `before`; returns how many. */
  deleteOidcSigningKeysRetiredBefore(before: Timestamp): Promise<number>;
}

const parseStrings = (text: string): string[] => {
  const value: unknown = JSON.parse(text);
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
};

function toClientRecord(row: OidcClientsTable): OidcClientRecord {
  return {
    id: row.id,
    name: row.name,
    isPublic: readBoolean(row.is_public),
    isFirstParty: readBoolean(row.is_first_party),
    redirectUris: parseStrings(row.redirect_uris),
    postLogoutRedirectUris: parseStrings(row.post_logout_redirect_uris),
    backchannelLogoutUri: row.backchannel_logout_uri,
    allowedGroups: parseStrings(row.allowed_groups),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toPayloadRecord(row: { payload: string; expires_at: Timestamp | null; consumed_at: Timestamp | null }): OidcPayloadRecord {
  const payload: unknown = JSON.parse(row.payload);
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new DirbridgeError('store.corrupt', 'a stored OpenID Connect payload is not a JSON object');
  }
  return { payload: payload as Record<string, unknown>, expiresAt: row.expires_at, consumedAt: row.consumed_at };
}

/** Creates the OpenID Connect part of the store over an open, migrated Kysely instance. */
export function createOidcRepository(db: Kysely<Database>, dialect: StoreDialect, appendAudit: AuditAppender, now: () => Date): OidcStore {
  const payloads = () => db.selectFrom('oidc_payloads').select(['id', 'payload', 'expires_at', 'consumed_at']);
  const unexpired = (at: Timestamp) => (eb: ExpressionBuilder<Database, 'oidc_payloads'>) =>
    eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', normalizeTimestamp(at, 'now'))]);
  const findBy = (action: string, column: 'id' | 'uid' | 'user_code') => (model: string, value: string, at: Timestamp) =>
    withDbErrors(action, async () => {
      const row = await payloads().where('model', '=', model).where(column, '=', value).where(unexpired(at)).executeTakeFirst();
      return row === undefined ? undefined : toPayloadRecord(row);
    });

  return {
    upsertOidcPayload: ({ model, id, payload, grantId, uid, userCode, expiresAt }) =>
      withDbErrors('save OpenID Connect state', async () => {
        const row = {
          model,
          id,
          payload: JSON.stringify(payload),
          grant_id: grantId,
          uid,
          user_code: userCode,
          expires_at: expiresAt === null ? null : normalizeTimestamp(expiresAt, 'expiresAt'),
          consumed_at: null,
        };
        await db
          .insertInto('oidc_payloads')
          .values(row)
          .onConflict((oc) =>
            oc
              .columns(['model', 'id'])
              .doUpdateSet({ payload: row.payload, grant_id: row.grant_id, uid: row.uid, user_code: row.user_code, expires_at: row.expires_at }),
          )
          .execute();
      }),
    findOidcPayload: findBy('read OpenID Connect state', 'id'),
    findOidcPayloadByUid: findBy('read an OpenID Connect session', 'uid'),
    findOidcPayloadByUserCode: findBy('read an OpenID Connect device code', 'user_code'),
    consumeOidcPayload: (model, id, at) =>
      withDbErrors('consume OpenID Connect state', async () => {
        await db
          .updateTable('oidc_payloads')
          .set({ consumed_at: normalizeTimestamp(at, 'at') })
          .where('model', '=', model)
          .where('id', '=', id)
          .where('consumed_at', 'is', null)
          .execute();
      }),
    destroyOidcPayload: (model, id) =>
      withDbErrors('delete OpenID Connect state', async () => {
        await db.deleteFrom('oidc_payloads').where('model', '=', model).where('id', '=', id).execute();
      }),
    revokeOidcGrant: (grantId) =>
      withDbErrors('revoke an OpenID Connect grant', async () => {
        const result = await db.deleteFrom('oidc_payloads').where('grant_id', '=', grantId).executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
    listOidcPayloadsByAccount: (model, accountIds, at) =>
      withDbErrors('read OpenID Connect sessions', async () => {
        if (accountIds.length === 0) return [];
        const accountId = dialect === 'postgres' ? sql<string>`(payload::json ->> 'accountId')` : sql<string>`json_extract(payload, '$.accountId')`;
        const rows = await payloads()
          .where('model', '=', model)
          .where(accountId, 'in', [...accountIds])
          .where(unexpired(at))
          .execute();
        return rows.map((row) => ({ id: row.id, ...toPayloadRecord(row) }));
      }),
    deleteExpiredOidcPayloads: (before) =>
      withDbErrors('prune OpenID Connect state', async () => {
        const result = await db.deleteFrom('oidc_payloads').where('expires_at', '<', normalizeTimestamp(before, 'before')).executeTakeFirst();
        return Number(result.numDeletedRows);
      }),

    insertOidcClient: (client, audit) =>
      withDbErrors('register an OpenID Connect client', () =>
        db.transaction().execute(async (trx) => {
          if (client.isPublic !== (client.secretHash === null)) {
            throw new DirbridgeError('usage.invalid', 'a public client has no secret and a confidential client needs one');
          }
          const at = now().toISOString();
          const row: OidcClientsTable = {
            id: client.id,
            name: client.name,
            secret_hash: client.secretHash,
            is_public: writeBoolean(dialect, client.isPublic),
            is_first_party: writeBoolean(dialect, client.isFirstParty),
            redirect_uris: JSON.stringify(client.redirectUris),
            post_logout_redirect_uris: JSON.stringify(client.postLogoutRedirectUris),
            backchannel_logout_uri: client.backchannelLogoutUri,
            allowed_groups: JSON.stringify(client.allowedGroups),
            created_at: at,
            updated_at: at,
          };
          await trx.insertInto('oidc_clients').values(row).execute();
          await appendAudit(trx, [audit]);
          return toClientRecord(row);
        }),
      ),
    getOidcClient: (id) =>
      withDbErrors('read an OpenID Connect client', async () => {
        const row = await db.selectFrom('oidc_clients').selectAll().where('id', '=', id).executeTakeFirst();
        return row === undefined ? undefined : toClientRecord(row);
      }),
    getOidcClientSecretHash: (id) =>
      withDbErrors('read an OpenID Connect client', async () => {
        const row = await db.selectFrom('oidc_clients').select('secret_hash').where('id', '=', id).executeTakeFirst();
        return row?.secret_hash ?? undefined;
      }),
    listOidcClients: () =>
      withDbErrors('list OpenID Connect clients', async () => {
        const rows = await db.selectFrom('oidc_clients').selectAll().orderBy('name').orderBy('id').execute();
        return rows.map(toClientRecord);
      }),
    removeOidcClient: (id, audit) =>
      withDbErrors('remove an OpenID Connect client', () =>
        db.transaction().execute(async (trx) => {
          const result = await trx.deleteFrom('oidc_clients').where('id', '=', id).executeTakeFirst();
          if (Number(result.numDeletedRows) === 0) return false;
          // Codes, tokens and grants issued to it: payloads name their client in `clientId` (grants in `clientId` too).
          const clientId = dialect === 'postgres' ? sql<string>`(payload::json ->> 'clientId')` : sql<string>`json_extract(payload, '$.clientId')`;
          await trx.deleteFrom('oidc_payloads').where(clientId, '=', id).execute();
          await appendAudit(trx, [audit]);
          return true;
        }),
      ),
    setOidcClientSecretHash: (id, secretHash, audit) =>
      withDbErrors('rotate an OpenID Connect client secret', () =>
        db.transaction().execute(async (trx) => {
          const result = await trx
            .updateTable('oidc_clients')
            .set({ secret_hash: secretHash, updated_at: now().toISOString() })
            .where('id', '=', id)
            .where('secret_hash', 'is not', null)
            .executeTakeFirst();
          if (Number(result.numUpdatedRows) === 0) throw new DirbridgeError('store.not_found', `no confidential OpenID Connect client ${JSON.stringify(id)}`);
          await appendAudit(trx, [audit]);
        }),
      ),

    listOidcSigningKeys: () =>
      withDbErrors('read the OpenID Connect signing keys', async () => {
        const rows = await db.selectFrom('oidc_signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute();
        return rows.map((row) => ({ kid: row.kid, sealedJwk: row.sealed_jwk, createdAt: row.created_at, retiredAt: row.retired_at }));
      }),
    addOidcSigningKey: (key, options) =>
      withDbErrors('add an OpenID Connect signing key', () =>
        db.transaction().execute(async (trx) => {
          // Serialises concurrent first starts on PostgreSQL; SQLite's write transaction already does.
          if (dialect === 'postgres') await sql`lock table oidc_signing_keys in share row exclusive mode`.execute(trx);
          if (options.onlyIfNone) {
            const existing = await trx.selectFrom('oidc_signing_keys').select('kid').limit(1).executeTakeFirst();
            if (existing !== undefined) return false;
          }
          const at = normalizeTimestamp(key.at, 'at');
          await trx.updateTable('oidc_signing_keys').set({ retired_at: at }).where('retired_at', 'is', null).execute();
          await trx.insertInto('oidc_signing_keys').values({ kid: key.kid, sealed_jwk: key.sealedJwk, created_at: at, retired_at: null }).execute();
          if (options.audit !== undefined) await appendAudit(trx, [options.audit]);
          return true;
        }),
      ),
    deleteOidcSigningKeysRetiredBefore: (before) =>
      withDbErrors('prune OpenID Connect signing keys', async () => {
        const result = await db.deleteFrom('oidc_signing_keys').where('retired_at', '<', normalizeTimestamp(before, 'before')).executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
  };
}
