/**
 * The store's record of when the directory last changed each password (migration 0009), run
 * against SQLite and PostgreSQL: the column round-trips, and `users.recordPasswordChanges` is a
 * compare-and-set, so a login and a sync that both saw the same change record it (and revoke
 * sessions for it) once. PostgreSQL is required when `CI` is set, as in store-contract.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDirbridgeError } from '../src/errors.ts';
import { MUST_CHANGE_PASSWORD, PASSWORD_NEVER_CHANGED } from '../src/mapping/password-change.ts';
import type { NewUser } from '../src/model/index.ts';
import { openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { createTestDatabase, declareWhenPostgres, postgresProblem } from './helpers/postgres.ts';

type OpenFn = () => Promise<Store>;

// Asked before any suite runs: a busy suite must not starve the connection attempt.
const pgProblem = await postgresProblem();

function describePasswordChangeContract(
  name: string,
  openFn: OpenFn,
  lifecycle: { setup: () => Promise<void>; teardown: () => Promise<void> },
  options: { sharedByInstances: boolean },
): void {
  describe(`store password changes: ${name}`, () => {
    before(lifecycle.setup);
    after(lifecycle.teardown);

    async function withStore<T>(work: (store: Store) => Promise<T>): Promise<T> {
      const store = await openFn();
      try {
        return await work(store);
      } finally {
        await store.close();
      }
    }

    const tag = () => `t${randomBytes(4).toString('hex')}`;
    const user = (prefix: string, name: string, extra: Partial<NewUser> = {}): NewUser => ({
      username: `${prefix}-${name}`,
      source: 'directory',
      externalId: `${prefix}:${name}`,
      ...extra,
    });

    it('keeps the change time of a new and an updated user, sentinels included, normalised to toISOString form', async () => {
      const prefix = tag();
      await withStore(async (store) => {
        const [plain, changed, never, mustChange] = await store.transaction((tx) =>
          tx.users.insert([
            user(prefix, 'plain'),
            user(prefix, 'changed', { passwordChangedAt: '2030-05-01T12:00:00+02:00' }),
            user(prefix, 'never', { passwordChangedAt: PASSWORD_NEVER_CHANGED }),
            user(prefix, 'must', { passwordChangedAt: MUST_CHANGE_PASSWORD }),
          ]),
        );
        assert.ok(plain && changed && never && mustChange);
        assert.equal(plain.passwordChangedAt, null);
        assert.equal((await store.users.get(changed.id))?.passwordChangedAt, '2030-05-01T10:00:00.000Z');
        assert.equal((await store.users.get(never.id))?.passwordChangedAt, PASSWORD_NEVER_CHANGED);
        assert.equal((await store.users.get(mustChange.id))?.passwordChangedAt, MUST_CHANGE_PASSWORD);
        await store.transaction((tx) => tx.users.update([{ id: plain.id, passwordChangedAt: '2030-06-01T00:00:00.000Z' }]));
        const state = await store.runs.loadSyncState();
        assert.equal(state.users.find((candidate) => candidate.id === plain.id)?.passwordChangedAt, '2030-06-01T00:00:00.000Z');
        await assert.rejects(
          store.transaction((tx) => tx.users.update([{ id: plain.id, passwordChangedAt: 'last tuesday' }])),
          (error: unknown) => isDirbridgeError(error, 'usage.invalid'),
        );
      });
    });

    it('records a change only where the stored value is still the one the plan saw', async () => {
      const prefix = tag();
      await withStore(async (store) => {
        const [a, b] = await store.transaction((tx) =>
          tx.users.insert([user(prefix, 'a'), user(prefix, 'b', { passwordChangedAt: '2030-01-01T00:00:00.000Z' })]),
        );
        assert.ok(a && b);
        const first = await store.transaction((tx) =>
          tx.users.recordPasswordChanges([
            { userId: a.id, from: null, to: '2030-02-01T00:00:00Z' },
            { userId: b.id, from: '2030-01-01T00:00:00.000Z', to: '2030-03-01T00:00:00.000Z' },
            { userId: '00000000-0000-4000-8000-000000000000', from: null, to: '2030-02-01T00:00:00.000Z' },
          ]),
        );
        assert.deepEqual(first.sort(), [a.id, b.id].sort());
        // The same changes again: already recorded, so nothing (and nobody's sessions) a second time.
        const again = await store.transaction((tx) =>
          tx.users.recordPasswordChanges([
            { userId: a.id, from: null, to: '2030-02-01T00:00:00.000Z' },
            { userId: b.id, from: '2030-01-01T00:00:00.000Z', to: '2030-03-01T00:00:00.000Z' },
          ]),
        );
        assert.deepEqual(again, []);
        // A stale plan does not overwrite a newer value.
        assert.deepEqual(
          await store.transaction((tx) => tx.users.recordPasswordChanges([{ userId: b.id, from: '2030-01-01T00:00:00.000Z', to: '2030-01-15T00:00:00.000Z' }])),
          [],
        );
        assert.equal((await store.users.get(b.id))?.passwordChangedAt, '2030-03-01T00:00:00.000Z');
        assert.equal((await store.users.get(a.id))?.passwordChangedAt, '2030-02-01T00:00:00.000Z');
        assert.deepEqual(await store.transaction((tx) => tx.users.recordPasswordChanges([])), []);
      });
    });

    // Only PostgreSQL is shared by several instances; SQLite serves one process through one connection.
    it('lets exactly one of two stores racing on the same change record it', {
      skip: options.sharedByInstances ? false : 'SQLite serves one process',
    }, async () => {
      const prefix = tag();
      const one = await openFn();
      const two = await openFn();
      try {
        const [racer] = await one.transaction((tx) => tx.users.insert([user(prefix, 'racer', { passwordChangedAt: '2030-01-01T00:00:00.000Z' })]));
        assert.ok(racer);
        const change = [{ userId: racer.id, from: '2030-01-01T00:00:00.000Z', to: '2030-04-01T00:00:00.000Z' }];
        const results = await Promise.all([
          one.transaction((tx) => tx.users.recordPasswordChanges(change)),
          two.transaction((tx) => tx.users.recordPasswordChanges(change)),
        ]);
        assert.equal(results.flat().length, 1, JSON.stringify(results));
      } finally {
        await one.close();
        await two.close();
      }
    });

    it('records thousands of changes in a few statements', async () => {
      const prefix = tag();
      await withStore(async (store) => {
        const users = await store.transaction((tx) => tx.users.insert(Array.from({ length: 12_000 }, (_, index) => user(prefix, `u${index}`))));
        const recorded = await store.transaction((tx) =>
          tx.users.recordPasswordChanges(
            users.map((created, index) => ({ userId: created.id, from: null, to: new Date(Date.UTC(2030, 0, 1) + index * 1000).toISOString() })),
          ),
        );
        assert.equal(recorded.length, 12_000);
        assert.equal((await store.users.get(users[11_999]?.id ?? ''))?.passwordChangedAt, new Date(Date.UTC(2030, 0, 1) + 11_999 * 1000).toISOString());
      });
    });
  });
}

{
  let dataDir = '';
  describePasswordChangeContract(
    'sqlite',
    () => openStore({ dataDir }),
    {
      setup: async () => {
        dataDir = await mkdtemp(join(tmpdir(), 'dirbridge-store-pwd-'));
      },
      teardown: async () => {
        await rm(dataDir, { recursive: true, force: true });
      },
    },
    { sharedByInstances: false },
  );
}

declareWhenPostgres('store password changes: postgres', pgProblem, () => {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  describePasswordChangeContract(
    'postgres',
    () => openStore({ url: database?.url ?? '', dataDir: '.' }),
    {
      setup: async () => {
        database = await createTestDatabase();
      },
      teardown: async () => {
        await database?.drop();
      },
    },
    { sharedByInstances: true },
  );
});
