/**
 * oidc-provider's storage adapter over dirbridge's store: each model (Session, Interaction, Grant,
 * AuthorizationCode, RefreshToken, ...) is a row of `oidc_payloads`, shared by every instance on
 * the database. Mirrors the library's in-memory adapter: only grant-bound models are revoked with
 * their grant, sessions are found by `uid`, device codes by `userCode`.
 */
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { OidcStore } from '../store/oidc-repository.ts';

/** The models a grant revocation removes (as oidc-provider's memory adapter does). */
const GRANT_BOUND_MODELS: ReadonlySet<string> = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/** A string property of a payload, or null. */
const stringOf = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** The adapter for one model. */
export function createOidcAdapter(store: OidcStore, model: string, now: () => Date): Adapter {
  const toPayload = (record: { payload: Record<string, unknown>; consumedAt: string | null } | undefined): AdapterPayload | undefined => {
    if (record === undefined) return undefined;
    const payload = { ...record.payload } as AdapterPayload;
    if (record.consumedAt !== null) payload.consumed = Math.floor(Date.parse(record.consumedAt) / 1000);
    return payload;
  };
  return {
    async upsert(id, payload, expiresIn) {
      const at = now();
      await store.upsertOidcPayload({
        model,
        id,
        payload: { ...payload },
        grantId: GRANT_BOUND_MODELS.has(model) ? stringOf(payload.grantId) : null,
        uid: model === 'Session' ? stringOf(payload.uid) : null,
        userCode: stringOf(payload.userCode),
        expiresAt: typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? new Date(at.getTime() + expiresIn * 1000).toISOString() : null,
      });
    },
    async find(id) {
      return toPayload(await store.findOidcPayload(model, id, now().toISOString()));
    },
    async findByUid(uid) {
      return toPayload(await store.findOidcPayloadByUid(model, uid, now().toISOString()));
    },
    async findByUserCode(userCode) {
      return toPayload(await store.findOidcPayloadByUserCode(model, userCode, now().toISOString()));
    },
    async consume(id) {
      await store.consumeOidcPayload(model, id, now().toISOString());
    },
    async destroy(id) {
      await store.destroyOidcPayload(model, id);
    },
    async revokeByGrantId(grantId) {
      await store.revokeOidcGrant(grantId);
    },
  };
}

/** The adapter constructor oidc-provider's `adapter` option takes. */
export function oidcAdapterClass(store: OidcStore, now: () => Date): new (model: string) => Adapter {
  return class StoreAdapter {
    constructor(model: string) {
      // A constructor may return an object: each model gets its own adapter over the one store.
      // biome-ignore lint/correctness/noConstructorReturn: oidc-provider instantiates the adapter class with `new`
      return createOidcAdapter(store, model, now);
    }
  } as unknown as new (
    model: string,
  ) => Adapter;
}
