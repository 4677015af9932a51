/**
 * The store contract of sync run leases (migration 0008), against SQLite and PostgreSQL: a run
 * starts with a lease by the database's clock, its owner renews it, any store records a run
 * whose lease expired as interrupted (once, even with two reapers at work, and never a run
 * renewed in time), a run's own writes are fenced by `runs.isStillOwned`, and runs left
 * `running` by earlier versions get a lease too. Fails (never skips) when CI is set and
 * PostgreSQL is down.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Kysely, Migrator, sql } from 'kysely';
import { DEFAULT_RUN_LEASE_MS } from '../src/model/index.ts';
import { createMigrationProvider } from '../src/store/migrations/index.ts';
import { openStore } from '../src/store/open-store.ts';
import { createPostgresKysely } from '../src/store/postgres.ts';
import type { Database } from '../src/store/schema.ts';
import { createSqliteKysely } from '../src/store/sqlite.ts';
import type { Store, StoreDialect } from '../src/store/store.ts';
import { createTestDatabase, declareWhenPostgres, postgresProblem } from './helpers/postgres.ts';
import { rejectsWithCode } from './helpers/rejects.ts';
import { until } from './helpers/wait.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Milliseconds from one stored timestamp to another. */
const between = (from: string | null, to: string | null) => Date.parse(to ?? '') - Date.parse(from ?? '');

/** The backend under test: stores on one database, and raw Kysely access to it. */
interface Backend {
  dialect: StoreDialect;
  open: () => Promise<Store>;
  raw: () => Kysely<Database>;
  /** A database migrated up to (and including) `migration` only, with its own open/raw. */
  fresh: (migration: string) => Promise<{ open: () => Promise<Store>; raw: () => Kysely<Database>; drop: () => Promise<void> }>;
}

function describeRunLeaseContract(name: string, backend: () => Backend, lifecycle: { setup: () => Promise<void>; teardown: () => Promise<void> }): void {
  describe(`store run lease contract: ${name}`, () => {
    let store: Store;
    let other: Store;

    before(async () => {
      await lifecycle.setup();
      store = await backend().open();
      other = await backend().open();
    });

    after(async () => {
      await store?.close();
      await other?.close();
      await lifecycle.teardown();
    });

    it('starts a run with a lease by the database clock, owned or not', async () => {
      const owned = await store.runs.start({ trigger: 'api', isDryRun: false, lease: { owner: 'host-a:1:abc', leaseMs: 45_000 } });
      assert.equal(owned.owner, 'host-a:1:abc');
      assert.match(owned.heartbeatAt ?? '', ISO);
      assert.match(owned.leaseExpiresAt ?? '', ISO);
      assert.ok(Math.abs(between(owned.heartbeatAt, owned.leaseExpiresAt) - 45_000) < 1_000, `${owned.heartbeatAt} → ${owned.leaseExpiresAt}`);
      assert.deepEqual(await store.runs.get(owned.id), owned, 'startRun returns the stored record');
      const unowned = await store.runs.start({ trigger: 'cli', isDryRun: true });
      assert.equal(unowned.owner, null);
      assert.ok(Math.abs(between(unowned.heartbeatAt, unowned.leaseExpiresAt) - DEFAULT_RUN_LEASE_MS) < 1_000);
      await rejectsWithCode(store.runs.start({ trigger: 'cli', isDryRun: false, lease: { owner: 'x', leaseMs: 0 } }), 'usage.invalid');
      await rejectsWithCode(store.runs.start({ trigger: 'cli', isDryRun: false, lease: { owner: ' ', leaseMs: 1_000 } }), 'usage.invalid');
      for (const run of [owned, unowned]) await store.runs.finish(run.id, { status: 'succeeded', counts: {} });
    });

    it("renews only its owner's running run, extending the lease from now", async () => {
      const run = await store.runs.start({ trigger: 'schedule', isDryRun: false, lease: { owner: 'host-a:2:def', leaseMs: 1_000 } });
      await sleep(30);
      assert.equal(await store.runs.renewLease(run.id, { owner: 'host-a:2:def', leaseMs: 120_000 }), true);
      const renewed = await store.runs.get(run.id);
      assert.ok(between(run.heartbeatAt, renewed?.heartbeatAt ?? null) > 0, 'the heartbeat moved');
      assert.ok(Math.abs(between(renewed?.heartbeatAt ?? null, renewed?.leaseExpiresAt ?? null) - 120_000) < 1_000);
      assert.equal(await other.runs.renewLease(run.id, { owner: 'host-b:9:xyz', leaseMs: 120_000 }), false, 'another owner cannot renew it');
      assert.equal(await store.runs.renewLease('00000000-0000-4000-8000-000000000000', { owner: 'host-a:2:def', leaseMs: 1_000 }), false);
      await rejectsWithCode(store.runs.renewLease(run.id, { owner: 'host-a:2:def', leaseMs: -5 }), 'usage.invalid');
      await store.runs.finish(run.id, { status: 'succeeded', counts: {} });
      assert.equal(await store.runs.renewLease(run.id, { owner: 'host-a:2:def', leaseMs: 1_000 }), false, 'a finished run has no lease to renew');
    });

    it('records a run whose lease expired as interrupted, once, and leaves live and finished runs alone', async () => {
      const dead = await store.runs.start({ trigger: 'api', isDryRun: false, lease: { owner: 'host-dead:3:aaa', leaseMs: 150 } });
      await store.runs.updateProgress(dead.id, { phase: 'applying', usersRead: 10, groupsRead: 2, applied: 4, applyTotal: 12 });
      const live = await store.runs.start({ trigger: 'schedule', isDryRun: false, lease: { owner: 'host-live:4:bbb', leaseMs: 120_000 } });
      const done = await store.runs.start({ trigger: 'cli', isDryRun: false, lease: { owner: 'host-done:5:ccc', leaseMs: 150 } });
      await store.runs.finish(done.id, { status: 'succeeded', counts: { 'users.created': 1 } });
      await sleep(400);

      // Two reapers at once: each run is recorded once.
      const [first, second] = await Promise.all([store.runs.reapExpired({ reapedBy: 'reaper-1' }), other.runs.reapExpired({ reapedBy: 'reaper-2' })]);
      const reaped = [...first, ...second].filter((run) => [dead.id, live.id, done.id].includes(run.id));
      assert.deepEqual(
        reaped.map((run) => run.id),
        [dead.id],
        'only the run whose lease expired',
      );
      const record = await store.runs.get(dead.id);
      assert.ok(record);
      assert.equal(record.status, 'failed');
      assert.equal(record.reason, 'interrupted');
      assert.equal(record.errorCode, 'sync.interrupted');
      assert.match(record.errorMessage ?? '', /host-dead:3:aaa.*stopped renewing its lease.*reaper-[12]/);
      assert.equal(record.finishedAt, record.heartbeatAt, 'finished when last heard of');
      assert.ok((record.durationMs ?? -1) >= 0);
      assert.equal(record.progress, null);
      assert.deepEqual(reaped[0], record);
      assert.equal((await store.runs.get(live.id))?.status, 'running');
      assert.equal((await store.runs.get(done.id))?.status, 'succeeded');
      assert.deepEqual(
        (await store.runs.reapExpired({ reapedBy: 'reaper-1' })).filter((run) => run.id === dead.id),
        [],
        'recorded once',
      );

      // The reaped run's own process learns it at its next write.
      assert.equal(await store.runs.renewLease(dead.id, { owner: 'host-dead:3:aaa', leaseMs: 60_000 }), false);
      assert.equal(await store.runs.updateProgress(dead.id, { phase: 'applying', usersRead: 10, groupsRead: 2, applied: 8, applyTotal: 12 }), false);
      await rejectsWithCode(store.runs.finish(dead.id, { status: 'succeeded', counts: {} }), 'store.conflict');
      assert.equal(await store.transaction((tx) => tx.runs.isStillOwned(dead.id, 'host-dead:3:aaa')), false);
      await store.runs.finish(live.id, { status: 'succeeded', counts: {} });
    });

    it('never reaps a run renewed in time', async () => {
      const run = await store.runs.start({ trigger: 'api', isDryRun: false, lease: { owner: 'host-a:6:ddd', leaseMs: 300 } });
      const deadline = Date.now() + 2_000;
      while (Date.now() < deadline) {
        assert.equal(await store.runs.renewLease(run.id, { owner: 'host-a:6:ddd', leaseMs: 300 }), true);
        assert.deepEqual(
          (await other.runs.reapExpired({ reapedBy: 'reaper' })).filter((reaped) => reaped.id === run.id),
          [],
        );
        await sleep(50);
      }
      assert.equal((await store.runs.get(run.id))?.status, 'running');
      await store.runs.finish(run.id, { status: 'succeeded', counts: {} });
    });

    it("fences a run's writes: only its owner, only while it runs", async () => {
      const run = await store.runs.start({ trigger: 'api', isDryRun: false, lease: { owner: 'host-a:7:eee', leaseMs: 60_000 } });
      assert.equal(await store.transaction((tx) => tx.runs.isStillOwned(run.id, 'host-a:7:eee')), true);
      assert.equal(await store.transaction((tx) => tx.runs.isStillOwned(run.id, 'host-b:7:eee')), false);
      assert.equal(await store.transaction((tx) => tx.runs.isStillOwned('00000000-0000-4000-8000-000000000000', 'host-a:7:eee')), false);
      await store.runs.finish(run.id, { status: 'failed', counts: {} });
      assert.equal(await store.transaction((tx) => tx.runs.isStillOwned(run.id, 'host-a:7:eee')), false);
    });

    if (name === 'postgres') {
      it('holds a reaper off while a fenced batch commits (PostgreSQL row lock)', async () => {
        const run = await store.runs.start({ trigger: 'api', isDryRun: false, lease: { owner: 'host-a:8:fff', leaseMs: 100 } });
        await sleep(300);
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        let checked!: () => void;
        const isChecked = new Promise<void>((resolve) => (checked = resolve));
        const batch = store.transaction(async (tx) => {
          assert.equal(await tx.runs.isStillOwned(run.id, 'host-a:8:fff'), true);
          checked();
          await held;
        });
        await isChecked;
        let isDone = false;
        const reaping = other.runs.reapExpired({ reapedBy: 'reaper' }).finally(() => (isDone = true));
        await sleep(300);
        assert.equal(isDone, false, 'the reaper waits for the batch');
        release();
        await batch;
        const reaped = await reaping;
        assert.deepEqual(
          reaped.map((record) => record.id).filter((id) => id === run.id),
          [run.id],
          'then records the run',
        );
      });
    }

    it("gives a running run without a lease (an earlier version's) a lease of an hour, then judges it by that", async () => {
      const run = await store.runs.start({ trigger: 'cli', isDryRun: false, lease: { owner: 'host-old:9:000', leaseMs: 100 } });
      const raw = backend().raw();
      try {
        await raw.updateTable('sync_runs').set({ lease_expires_at: null, heartbeat_at: null, owner: null }).where('id', '=', run.id).execute();
      } finally {
        await raw.destroy();
      }
      await sleep(200);
      assert.deepEqual(
        (await store.runs.reapExpired({ reapedBy: 'reaper' })).filter((reaped) => reaped.id === run.id),
        [],
      );
      const adopted = await store.runs.get(run.id);
      assert.equal(adopted?.status, 'running');
      assert.equal(adopted?.heartbeatAt, run.startedAt);
      const hour = between(new Date().toISOString(), adopted?.leaseExpiresAt ?? null);
      assert.ok(hour > 50 * 60_000 && hour < 70 * 60_000, `lease ${adopted?.leaseExpiresAt}`);
      await store.runs.finish(run.id, { status: 'failed', counts: {} });
    });

    it('migration 0008 gives runs left running by earlier versions a lease of an hour', async () => {
      const fresh = await backend().fresh('0006-disabled-users-by-name');
      try {
        const raw = fresh.raw();
        const startedAt = '2020-01-01T00:00:00.000Z';
        try {
          await sql`insert into sync_runs (id, trigger, is_dry_run, status, started_at, counts) values ('00000000-0000-4000-8000-00000000000a', 'schedule', ${backend().dialect === 'postgres' ? sql`false` : sql`0`}, 'running', ${startedAt}, '{}')`.execute(
            raw,
          );
        } finally {
          await raw.destroy();
        }
        const migrated = await fresh.open();
        try {
          const run = await migrated.runs.get('00000000-0000-4000-8000-00000000000a');
          assert.equal(run?.status, 'running');
          assert.equal(run?.heartbeatAt, startedAt);
          const hour = between(new Date().toISOString(), run?.leaseExpiresAt ?? null);
          assert.ok(hour > 50 * 60_000 && hour < 70 * 60_000, `lease ${run?.leaseExpiresAt}`);
          assert.deepEqual(await migrated.runs.reapExpired({ reapedBy: 'reaper' }), []);
        } finally {
          await migrated.close();
        }
      } finally {
        await fresh.drop();
      }
    });

    it('reaps with the expiry checked by the database in the same statement, whoever asks', async () => {
      const run = await store.runs.start({ trigger: 'api', isDryRun: false, lease: { owner: 'host-a:10:abc', leaseMs: 100 } });
      const reaped = await until(
        async () => {
          const found = (await other.runs.reapExpired({ reapedBy: 'late reaper' })).find((record) => record.id === run.id);
          return found;
        },
        10_000,
        'the run to be reaped',
      );
      assert.match(reaped.errorMessage ?? '', /late reaper/);
    });
  });
}

/** Migrates `db` up to `migration` only (as an earlier version left it). */
async function migrateTo(db: Kysely<Database>, dialect: StoreDialect, migration: string): Promise<void> {
  const { error } = await new Migrator({ db, provider: createMigrationProvider(dialect) }).migrateTo(migration);
  if (error !== undefined) throw error;
}

// ---- SQLite ---------------------------------------------------------------------------

{
  let dataDir = '';
  describeRunLeaseContract(
    'sqlite',
    () => ({
      dialect: 'sqlite',
      open: () => openStore({ dataDir }),
      raw: () => createSqliteKysely(dataDir),
      fresh: async (migration) => {
        const dir = await mkdtemp(join(tmpdir(), 'dirbridge-lease-old-'));
        const db = createSqliteKysely(dir);
        try {
          await migrateTo(db, 'sqlite', migration);
        } finally {
          await db.destroy();
        }
        return { open: () => openStore({ dataDir: dir }), raw: () => createSqliteKysely(dir), drop: () => rm(dir, { recursive: true, force: true }) };
      },
    }),
    {
      setup: async () => {
        dataDir = await mkdtemp(join(tmpdir(), 'dirbridge-lease-'));
      },
      teardown: async () => {
        await rm(dataDir, { recursive: true, force: true });
      },
    },
  );
}

// ---- PostgreSQL -----------------------------------------------------------------------

const pgProblem = await postgresProblem();

declareWhenPostgres('store run lease contract: postgres', pgProblem, () => {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  describeRunLeaseContract(
    'postgres',
    () => ({
      dialect: 'postgres',
      open: () => openStore({ url: database?.url ?? '', dataDir: '.' }),
      raw: () => createPostgresKysely(database?.url ?? ''),
      fresh: async (migration) => {
        const old = await createTestDatabase();
        const db = createPostgresKysely(old.url);
        try {
          await migrateTo(db, 'postgres', migration);
        } finally {
          await db.destroy();
        }
        return { open: () => openStore({ url: old.url, dataDir: '.' }), raw: () => createPostgresKysely(old.url), drop: old.drop };
      },
    }),
    {
      setup: async () => {
        database = await createTestDatabase();
      },
      teardown: async () => {
        await database?.drop();
      },
    },
  );
});
