import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJobLock, jobLockKey, silentLog } from './job-lock.ts';
import { createScheduler } from './scheduler.ts';

describe('createScheduler', () => {
  it('never overlaps a slow run with itself and records the skipped ticks', async () => {
    let running = 0;
    let overlapped = false;
    const scheduler = createScheduler({
      jobs: [{ name: 'slow', schedule: 'every 1 second', run: async () => {
        running += 1;
        if (running > 1) overlapped = true;
        await sleep(1_500);
        running -= 1;
        return 'ok';
      } }],
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
    const scheduler = createScheduler({ jobs: [{ name: 'job', schedule: 'every day at 03:00', run: async () => void runs.push(new Date()) }], lock: createLocalJobLock(), log: silentLog });
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
    const scheduler = createScheduler({ jobs: [{ name: 'long', schedule: null, runOnStart: true, run: async () => { await sleep(400); finished = true; } }], lock: createLocalJobLock(), log: silentLog });
    const startup = scheduler.start();
    await sleep(50);
    assert.equal(scheduler.status()[0]?.running, true);
    assert.deepEqual(await scheduler.runNow('long'), { ran: false, reason: 'running' });
    await scheduler.stop();
    assert.equal(finished, true);
    await startup;
  });

  it('runNow runs a variant of the job under its lock, tells when it starts, and gives a manual run\'s lock up', async () => {
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
      assert.deepEqual(ran, [], 'the job\'s own run was not called');
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

  it('setJobs adds, removes and reschedules', async () => {
    const scheduler = createScheduler({ jobs: [{ name: 'a', schedule: 'every hour', run: async () => {} }, { name: 'b', schedule: 'every hour', run: async () => {} }], lock: createLocalJobLock(), log: silentLog });
    await scheduler.start();
    try {
      scheduler.setJobs([{ name: 'a', schedule: 'every 5 minutes', run: async () => {} }, { name: 'c', schedule: 'every day', run: async () => {} }]);
      assert.deepEqual(scheduler.status().map((job) => [job.name, job.cron, job.nextRun !== null]), [['a', '*/5 * * * *', true], ['c', '0 0 * * *', true]]);
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
