import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MEMORY_BASE_DN, memoryDirectory, randomOrganisation } from '../../test/helpers/memory-directory.ts';
import { DirbridgeError } from '../errors.ts';
import { validateSettings } from '../settings/load.ts';
import { openStore } from '../store/open-store.ts';
import type { Store } from '../store/store.ts';
import { reapInterruptedRuns } from './reap-runs.ts';
import type { RunLeaseTiming } from './run-lease.ts';
import { createSyncService } from './run-sync.ts';

const away = () => new DirbridgeError('store.unavailable', 'database unavailable while trying to do something');

describe("a sync run's lease", () => {
  let dataDir: string;
  let store: Store;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dirbridge-run-lease-'));
  });

  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  /** A fresh store (its own file), with `override` laid over it; the sync service on it. */
  async function setUp(override: (real: Store) => Partial<Store>, timing: RunLeaseTiming, users = 60) {
    store = await openStore({ dataDir: await mkdtemp(join(dataDir, 'store-')) });
    const real = store;
    const wrapped: Store = { ...real, ...override(real) };
    const settings = validateSettings(
      {
        directory: { urls: ['ldap://127.0.0.1:1'] },
        users: { baseDn: MEMORY_BASE_DN },
        groups: { baseDn: `ou=groups,${MEMORY_BASE_DN}` },
        sync: { batchSize: 10 },
        store: { dataDir },
      },
      'test',
    );
    const directory = memoryDirectory(randomOrganisation({ seed: 3, users }));
    const sync = createSyncService({
      store: wrapped,
      settings,
      openDirectory: async () => directory,
      owner: 'test-host:1:aaa',
      leaseTiming: timing,
      recordRetryMs: 50,
    });
    return { sync, real };
  }

  it('is renewed on its own timer while a long phase writes no progress, so it is never reaped', async () => {
    const reaped: string[] = [];
    const { sync, real } = await setUp(
      (store) => ({
        // Planning that takes four leases, with no progress written meanwhile.
        runs: {
          ...store.runs,
          loadSyncState: async () => {
            for (let i = 0; i < 8; i += 1) {
              await sleep(100);
              reaped.push(...(await reapInterruptedRuns(store, 'other instance')).map((run) => run.id));
            }
            return store.runs.loadSyncState();
          },
        },
      }),
      { leaseMs: 200, renewEveryMs: 30, reapEveryMs: 50 },
    );
    try {
      const result = await sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'succeeded', result.reason ?? '');
      assert.deepEqual(reaped, []);
      const run = await real.runs.get(result.runId);
      assert.equal(run?.status, 'succeeded');
      assert.ok(
        Date.parse(run?.heartbeatAt ?? '') - Date.parse(run?.startedAt ?? '') >= 600,
        `renewed during the run: ${run?.startedAt} → ${run?.heartbeatAt}`,
      );
    } finally {
      await real.close();
    }
  });

  it('stops before its next write once its record was recorded as interrupted elsewhere', async () => {
    let transactions = 0;
    let usersAtReap = -1;
    const { sync, real } = await setUp(
      (store) => ({
        // The lease cannot be renewed (the store refuses), so it expires; after two batches another instance reaps the run.
        runs: {
          ...store.runs,
          renewLease: async () => {
            throw away();
          },
        },
        transaction: async (work) => {
          transactions += 1;
          if (transactions === 3) {
            await sleep(400);
            assert.equal((await reapInterruptedRuns(store, 'other instance')).length, 1);
            usersAtReap = (await store.users.list({ limit: 1, offset: 0 })).total;
          }
          return store.transaction(work);
        },
      }),
      { leaseMs: 250, renewEveryMs: 40, reapEveryMs: 60 },
    );
    try {
      const result = await sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'failed');
      assert.equal(result.reason, 'interrupted');
      assert.equal(transactions, 3, 'no batch after the reap');
      assert.equal((await real.users.list({ limit: 1, offset: 0 })).total, usersAtReap, 'nothing written after the reap');
      const run = await real.runs.get(result.runId);
      assert.equal(run?.status, 'failed');
      assert.equal(run?.errorCode, 'sync.interrupted', "the reaper's record stands");
      assert.match(run?.errorMessage ?? '', /other instance/);
    } finally {
      await real.close();
    }
  });

  it('records its own failure, with the real cause, when the store comes back before the lease expires', async () => {
    let transactions = 0;
    let finishAttempts = 0;
    const { sync, real } = await setUp(
      (store) => ({
        transaction: async (work) => {
          transactions += 1;
          if (transactions === 2) throw away();
          return store.transaction(work);
        },
        runs: {
          ...store.runs,
          finish: async (id, outcome) => {
            finishAttempts += 1;
            if (finishAttempts <= 3) throw away();
            return store.runs.finish(id, outcome);
          },
        },
      }),
      { leaseMs: 5_000, renewEveryMs: 500, reapEveryMs: 1_000 },
    );
    try {
      const result = await sync.runSync({ trigger: 'api', isDryRun: false });
      assert.equal(result.status, 'failed');
      assert.equal(result.reason, 'interrupted');
      assert.equal(finishAttempts, 4);
      const run = await real.runs.get(result.runId);
      assert.equal(run?.status, 'failed');
      assert.equal(run?.reason, 'interrupted');
      assert.equal(run?.errorCode, 'store.unavailable');
      assert.equal(run?.progress, null);
    } finally {
      await real.close();
    }
  });

  it('gives up when the store stays away past the lease, leaves the run to any reaper, and can run again', async () => {
    let isAway = true;
    const { sync, real } = await setUp(
      (store) => ({
        transaction: async (work) => {
          if (isAway) throw away();
          return store.transaction(work);
        },
        runs: {
          ...store.runs,
          finish: async (id, outcome) => {
            if (isAway) throw away();
            return store.runs.finish(id, outcome);
          },
          renewLease: async (id, lease) => {
            if (isAway) throw away();
            return store.runs.renewLease(id, lease);
          },
        },
      }),
      { leaseMs: 400, renewEveryMs: 60, reapEveryMs: 100 },
    );
    try {
      const started = Date.now();
      let runId = '';
      await assert.rejects(sync.runSync({ trigger: 'cli', isDryRun: false, onStarted: (id) => (runId = id) }), (error: unknown) => {
        assert.ok(error instanceof DirbridgeError);
        assert.equal(error.code, 'store.unavailable');
        assert.match(error.message, /could not be recorded.*interrupted once its lease expires/);
        return true;
      });
      assert.ok(Date.now() - started < 5_000, 'it stopped trying within about a lease');
      assert.equal((await real.runs.get(runId))?.status, 'running');
      await sleep(200);
      const [reaped] = await reapInterruptedRuns(real, 'other instance');
      assert.equal(reaped?.id, runId);
      assert.equal(reaped?.reason, 'interrupted');
      isAway = false;
      const again = await sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(again.status, 'succeeded', 'the service is not stuck as running');
    } finally {
      await real.close();
    }
  });

  it('stops before its next write when its run lock is lost for good, and records why', async () => {
    let transactions = 0;
    const lockLost = new AbortController();
    const { sync, real } = await setUp(
      (store) => ({
        transaction: async (work) => {
          transactions += 1;
          if (transactions === 2)
            lockLost.abort(new Error('the job lock "background-sync" was lost: its connection to PostgreSQL dropped and another instance took it'));
          return store.transaction(work);
        },
      }),
      { leaseMs: 5_000, renewEveryMs: 500, reapEveryMs: 1_000 },
    );
    try {
      const result = await sync.runSync({ trigger: 'schedule', isDryRun: false, signal: lockLost.signal });
      assert.equal(result.status, 'failed');
      assert.equal(result.reason, 'interrupted');
      assert.equal(transactions, 2, 'the batch under way finished; no other began');
      const run = await real.runs.get(result.runId);
      assert.equal(run?.reason, 'interrupted');
      assert.equal(run?.errorCode, 'sync.interrupted');
      assert.match(run?.errorMessage ?? '', /stopped before its next write: the job lock "background-sync" was lost/);
    } finally {
      await real.close();
    }
  });

  it('records a full disk as store.disk_full', async () => {
    let transactions = 0;
    const { sync, real } = await setUp(
      (store) => ({
        transaction: async (work) => {
          transactions += 1;
          if (transactions === 2) throw new DirbridgeError('store.disk_full', 'the disk holding the database is full while trying to run a transaction');
          return store.transaction(work);
        },
      }),
      { leaseMs: 5_000, renewEveryMs: 500, reapEveryMs: 1_000 },
    );
    try {
      const result = await sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'failed');
      const run = await real.runs.get(result.runId);
      assert.equal(run?.errorCode, 'store.disk_full');
      assert.equal(run?.reason, null);
      assert.match(run?.errorMessage ?? '', /disk .* is full/);
    } finally {
      await real.close();
    }
  });
});
