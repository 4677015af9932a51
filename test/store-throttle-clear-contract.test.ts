/**
 * An administrator clearing the login throttle of one account (`loginAttempts.clearFailures` in
 * `src/store/login-attempts-repository.ts`), on SQLite and PostgreSQL: what is deleted (failed and abandoned
 * attempts under the account's keys and under the other names the account was tried by), what is
 * kept (other accounts, addresses, attempts still running), and the audit entry written in the same
 * transaction. PostgreSQL is skipped locally when unreachable and FAILS when `CI` is set.
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

const pgProblem = await postgresProblem();
const MINUTE = 60_000;
const tag = () => `t${randomBytes(4).toString('hex')}`;
const shift = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();

/** Records attempt `attemptId` under `keys` at `at`, settled as `outcome` (`pending` leaves it running). */
async function attempt(store: Store, keys: string[], at: string, outcome: 'failed' | 'pending', attemptId: string = randomUUID()): Promise<string> {
  await store.loginAttempts.lockKeys(keys, (tx) => tx.insertPendingAttempt(attemptId, keys, at));
  if (outcome === 'failed') await store.loginAttempts.settle(attemptId, 'failed', at);
  return attemptId;
}

function describeClearContract(name: string, open: () => Promise<Store>, lifecycle: { setup: () => Promise<void>; teardown: () => Promise<void> }): void {
  describe(`throttle clearing store contract: ${name}`, () => {
    let store: Store;
    before(async () => {
      await lifecycle.setup();
      store = await open();
    });
    after(async () => {
      await store?.close();
      await lifecycle.teardown();
    });

    it("deletes the account's failed and abandoned attempts under its name, its account and the other names it was tried by, and audits it in the same transaction", async () => {
      const t = tag();
      const t0 = '1993-01-01T00:00:00.000Z';
      const [owner, cn, mail, other, account, otherAccount, address] = ['owner', 'owner cn', 'owner@x', 'other', 'account-1', 'account-2', '192.0.2.1'].map(
        (key) => `${key}:${t}`,
      );
      const keys = {
        owner: `user:${owner}`,
        cn: `user:${cn}`,
        mail: `user:${mail}`,
        other: `user:${other}`,
        account: `account:${account}`,
        otherAccount: `account:${otherAccount}`,
        address: `address:${address}`,
      };
      // Guesses under three names that reached the account, one that never got past its name, one at
      // another account from the same address, one abandoned by a process that died, one still running.
      await attempt(store, [keys.owner, keys.address, keys.account], t0, 'failed');
      await attempt(store, [keys.cn, keys.address, keys.account], shift(t0, MINUTE), 'failed');
      await attempt(store, [keys.mail, keys.account], shift(t0, 2 * MINUTE), 'failed');
      await attempt(store, [keys.owner, keys.address], shift(t0, 3 * MINUTE), 'failed');
      await attempt(store, [keys.other, keys.address, keys.otherAccount], shift(t0, 4 * MINUTE), 'failed');
      await attempt(store, [keys.owner, keys.account], shift(t0, 5 * MINUTE), 'pending');
      const running = await attempt(store, [keys.owner, keys.account], shift(t0, 20 * MINUTE), 'pending');
      const all = Object.values(keys);
      assert.deepEqual(await store.loginAttempts.count(all, t0), {
        [keys.owner]: 4,
        [keys.cn]: 1,
        [keys.mail]: 1,
        [keys.other]: 1,
        [keys.account]: 5,
        [keys.otherAccount]: 1,
        [keys.address]: 4,
      });

      const audits: unknown[] = [];
      const cleared = await store.loginAttempts.clearFailures({
        nameKeys: [keys.owner],
        accountKey: keys.account,
        abandonedBefore: shift(t0, 10 * MINUTE),
        audit: (what) => {
          audits.push(what);
          return {
            actor: `admin:${t}`,
            action: 'login.throttle_cleared',
            subject: owner,
            reason: `cleared ${what.attempts}`,
            details: { attempts: what.attempts, keys: what.keys },
          };
        },
      });
      assert.deepEqual(cleared, { attempts: 5, keys: { [keys.owner]: 3, [keys.cn]: 1, [keys.mail]: 1, [keys.account]: 4 } });
      assert.deepEqual(audits, [cleared]);
      assert.deepEqual(
        await store.loginAttempts.count(all, t0),
        { [keys.owner]: 1, [keys.cn]: 0, [keys.mail]: 0, [keys.other]: 1, [keys.account]: 1, [keys.otherAccount]: 1, [keys.address]: 4 },
        'the running attempt, the other account and the addresses stay',
      );
      const audit = await store.audit.list({ limit: 5, offset: 0, action: 'login.throttle_cleared' });
      const entry = audit.entries.find((candidate) => candidate.actor === `admin:${t}`);
      assert.deepEqual([entry?.subject, entry?.reason, entry?.details], [owner, 'cleared 5', { attempts: 5, keys: cleared.keys }]);

      // The running attempt settles as usual afterwards.
      await store.loginAttempts.settle(running, 'failed', shift(t0, 21 * MINUTE));
      assert.deepEqual(await store.loginAttempts.count([keys.owner, keys.account], t0), { [keys.owner]: 1, [keys.account]: 1 });
    });

    it('clears a local account by its name alone, and audits a clearing that found nothing', async () => {
      const t = tag();
      const t0 = '1993-02-01T00:00:00.000Z';
      const [local, account] = [`user:local-${t}`, `account:${t}`];
      await attempt(store, [local], t0, 'failed');
      await attempt(store, [account], t0, 'failed');
      assert.deepEqual(
        await store.loginAttempts.clearFailures({
          nameKeys: [local],
          abandonedBefore: t0,
          audit: () => ({ actor: `admin:${t}`, action: 'login.throttle_cleared' }),
        }),
        { attempts: 1, keys: { [local]: 1 } },
      );
      assert.deepEqual(await store.loginAttempts.count([local, account], t0), { [local]: 0, [account]: 1 });
      assert.deepEqual(
        await store.loginAttempts.clearFailures({
          nameKeys: [local],
          abandonedBefore: t0,
          audit: () => ({ actor: `admin:${t}`, action: 'login.throttle_cleared', reason: 'again' }),
        }),
        { attempts: 0, keys: {} },
      );
      const audit = await store.audit.list({ limit: 10, offset: 0, action: 'login.throttle_cleared' });
      assert.equal(audit.entries.filter((entry) => entry.actor === `admin:${t}`).length, 2);
    });

    it('writes nothing when the audit entry cannot be made', async () => {
      const t = tag();
      const t0 = '1993-03-01T00:00:00.000Z';
      const name = `user:${t}`;
      await attempt(store, [name], t0, 'failed');
      await assert.rejects(
        store.loginAttempts.clearFailures({
          nameKeys: [name],
          abandonedBefore: t0,
          audit: () => {
            throw new Error('no audit entry');
          },
        }),
        /no audit entry/,
      );
      assert.deepEqual(await store.loginAttempts.count([name], t0), { [name]: 1 }, 'rolled back');
    });
  });
}

{
  let dataDir = '';
  describeClearContract('sqlite', () => openStore({ dataDir }), {
    setup: async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'dirbridge-store-throttle-clear-'));
    },
    teardown: async () => {
      await rm(dataDir, { recursive: true, force: true });
    },
  });
}

declareWhenPostgres('throttle clearing store contract: postgres', pgProblem, () => {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  describeClearContract('postgres', () => openStore({ url: database?.url ?? '', dataDir: '.' }), {
    setup: async () => {
      database = await createTestDatabase();
    },
    teardown: async () => {
      await database?.drop();
    },
  });
});
