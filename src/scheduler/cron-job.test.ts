import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { scheduleJob } from './cron-job.ts';

describe('scheduleJob', () => {
  it('runs on its schedule, never overlapping itself, and reports its next run', async () => {
    let running = 0;
    let overlapped = false;
    let runs = 0;
    const job = scheduleJob({
      name: 'test',
      schedule: '* * * * * *',
      run: async () => {
        running += 1;
        if (running > 1) overlapped = true;
        runs += 1;
        await sleep(1_500);
        running -= 1;
      },
      onError: () => {},
    });
    try {
      assert.ok((job.nextRun()?.getTime() ?? 0) > Date.now());
      await sleep(3_300);
    } finally {
      job.stop();
    }
    assert.ok(runs >= 1 && runs <= 2, `ran ${runs} times`);
    assert.equal(overlapped, false);
    assert.equal(job.nextRun(), null);
  });

  it('hands failures to onError and keeps the schedule', async () => {
    const errors: unknown[] = [];
    const job = scheduleJob({ name: 'failing', schedule: '* * * * * *', run: async () => Promise.reject(new Error('boom')), onError: (error) => errors.push(error) });
    try {
      await sleep(2_300);
    } finally {
      job.stop();
    }
    assert.ok(errors.length >= 2, `${errors.length} errors`);
    assert.match(String(errors[0]), /boom/);
  });
});
