/**
 * The login throttle's store contract (`src/store/login-attempts-repository.ts`), on SQLite and PostgreSQL:
 * reservations that are atomic under concurrency (on PostgreSQL across two stores, as two instances
 * would be), settling, success, known addresses and pruning. PostgreSQL is skipped locally when
 * unreachable and FAILS when `CI` is set.
 *
 * Each test works under its own random tag, on its own timeline, and asserts only on its own keys.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { createTestDatabase, declareWhenPostgres, postgresProblem } from './helpers/postgres.ts';
import { rejectsWithCode } from './helpers/rejects.ts';

/** Asked before any suite starts (a running suite could delay the answer past its timeout). */
const pgProblem = await postgresProblem();
const MINUTE = 60_000;
const tag = () => `t${randomBytes(4).toString('hex')}`;
const shift = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

/** Reserves one attempt under `keys` when every key has fewer than `limit` attempts since `since`; true when it did. */
function reserve(store: Store, keys: string[], limit: number, at: string, since: string, attemptId: string = randomUUID()): Promise<boolean> {
  return store.loginAttempts.lockKeys(keys, async (tx) => {
    const counts = await tx.countAttempts(keys, since);
    if (keys.some((key) => (counts[key] ?? 0) >= limit)) return false;
    await tx.insertPendingAttempt(attemptId, keys, at);
    return true;
  });
}

/**
 * `isShared`: the backend takes a second store on the same database (PostgreSQL: a second instance).
 * better-sqlite3 waits for a busy database synchronously, so two SQLite stores in one process would
 * block each other; SQLite serves one process, and its test uses one store.
 */
function describeLoginAttemptContract(
  name: string,
  open: () => Promise<Store>,
  isShared: boolean,
  lifecycle: { setup: () => Promise<void>; teardown: () => Promise<void> },
): void {
  describe(`login attempts store contract: ${name}`, () => {
    let store: Store;
    let second: Store;
    before(async () => {
      await lifecycle.setup();
      store = await open();
      second = isShared ? await open() : store;
    });
    after(async () => {
      await store?.close();
      if (second !== store) await second?.close();
      await lifecycle.teardown();
    });

    it('counts pending and failed attempts per key from `since` on, and forgets released ones', async () => {
      const t = tag();
      const t0 = '1992-01-01T00:00:00.000Z';
      const alice = `user:${t}-alice`;
      const address = `address:${t}-192.0.2.1`;
      const [a1, a2, a3] = [randomUUID(), randomUUID(), randomUUID()];
      assert.equal(await reserve(store, [alice, address, alice], 10, t0, t0, a1), true);
      assert.equal(await reserve(store, [alice], 10, shift(t0, MINUTE), t0, a2), true);
      assert.equal(await reserve(store, [address], 10, shift(t0, 2 * MINUTE), t0, a3), true);
      assert.deepEqual(
        await store.loginAttempts.count([alice, address, `user:${t}-nobody`], t0),
        { [alice]: 2, [address]: 2, [`user:${t}-nobody`]: 0 },
        'one row per distinct key',
      );
      assert.deepEqual(await store.loginAttempts.count([alice, address], shift(t0, MINUTE)), { [alice]: 1, [address]: 1 }, '`since` is inclusive');
      assert.deepEqual(await store.loginAttempts.count([`USER:${t}-ALICE`], t0), { [`USER:${t}-ALICE`]: 0 }, 'keys are exact');
      assert.deepEqual(await store.loginAttempts.count([], t0), {});

      await store.loginAttempts.settle(a1, 'failed', shift(t0, 3 * MINUTE));
      await store.loginAttempts.settle(a2, 'released', shift(t0, 3 * MINUTE));
      assert.deepEqual(
        await store.loginAttempts.count([alice, address], t0),
        { [alice]: 1, [address]: 2 },
        'a failure still counts, a released attempt does not',
      );
      await store.loginAttempts.settle(a1, 'released', shift(t0, 4 * MINUTE));
      assert.deepEqual(await store.loginAttempts.count([alice, address], t0), { [alice]: 0, [address]: 1 });
    });

    it('lets exactly `limit` of many concurrent reservations through (on PostgreSQL across two stores sharing the database)', async () => {
      const t = tag();
      const t0 = '1993-01-01T00:00:00.000Z';
      const user = `user:${t}-target`;
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, index) => reserve(index % 2 === 0 ? store : second, [user, `address:${t}-${index % 5}`], 5, t0, t0)),
      );
      assert.equal(results.filter(Boolean).length, 5);
      assert.deepEqual(await store.loginAttempts.count([user], t0), { [user]: 5 });
      // Keys in opposite orders on the two stores: locks are taken in one global order, so nothing deadlocks.
      const a = `address:${t}-a`;
      const b = `address:${t}-b`;
      const crossed = await Promise.all(
        Array.from({ length: 20 }, (_, index) => reserve(index % 2 === 0 ? store : second, index % 2 === 0 ? [a, b] : [b, a], 100, t0, t0)),
      );
      assert.ok(crossed.every(Boolean));
    });

    it('counts what a directory read may not show yet: pending attempts, and failures settled after the read began', async () => {
      const t = tag();
      const t0 = '1994-01-01T00:00:00.000Z';
      const account = `account:${t}`;
      const [settledEarly, settledLate, pendingYoung, pendingOld] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      await reserve(store, [account], 10, t0, t0, pendingOld);
      await reserve(store, [account], 10, t0, t0, settledEarly);
      await reserve(store, [account], 10, t0, t0, settledLate);
      await reserve(store, [account], 10, shift(t0, 5 * MINUTE), t0, pendingYoung);
      await store.loginAttempts.settle(settledEarly, 'failed', shift(t0, MINUTE));
      await store.loginAttempts.settle(settledLate, 'failed', shift(t0, 3 * MINUTE));
      await store.loginAttempts.settle(settledLate, 'failed', shift(t0, 9 * MINUTE));
      // A read that began at t0+2min: it shows settledEarly, not settledLate; pendingOld (reserved at t0) is abandoned when pending rows count from t0+1min.
      assert.equal(
        await store.loginAttempts.lockKeys([account], (tx) =>
          tx.countUnsettledAttempts(account, { pendingSince: shift(t0, MINUTE), settledSince: shift(t0, 2 * MINUTE) }),
        ),
        2,
      );
      assert.equal(
        await store.loginAttempts.lockKeys([account], (tx) => tx.countUnsettledAttempts(account, { pendingSince: t0, settledSince: shift(t0, 2 * MINUTE) })),
        3,
      );
      assert.equal(await store.loginAttempts.lockKeys([account], (tx) => tx.countUnsettledAttempts(account, { pendingSince: t0, settledSince: t0 })), 4);
      assert.equal(
        await store.loginAttempts.lockKeys([account], (tx) => tx.countUnsettledAttempts(`${account}-other`, { pendingSince: t0, settledSince: t0 })),
        0,
      );
    });

    it('after a success forgets failures and abandoned attempts, keeps attempts still running, and remembers the address', async () => {
      const t = tag();
      const t0 = '1995-01-01T00:00:00.000Z';
      const name = `user:${t}-bob`;
      const account = `account:${t}-bob`;
      const address = `address:${t}-198.51.100.9`;
      const [failed, abandoned, running, own] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      await reserve(store, [name, account, address], 10, t0, t0, failed);
      await store.loginAttempts.settle(failed, 'failed', shift(t0, 1000));
      await reserve(store, [name, account], 10, t0, t0, abandoned);
      await reserve(store, [name, account], 10, shift(t0, 9 * MINUTE), t0, running);
      await reserve(store, [name, account], 10, shift(t0, 10 * MINUTE), t0, own);
      assert.deepEqual(await store.loginAttempts.count([name, account, address], t0), { [name]: 4, [account]: 4, [address]: 1 });

      await store.loginAttempts.recordSuccess({
        attemptId: own,
        clearKeys: [name, account],
        abandonedBefore: shift(t0, 8 * MINUTE),
        knownAddress: { keys: [name, account], address: '198.51.100.9', at: shift(t0, 10 * MINUTE) },
      });
      assert.deepEqual(
        await store.loginAttempts.count([name, account, address], t0),
        { [name]: 1, [account]: 1, [address]: 1 },
        'only the running attempt is left under the subject; the address keeps its failure',
      );
      await store.loginAttempts.settle(running, 'failed', shift(t0, 11 * MINUTE));
      assert.deepEqual(await store.loginAttempts.count([name], t0), { [name]: 1 }, 'the running attempt settles as a failure after all');

      const known = (keys: string[], at: string, since: string) => store.loginAttempts.lockKeys(keys, (tx) => tx.knownAddressKeys(keys, at, since));
      assert.deepEqual((await known([name, account, `user:${t}-eve`], '198.51.100.9', t0)).sort(), [account, name].sort());
      assert.deepEqual(await known([name], '198.51.100.10', t0), []);
      assert.deepEqual(await known([name], '198.51.100.9', shift(t0, 11 * MINUTE)), [], 'older than `since`');
      await store.loginAttempts.recordSuccess({
        attemptId: randomUUID(),
        clearKeys: [name],
        abandonedBefore: t0,
        knownAddress: { keys: [name], address: '198.51.100.9', at: shift(t0, 20 * MINUTE) },
      });
      assert.deepEqual(await known([name], '198.51.100.9', shift(t0, 11 * MINUTE)), [name], 'a later success moves the time forward');
    });

    it('prunes attempts per key prefix and known addresses by age', async () => {
      const t = tag();
      // Far in the past, so this test's prune bounds reach no other test's rows.
      const t0 = '1970-01-02T00:00:00.000Z';
      const name = `user:${t}`;
      const address = `address:${t}`;
      await reserve(store, [name, address], 10, t0, t0);
      await reserve(store, [name, address], 10, shift(t0, 10 * MINUTE), t0);
      await store.loginAttempts.recordSuccess({
        attemptId: randomUUID(),
        clearKeys: [],
        abandonedBefore: t0,
        knownAddress: { keys: [`account:${t}`], address: '192.0.2.77', at: t0 },
      });
      const deleted = await store.loginAttempts.prune({
        attempts: [{ keyPrefix: 'address:', before: shift(t0, MINUTE) }],
        knownAddressesBefore: shift(t0, MINUTE),
      });
      assert.ok(deleted >= 2, `deleted ${deleted}`);
      assert.deepEqual(await store.loginAttempts.count([name, address], t0), { [name]: 2, [address]: 1 });
      assert.deepEqual(await store.loginAttempts.lockKeys([`account:${t}`], (tx) => tx.knownAddressKeys([`account:${t}`], '192.0.2.77', t0)), []);
      await store.loginAttempts.prune({
        attempts: [
          { keyPrefix: 'user:', before: shift(t0, 11 * MINUTE) },
          { keyPrefix: 'address:', before: shift(t0, 11 * MINUTE) },
        ],
        knownAddressesBefore: t0,
      });
      assert.deepEqual(await store.loginAttempts.count([name, address], t0), { [name]: 0, [address]: 0 });
    });

    it('refuses timestamps it cannot read and more keys than an attempt has', async () => {
      await rejectsWithCode(store.loginAttempts.count(['user:x'], 'an hour ago'), 'usage.invalid');
      await rejectsWithCode(reserve(store, ['user:x'], 1, 'now', '1970-01-01T00:00:00.000Z'), 'usage.invalid');
      await rejectsWithCode(store.loginAttempts.settle(randomUUID(), 'failed', 'later'), 'usage.invalid');
      await rejectsWithCode(
        store.loginAttempts.lockKeys(
          Array.from({ length: 17 }, (_, index) => `user:${index}`),
          async () => undefined,
        ),
        'usage.invalid',
      );
    });
  });
}

{
  let dataDir = '';
  describeLoginAttemptContract('sqlite', () => openStore({ dataDir }), false, {
    setup: async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'dirbridge-store-throttle-'));
    },
    teardown: async () => {
      await rm(dataDir, { recursive: true, force: true });
    },
  });
}

declareWhenPostgres('login attempts store contract: postgres', pgProblem, () => {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  describeLoginAttemptContract('postgres', () => openStore({ url: database?.url ?? '', dataDir: '.' }), true, {
    setup: async () => {
      database = await createTestDatabase();
    },
    teardown: async () => {
      await database?.drop();
    },
  });
});
