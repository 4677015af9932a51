import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJobLock, jobLockKey, silentLog } from './job-lock.ts';
import { createScheduler, type JobRunRecord, type JobTrigger, tickClaimName } from './scheduler.ts';

describe('createScheduler', () => {
  it('never overlaps a slow run with itself and records the skipped ticks', async () => {
    let running = 0;
    let overlapped = false;
    const scheduler = createScheduler({
      jobs: [
        {
          name: 'slow',
          schedule: 'every 1 second',
          run: async () => {
            running += 1;
            if (running > 1) overlapped = true;
            await sleep(1_500);
            running -= 1;
            return 'ok';
          },
        },
      ],
      lock: createLocalJobLock(),
      log: silentLog,
    });
    await scheduler.start();
    await sleep(4_300);
    const [during] = scheduler.status();
    await scheduler.stop();
    const [after] = scheduler.status();
    assert.equal(overlapped, false);
    assert.ok(during !== undefined && after !== undefined);
    assert.ok(after.runs >= 2 && after.runs <= 3, `${after.runs} runs`);
    assert.ok(after.skips >= 1, 'the tick during a run was skipped');
    assert.equal(after.lastSkip?.reason, 'running');
    assert.equal(after.lastRun?.outcome, 'succeeded');
    assert.equal(after.lastRun?.message, 'ok');
    assert.equal(after.running, false, 'stop() waited for the run');
    assert.equal(after.nextRun, null, 'stopped');
  });

  it('shows the next run, and a reschedule takes effect at once', async () => {
    const runs: Date[] = [];
    const scheduler = createScheduler({
      jobs: [{ name: 'job', schedule: 'every day at 03:00', run: async () => void runs.push(new Date()) }],
      lock: createLocalJobLock(),
      log: silentLog,
    });
    await scheduler.start();
    try {
      const [before] = scheduler.status();
      assert.equal(before?.cron, '0 3 * * *');
      assert.equal(before?.nextRun?.getHours(), 3);
      assert.equal(before?.nextRun?.getMinutes(), 0);
      assert.ok((before?.nextRun?.getTime() ?? 0) > Date.now());

      scheduler.reschedule('job', 'every 1 second');
      const [after] = scheduler.status();
      assert.equal(after?.schedule, 'every 1 second');
      assert.equal(after?.cron, '* * * * * *');
      assert.ok((after?.nextRun?.getTime() ?? Infinity) - Date.now() <= 1_000, 'next run within a second');
      await sleep(2_300);
      assert.ok(runs.length >= 2, `${runs.length} runs after the reschedule`);

      assert.throws(() => scheduler.reschedule('job', 'every fortnight'), /invalid schedule/);
      assert.throws(() => scheduler.reschedule('nope', 'every hour'), /no job named/);
      scheduler.reschedule('job', null);
      assert.equal(scheduler.status()[0]?.nextRun, null);
    } finally {
      await scheduler.stop();
    }
  });

  it('runs startup jobs once at start, records failures, and runs on demand', async () => {
    const triggers: string[] = [];
    const scheduler = createScheduler({
      jobs: [
        { name: 'sync', schedule: 'every 1 hour', runOnStart: true, run: async ({ trigger }) => void triggers.push(trigger) },
        { name: 'broken', schedule: null, runOnStart: true, run: async () => Promise.reject(new Error('directory down')) },
      ],
      lock: createLocalJobLock(),
      log: silentLog,
      now: () => new Date('2030-01-01T00:00:00Z'),
    });
    await scheduler.start();
    try {
      assert.deepEqual(triggers, ['startup']);
      const [sync, broken] = scheduler.status();
      assert.equal(sync?.lastRun?.trigger, 'startup');
      assert.equal(sync?.lastRun?.startedAt.toISOString(), '2030-01-01T00:00:00.000Z', 'times come from the injected clock');
      assert.equal(broken?.lastRun?.outcome, 'failed');
      assert.equal(broken?.lastRun?.message, 'directory down');
      assert.equal(broken?.failures, 1);
      assert.equal(broken?.nextRun, null, 'no schedule');
      const manual = await scheduler.runNow('sync');
      assert.equal(manual.ran, true);
      assert.deepEqual(triggers, ['startup', 'manual']);
    } finally {
      await scheduler.stop();
    }
  });

  it('runNow while a run is going reports "running"; stop() waits for it', async () => {
    let finished = false;
    const scheduler = createScheduler({
      jobs: [
        {
          name: 'long',
          schedule: null,
          runOnStart: true,
          run: async () => {
            await sleep(400);
            finished = true;
          },
        },
      ],
      lock: createLocalJobLock(),
      log: silentLog,
    });
    const startup = scheduler.start();
    await sleep(50);
    assert.equal(scheduler.status()[0]?.running, true);
    assert.deepEqual(await scheduler.runNow('long'), { ran: false, reason: 'running' });
    await scheduler.stop();
    assert.equal(finished, true);
    await startup;
  });

  it('jobs that share a lock never run at once: the second is skipped as locked while the first runs', async () => {
    const scheduler = createScheduler({
      jobs: [
        { name: 'sync', schedule: null, runOnStart: true, run: async () => void (await sleep(400)) },
        { name: 'full-sync', schedule: null, lockName: 'sync', run: async () => 'ran' },
      ],
      lock: createLocalJobLock(),
      log: silentLog,
    });
    const startup = scheduler.start();
    await sleep(50);
    assert.deepEqual(await scheduler.runNow('full-sync'), { ran: false, reason: 'locked' });
    await startup;
    await scheduler.stop();
  });

  it("runNow runs a variant of the job under its lock, tells when it starts, and gives a manual run's lock up", async () => {
    const lock = createLocalJobLock();
    const ran: string[] = [];
    const scheduler = createScheduler({ jobs: [{ name: 'sync', schedule: null, run: async () => void ran.push('own') }], lock, log: silentLog });
    await scheduler.start();
    try {
      const events: string[] = [];
      const result = await scheduler.runNow('sync', {
        onStart: () => events.push('started'),
        work: async ({ trigger }) => {
          events.push(`work ${trigger}`);
          return 'variant done';
        },
      });
      assert.equal(result.ran, true);
      assert.equal(result.ran && result.run.message, 'variant done');
      assert.deepEqual(events, ['started', 'work manual']);
      assert.deepEqual(ran, [], "the job's own run was not called");
      const handle = await lock.tryAcquire('sync');
      assert.ok(handle !== null, 'a manual run keeps no lock after it ends');
      const blocked = await scheduler.runNow('sync', { onStart: () => events.push('never') });
      assert.deepEqual(blocked, { ran: false, reason: 'locked' });
      assert.equal(events.includes('never'), false, 'onStart is not called for a skipped run');
      await handle.release();
      await assert.rejects(scheduler.runNow('nope'), /no job named/);
    } finally {
      await scheduler.stop();
    }
  });

  it('claims each tick past its run so no other instance repeats it, without ever blocking a manual run', async () => {
    // Two schedulers on one lock stand for two instances on one database.
    const lock = createLocalJobLock();
    const runs: Array<{ instance: string; trigger: JobTrigger; scheduledAt: number | null }> = [];
    const make = (instance: string) =>
      createScheduler({
        jobs: [
          {
            name: 'sync',
            schedule: 'every 2 seconds',
            runOnStart: true,
            run: async ({ trigger, scheduledAt }) => {
              runs.push({ instance, trigger, scheduledAt: scheduledAt?.getTime() ?? null });
              await sleep(20);
            },
          },
        ],
        lock,
        log: silentLog,
      });
    const schedulers = [make('a'), make('b')];
    const until = async (probe: () => JobRunRecord | undefined, what: string): Promise<JobRunRecord> => {
      const deadline = Date.now() + 5_000;
      for (;;) {
        const found = probe();
        if (found !== undefined) return found;
        assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
        await sleep(10);
      }
    };
    const lastScheduled = (after: number) => () =>
      schedulers.map((scheduler) => scheduler.status()[0]?.lastRun).find((run) => run?.trigger === 'schedule' && (run.scheduledAt?.getTime() ?? 0) > after) ??
      undefined;
    try {
      await Promise.all(schedulers.map((scheduler) => scheduler.start()));
      assert.deepEqual(
        runs.map((run) => run.trigger),
        ['startup'],
        'instances started together sync on startup once',
      );
      assert.equal(
        await lock.tryAcquire(tickClaimName('sync', { trigger: 'startup', scheduledAt: null })),
        null,
        'the startup run stays claimed (1 s: half the gap)',
      );
      for (const scheduler of schedulers) assert.equal((await scheduler.runNow('sync')).ran, true, 'the claim does not block a manual run');

      const ticked = await until(lastScheduled(0), 'a tick');
      const tick = ticked.scheduledAt;
      assert.ok(tick !== null);
      assert.equal(await lock.tryAcquire(tickClaimName('sync', ticked)), null, 'the tick stays claimed after its run');
      for (const scheduler of schedulers)
        assert.equal((await scheduler.runNow('sync')).ran, true, 'a manual run on either instance goes through right after the tick');
      assert.ok(Date.now() < tick.getTime() + 1_000, 'the manual runs fell inside the hold window');

      // A tick whose run lock is held elsewhere is skipped, and its claim given up at once.
      const runLock = await lock.tryAcquire('sync');
      assert.ok(runLock !== null, 'no run is going: the run lock is free while the tick is claimed');
      const next = new Date(tick.getTime() + 2_000);
      await sleep(next.getTime() - Date.now() + 300);
      await runLock.release();
      assert.deepEqual(
        schedulers.map((scheduler) => scheduler.status()[0]?.lastSkip?.reason),
        ['locked', 'locked'],
      );
      const nextClaim = await lock.tryAcquire(tickClaimName('sync', { trigger: 'schedule', scheduledAt: next }));
      assert.ok(nextClaim !== null, 'a skipped tick keeps no claim');
      await nextClaim.release();
      const released = await lock.tryAcquire(tickClaimName('sync', ticked));
      assert.ok(released !== null, 'a claim is given up once its hold window has passed');
      await released.release();

      const scheduled = runs.filter((run) => run.trigger === 'schedule').map((run) => run.scheduledAt);
      assert.deepEqual(scheduled, [tick.getTime()], 'each tick ran once, on one instance');
      assert.equal(runs.filter((run) => run.trigger === 'manual').length, 4);
    } finally {
      await Promise.all(schedulers.map((scheduler) => scheduler.stop()));
    }
  });

  it('setJobs adds, removes and reschedules', async () => {
    const scheduler = createScheduler({
      jobs: [
        { name: 'a', schedule: 'every hour', run: async () => {} },
        { name: 'b', schedule: 'every hour', run: async () => {} },
      ],
      lock: createLocalJobLock(),
      log: silentLog,
    });
    await scheduler.start();
    try {
      scheduler.setJobs([
        { name: 'a', schedule: 'every 5 minutes', run: async () => {} },
        { name: 'c', schedule: 'every day', run: async () => {} },
      ]);
      assert.deepEqual(
        scheduler.status().map((job) => [job.name, job.cron, job.nextRun !== null]),
        [
          ['a', '*/5 * * * *', true],
          ['c', '0 0 * * *', true],
        ],
      );
    } finally {
      await scheduler.stop();
    }
  });

  it('derives a stable signed 64-bit advisory lock key from the job name', () => {
    assert.equal(jobLockKey('background-sync'), jobLockKey('background-sync'));
    assert.notEqual(jobLockKey('background-sync'), jobLockKey('auto-logout'));
    const key = BigInt(jobLockKey('background-sync'));
    assert.ok(key >= -(2n ** 63n) && key < 2n ** 63n);
  });
});
