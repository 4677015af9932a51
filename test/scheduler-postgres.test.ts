/**
 * The scheduler with several instances on one PostgreSQL database: two schedulers, each with
 * its own lock connection (as two servers would have), run every tick's job exactly once and
 * never at the same time; the lock survives a lost connection. Fails (never skips) when CI is
 * set and PostgreSQL is down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { type JobLock, silentLog } from '../src/scheduler/job-lock.ts';
import { createPostgresJobLock } from '../src/scheduler/postgres-lock.ts';
import { createScheduler, type Scheduler, type SchedulerJob } from '../src/scheduler/scheduler.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const problem = await postgresProblem();

interface RunRecord {
  instance: string;
  scheduledAt: number | null;
  trigger: string;
  start: number;
  end: number;
}

/** Two instances: each its own lock connection and scheduler, sharing only the database (and `runs`, to count). */
function twoInstances(
  url: string,
  job: (instance: string, runs: RunRecord[]) => SchedulerJob,
): { schedulers: Scheduler[]; locks: JobLock[]; runs: RunRecord[] } {
  const runs: RunRecord[] = [];
  const locks = ['a', 'b'].map((instance) => createPostgresJobLock(url, { applicationName: `dirbridge-test-${instance}` }));
  const schedulers = ['a', 'b'].map((instance, index) => {
    const lock = locks[index];
    assert.ok(lock);
    return createScheduler({ jobs: [job(instance, runs)], lock, log: silentLog });
  });
  return { schedulers, locks, runs };
}

function recordingJob(durationMs: number, options: { schedule: string | null; runOnStart?: boolean }): (instance: string, runs: RunRecord[]) => SchedulerJob {
  return (instance, runs) => ({
    name: 'background-sync',
    schedule: options.schedule,
    runOnStart: options.runOnStart ?? false,
    run: async ({ scheduledAt, trigger }) => {
      const record: RunRecord = { instance, scheduledAt: scheduledAt?.getTime() ?? null, trigger, start: Date.now(), end: Number.POSITIVE_INFINITY };
      runs.push(record);
      await sleep(durationMs);
      record.end = Date.now();
    },
  });
}

function assertNeverConcurrent(runs: RunRecord[]): void {
  for (const [i, a] of runs.entries()) {
    for (const b of runs.slice(i + 1)) {
      assert.ok(a.end <= b.start || b.end <= a.start, `runs overlapped: ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
    }
  }
}

describe('scheduler on PostgreSQL with two instances', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, () => {
  let database: { url: string; drop: () => Promise<void> };

  before(async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    database = await createTestDatabase();
  });

  after(async () => {
    await database?.drop();
  });

  it('takes a job lock on one connection at a time, per job name', async () => {
    const a = createPostgresJobLock(database.url);
    const b = createPostgresJobLock(database.url);
    try {
      const held = await a.tryAcquire('job-1');
      assert.ok(held !== null);
      assert.equal(await a.tryAcquire('job-1'), null, 'not re-entrant within one holder');
      assert.equal(await b.tryAcquire('job-1'), null, 'the other instance is refused');
      const other = await b.tryAcquire('job-2');
      assert.ok(other !== null, 'another job is independent');
      await held.release();
      await held.release();
      const taken = await b.tryAcquire('job-1');
      assert.ok(taken !== null, 'released for the other instance');
      await taken.release();
      await other.release();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("reconnects after losing its connection and takes a running job's lock again", async () => {
    const a = createPostgresJobLock(database.url, { applicationName: 'dirbridge-test-reconnect', reconnectDelayMs: 100 });
    const b = createPostgresJobLock(database.url);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const held = await a.tryAcquire('job-1');
      assert.ok(held !== null);
      const killed = await admin.query<{ killed: boolean }>(
        "select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = 'dirbridge-test-reconnect' and datname = current_database()",
      );
      assert.equal(killed.rows[0]?.killed, true);
      await sleep(500);
      assert.equal(held.isHeld(), false, 'the handle reports the gap in exclusivity');
      assert.equal(await b.tryAcquire('job-1'), null, 'the run still going on A keeps B out after the reconnect');
      const next = await a.tryAcquire('job-3');
      assert.ok(next !== null, 'A works again');
      await next.release();
      await held.release();
      const taken = await b.tryAcquire('job-1');
      assert.ok(taken !== null, 'A released it on its new connection');
      await taken.release();
    } finally {
      await admin.end();
      await a.close();
      await b.close();
    }
  });

  it('runs each 1-second tick of a 1.5-second job exactly once across two instances, never concurrently', async () => {
    const { schedulers, locks, runs } = twoInstances(database.url, recordingJob(1_500, { schedule: 'every 1 second' }));
    const from = Date.now();
    await Promise.all(schedulers.map((scheduler) => scheduler.start()));
    await sleep(6_200);
    const statuses = schedulers.flatMap((scheduler) => scheduler.status());
    const to = Date.now();
    await Promise.all(schedulers.map((scheduler) => scheduler.stop()));
    await Promise.all(locks.map((lock) => lock.close()));

    assertNeverConcurrent(runs);
    const ticks = runs.map((run) => run.scheduledAt);
    assert.equal(new Set(ticks).size, ticks.length, `a tick ran twice: ${ticks.join(',')}`);
    // A tick during a run is skipped; a tick well after the last run ended is run, by exactly one
    // instance. A run that ended just before a tick may still be recording and releasing its lock
    // (on a loaded machine that takes a few hundred milliseconds), so such a tick may go either way.
    const settleMs = 400;
    for (let tick = Math.ceil(from / 1_000) * 1_000; tick <= to - 1_000; tick += 1_000) {
      const earlier = runs.filter((run) => run.scheduledAt !== null && run.scheduledAt < tick);
      const busy = earlier.some((run) => run.end > tick);
      const settling = !busy && earlier.some((run) => run.end > tick - settleMs);
      const ranAt = runs.filter((run) => run.scheduledAt === tick).length;
      const timeline = runs
        .map((run) => `${run.instance}@${run.scheduledAt === null ? '-' : run.scheduledAt - from}:${run.start - from}-${run.end - from}`)
        .join(' ');
      const message = `tick +${tick - from} ms: ${ranAt} runs (previous run still going: ${busy}, just ended: ${settling}); runs (instance@tick:start-end, ms after start): ${timeline}`;
      if (settling) assert.ok(ranAt <= 1, message);
      else assert.equal(ranAt, busy ? 0 : 1, message);
    }
    assert.ok(runs.length >= 2 && runs.length <= 4, `${runs.length} runs in ~6 s`);
    assert.ok(
      statuses.some((status) => status.lastSkip?.reason === 'locked'),
      'an instance skipped a tick because the other held the lock',
    );
    console.log(
      `slow job: ${runs.length} runs, by ${runs.map((run) => run.instance).join('')}; skips ${statuses.map((status) => `${status.skips} (${status.lastSkip?.reason ?? '-'})`).join(', ')}`,
    );
  });

  it('runs a fast job once per tick across two instances (the tick stays claimed past a fast run)', async () => {
    const { schedulers, locks, runs } = twoInstances(database.url, recordingJob(20, { schedule: '* * * * * *' }));
    const from = Date.now();
    await Promise.all(schedulers.map((scheduler) => scheduler.start()));
    await sleep(5_200);
    const to = Date.now();
    await Promise.all(schedulers.map((scheduler) => scheduler.stop()));
    await Promise.all(locks.map((lock) => lock.close()));

    assertNeverConcurrent(runs);
    for (let tick = Math.ceil(from / 1_000) * 1_000; tick <= to - 1_000; tick += 1_000) {
      assert.equal(runs.filter((run) => run.scheduledAt === tick).length, 1, `tick ${new Date(tick).toISOString()}`);
    }
    assert.equal(new Set(runs.map((run) => run.scheduledAt)).size, runs.length, 'no tick ran twice');
    console.log(`fast job: ${runs.length} runs, by ${runs.map((run) => run.instance).join('')}`);
  });

  it('syncs on startup once when two instances start together', async () => {
    const { schedulers, locks, runs } = twoInstances(database.url, recordingJob(50, { schedule: 'every 1 hour', runOnStart: true }));
    await schedulers[0]?.start();
    await sleep(200);
    await schedulers[1]?.start();
    const statuses = schedulers.flatMap((scheduler) => scheduler.status());
    await Promise.all(schedulers.map((scheduler) => scheduler.stop()));
    await Promise.all(locks.map((lock) => lock.close()));
    assert.deepEqual(
      runs.map((run) => [run.instance, run.trigger]),
      [['a', 'startup']],
    );
    assert.equal(statuses[1]?.lastSkip?.reason, 'locked');
    assert.ok((statuses[0]?.nextRun?.getTime() ?? 0) > Date.now(), 'the next run is shown');
  });
});
