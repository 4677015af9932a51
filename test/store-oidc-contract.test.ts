/**
 * The OpenID Connect part of the store (migration 0012, `src/store/oidc-repository.ts`) and the
 * oidc-provider adapter over it (`src/oidc/adapter.ts`), on SQLite and PostgreSQL: payloads by
 * model and id, expiry, consumption, sessions by uid, device codes by user code, revocation by
 * grant (only grant-bound models), clients with hashed secrets and audited changes, and signing
 * keys (one first key even when two stores start at once, rotation retiring the previous key).
 * PostgreSQL is skipped locally when unreachable and FAILS when `CI` is set.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDirbridgeError } from '../src/errors.ts';
import { createOidcAdapter } from '../src/oidc/adapter.ts';
import { openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { createTestDatabase, declareWhenPostgres, postgresProblem } from './helpers/postgres.ts';

const pgProblem = await postgresProblem();
const tag = () => `t${randomBytes(4).toString('hex')}`;
const T0 = Date.parse('2030-01-01T00:00:00.000Z');

function describeOidcContract(name: string, open: () => Promise<Store>, lifecycle: { setup: () => Promise<void>; teardown: () => Promise<void> }): void {
  describe(`oidc store contract: ${name}`, () => {
    let store: Store;
    let other: Store;
    let clock = T0;
    const now = () => new Date(clock);
    before(async () => {
      await lifecycle.setup();
      store = await open();
      other = await open();
    });
    after(async () => {
      await store?.close();
      await other?.close();
      await lifecycle.teardown();
    });

    it('keeps payloads by model and id until they expire, and marks consumption', async () => {
      clock = T0;
      const t = tag();
      const codes = createOidcAdapter(store.oidc, 'AuthorizationCode', now);
      const tokens = createOidcAdapter(store.oidc, 'AccessToken', now);
      await codes.upsert(`c-${t}`, { accountId: `u-${t}`, clientId: `client-${t}`, scope: 'openid', exp: 1 }, 60);
      assert.deepEqual(await codes.find(`c-${t}`), { accountId: `u-${t}`, clientId: `client-${t}`, scope: 'openid', exp: 1 });
      assert.equal(await tokens.find(`c-${t}`), undefined, 'another model does not see it');
      assert.equal(
        await createOidcAdapter(other.oidc, 'AuthorizationCode', now)
          .find(`c-${t}`)
          .then((payload) => payload?.accountId),
        `u-${t}`,
        'another store on the database sees it',
      );

      clock = T0 + 5_000;
      await codes.consume(`c-${t}`);
      assert.equal((await codes.find(`c-${t}`))?.consumed, Math.floor((T0 + 5_000) / 1000));
      clock = T0 + 9_000;
      await codes.consume(`c-${t}`);
      assert.equal((await codes.find(`c-${t}`))?.consumed, Math.floor((T0 + 5_000) / 1000), 'the first consumption stays');
      await codes.upsert(`c-${t}`, { accountId: `u-${t}`, scope: 'openid profile' }, 60);
      const replaced = await codes.find(`c-${t}`);
      assert.equal(replaced?.scope, 'openid profile');
      assert.equal(replaced?.consumed, Math.floor((T0 + 5_000) / 1000), 'a replacement keeps the consumed mark');

      clock = T0 + 70_000;
      assert.equal(await codes.find(`c-${t}`), undefined, 'expired');
      clock = T0;
      assert.ok(await codes.find(`c-${t}`), 'expiry is a read filter until pruned');
      await tokens.upsert(`forever-${t}`, { accountId: `u-${t}` }, undefined);
      assert.ok((await store.oidc.deleteExpiredOidcPayloads(new Date(T0 + 120_000).toISOString())) >= 1);
      clock = T0;
      assert.equal(await codes.find(`c-${t}`), undefined, 'pruned');
      assert.ok(await tokens.find(`forever-${t}`), 'no expiry: never pruned');
      await tokens.destroy(`forever-${t}`);
      assert.equal(await tokens.find(`forever-${t}`), undefined);
    });

    it('finds sessions by uid and device codes by user code', async () => {
      clock = T0;
      const t = tag();
      const sessions = createOidcAdapter(store.oidc, 'Session', now);
      await sessions.upsert(`s-${t}`, { uid: `uid-${t}`, accountId: `acct-${t}` }, 3600);
      assert.equal((await sessions.findByUid(`uid-${t}`))?.accountId, `acct-${t}`);
      assert.equal(await sessions.findByUid(`nope-${t}`), undefined);
      assert.equal(await createOidcAdapter(store.oidc, 'Interaction', now).findByUid(`uid-${t}`), undefined, 'uid is a Session lookup');
      const found = await store.oidc.listOidcPayloadsByAccount('Session', [`acct-${t}`, `other-${t}`], now().toISOString());
      assert.deepEqual(
        found.map((row) => row.id),
        [`s-${t}`],
      );

      const devices = createOidcAdapter(store.oidc, 'DeviceCode', now);
      await devices.upsert(`d-${t}`, { userCode: `UC-${t}`, clientId: 'x' }, 600);
      assert.equal((await devices.findByUserCode(`UC-${t}`))?.clientId, 'x');
      assert.equal(await devices.findByUserCode(`UC-nope-${t}`), undefined);
    });

    it('revokes what was issued under a grant, in every grant-bound model, and nothing else', async () => {
      clock = T0;
      const t = tag();
      const [grant, keep] = [`g-${t}`, `g2-${t}`];
      const adapters = Object.fromEntries(
        ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'Interaction', 'Grant'].map((model) => [model, createOidcAdapter(store.oidc, model, now)]),
      );
      for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode']) {
        await adapters[model]!.upsert(`${model}-${t}`, { grantId: grant }, 600);
        await adapters[model]!.upsert(`${model}-keep-${t}`, { grantId: keep }, 600);
      }
      await adapters['Interaction']!.upsert(`i-${t}`, { grantId: grant }, 600);
      await adapters['Grant']!.upsert(grant, { accountId: 'a', clientId: 'c' }, 600);
      await adapters['RefreshToken']!.revokeByGrantId(grant);
      for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode']) {
        assert.equal(await adapters[model]!.find(`${model}-${t}`), undefined, `${model} revoked`);
        assert.ok(await adapters[model]!.find(`${model}-keep-${t}`), `${model} of another grant kept`);
      }
      assert.ok(await adapters['Interaction']!.find(`i-${t}`), 'an interaction is not grant-bound');
      assert.ok(await adapters['Grant']!.find(grant), 'the grant itself is destroyed by its own model');
    });

    it('registers clients with a hashed secret only, audits every change, and removes what was issued to a removed client', async () => {
      clock = T0;
      const t = tag();
      const id = `client-${t}`;
      const hash = 'a'.repeat(64);
      const base = {
        name: `App ${t}`,
        isFirstParty: false,
        redirectUris: ['https://app.example/cb'],
        postLogoutRedirectUris: [],
        backchannelLogoutUri: null,
        allowedGroups: ['staff'],
      };
      const created = await store.oidc.insertOidcClient(
        { ...base, id, isPublic: false, secretHash: hash },
        { actor: `admin:${t}`, action: 'oidc.client_added', subject: id },
      );
      assert.deepEqual(
        { ...created, createdAt: undefined, updatedAt: undefined },
        { ...base, id, isPublic: false, createdAt: undefined, updatedAt: undefined },
      );
      assert.equal(JSON.stringify(created).includes(hash), false, 'the record never carries the hash');
      assert.deepEqual(await store.oidc.getOidcClient(id), created);
      assert.equal(await store.oidc.getOidcClientSecretHash(id), hash);
      await assert.rejects(
        store.oidc.insertOidcClient({ ...base, id, isPublic: false, secretHash: hash }, { actor: 'x', action: 'oidc.client_added' }),
        (error) => isDirbridgeError(error, 'store.conflict'),
      );
      await assert.rejects(
        store.oidc.insertOidcClient({ ...base, id: `pub-bad-${t}`, isPublic: true, secretHash: hash }, { actor: 'x', action: 'oidc.client_added' }),
        (error) => isDirbridgeError(error, 'usage.invalid'),
      );

      const publicId = `public-${t}`;
      await store.oidc.insertOidcClient(
        { ...base, id: publicId, isPublic: true, secretHash: null, allowedGroups: [] },
        { actor: `admin:${t}`, action: 'oidc.client_added', subject: publicId },
      );
      assert.equal(await store.oidc.getOidcClientSecretHash(publicId), undefined);
      await assert.rejects(store.oidc.setOidcClientSecretHash(publicId, hash, { actor: 'x', action: 'oidc.client_secret_rotated' }), (error) =>
        isDirbridgeError(error, 'store.not_found'),
      );
      const listed = (await store.oidc.listOidcClients()).map((client) => client.id);
      assert.ok(listed.includes(id) && listed.includes(publicId));

      await store.oidc.setOidcClientSecretHash(id, 'b'.repeat(64), { actor: `admin:${t}`, action: 'oidc.client_secret_rotated', subject: id });
      assert.equal(await store.oidc.getOidcClientSecretHash(id), 'b'.repeat(64));

      const tokens = createOidcAdapter(store.oidc, 'RefreshToken', now);
      await tokens.upsert(`rt-${t}`, { clientId: id, grantId: `g-${t}` }, 600);
      await tokens.upsert(`rt-other-${t}`, { clientId: publicId, grantId: `g2-${t}` }, 600);
      assert.equal(await store.oidc.removeOidcClient(id, { actor: `admin:${t}`, action: 'oidc.client_removed', subject: id }), true);
      assert.equal(await store.oidc.removeOidcClient(id, { actor: `admin:${t}`, action: 'oidc.client_removed', subject: id }), false);
      assert.equal(await store.oidc.getOidcClient(id), undefined);
      assert.equal(await tokens.find(`rt-${t}`), undefined, "the removed client's tokens go with it");
      assert.ok(await tokens.find(`rt-other-${t}`));

      const audit = await store.audit.list({ limit: 50, offset: 0 });
      const mine = audit.entries
        .filter((entry) => entry.actor === `admin:${t}`)
        .map((entry) => `${entry.action} ${entry.subject}`)
        .sort();
      assert.deepEqual(
        mine,
        [`oidc.client_added ${id}`, `oidc.client_added ${publicId}`, `oidc.client_removed ${id}`, `oidc.client_secret_rotated ${id}`].sort(),
      );
    });

    it('makes one first signing key when two stores start at once, and a rotation retires the previous key', async () => {
      const t = tag();
      const before = await store.oidc.listOidcSigningKeys();
      assert.equal(before.length, 0, 'a fresh database has no key');
      const at = new Date(T0).toISOString();
      const first1 = () => store.oidc.addOidcSigningKey({ kid: `k1-${t}`, sealedJwk: 'sealed-1', at }, { onlyIfNone: true });
      const first2 = () => other.oidc.addOidcSigningKey({ kid: `k1b-${t}`, sealedJwk: 'sealed-1b', at }, { onlyIfNone: true });
      // Two SQLite stores in one process would block each other's event loop (sqlite.ts): there the write lock serialises processes, not promises.
      const made = store.dialect === 'postgres' ? await Promise.all([first1(), first2()]) : [await first1(), await first2()];
      assert.deepEqual(made.filter(Boolean).length, 1);
      const [first] = await store.oidc.listOidcSigningKeys();
      assert.equal(await store.oidc.addOidcSigningKey({ kid: `k0-${t}`, sealedJwk: 'x', at }, { onlyIfNone: true }), false);

      const later = new Date(T0 + 60_000).toISOString();
      assert.equal(
        await store.oidc.addOidcSigningKey(
          { kid: `k2-${t}`, sealedJwk: 'sealed-2', at: later },
          { onlyIfNone: false, audit: { actor: `admin:${t}`, action: 'oidc.keys_rotated' } },
        ),
        true,
      );
      const keys = await other.oidc.listOidcSigningKeys();
      assert.deepEqual(
        keys.map((key) => [key.kid, key.retiredAt]),
        [
          [first?.kid, later],
          [`k2-${t}`, null],
        ],
      );
      assert.equal(await store.oidc.deleteOidcSigningKeysRetiredBefore(later), 0, 'retired at `later`, not before');
      assert.equal(await store.oidc.deleteOidcSigningKeysRetiredBefore(new Date(T0 + 120_000).toISOString()), 1);
      assert.deepEqual(
        (await store.oidc.listOidcSigningKeys()).map((key) => key.kid),
        [`k2-${t}`],
      );
      const audit = await store.audit.list({ limit: 10, offset: 0, action: 'oidc.keys_rotated' });
      assert.equal(audit.entries.filter((entry) => entry.actor === `admin:${t}`).length, 1);
    });
  });
}

{
  let dataDir = '';
  describeOidcContract('sqlite', () => openStore({ dataDir }), {
    setup: async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'dirbridge-store-oidc-'));
    },
    teardown: async () => {
      await rm(dataDir, { recursive: true, force: true });
    },
  });
}

declareWhenPostgres('oidc store contract: postgres', pgProblem, () => {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  describeOidcContract('postgres', () => openStore({ url: database?.url ?? '', dataDir: '.' }), {
    setup: async () => {
      database = await createTestDatabase();
    },
    teardown: async () => {
      await database?.drop();
    },
  });
});
