import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SyncRunRecord } from '../model/index.ts';
import { refusal, SYNC_RETRY_AFTER_SECONDS } from './app-jobs.ts';

function run(fields: Partial<SyncRunRecord>): SyncRunRecord {
  return {
    id: 'run-1',
    trigger: 'schedule',
    isDryRun: false,
    status: 'running',
    reason: null,
    errorCode: null,
    errorMessage: null,
    startedAt: '2030-01-01T00:00:00.000Z',
    finishedAt: null,
    durationMs: null,
    counts: {},
    planSummary: null,
    progress: null,
    owner: null,
    heartbeatAt: null,
    leaseExpiresAt: null,
    mode: null,
    modeReason: null,
    entriesRead: null,
    ...fields,
  };
}

function storeWith(runs: SyncRunRecord[]) {
  return { runs: { list: async () => ({ total: runs.length, runs }) } };
}

describe('refusal (why Sync Now was refused)', () => {
  it('names the run going on another instance when the store shows one', async () => {
    // Dry runs and one-user syncs at login take no lock: they are not the holder.
    const error = await refusal(
      storeWith([run({ id: 'dry', isDryRun: true }), run({ id: 'login', trigger: 'login' }), run({ id: 'r7', trigger: 'schedule' })]),
      'locked',
    );
    assert.equal(error.code, 'sync.already_running');
    assert.equal(error.message, 'a sync is already running on another instance (run r7)');
    assert.deepEqual(error.details, { reason: 'locked', runId: 'r7' });
    // A CLI sync holds the lock too.
    const cli = await refusal(storeWith([run({ id: 'c1', trigger: 'cli' })]), 'locked');
    assert.equal(cli.message, 'a sync is already running on another instance (run c1)');
  });

  it('says a run is starting or just ended, with a retry delay, when the lock is held but no run is recorded as running', async () => {
    const error = await refusal(
      storeWith([run({ status: 'succeeded', finishedAt: '2030-01-01T00:00:01.000Z' }), run({ id: 'dry', isDryRun: true, trigger: 'api' })]),
      'locked',
    );
    assert.match(error.message, /starting or finished moments ago on another instance/);
    assert.doesNotMatch(error.message, /already running/);
    assert.deepEqual(error.details, { reason: 'locked', retryAfterSeconds: SYNC_RETRY_AFTER_SECONDS });
  });

  it('falls back to the plain answer when the store cannot say, and keeps the other reasons apart', async () => {
    const broken = { runs: { list: async () => Promise.reject(new Error('store down')) } };
    assert.equal((await refusal(broken, 'locked')).message, 'a sync is already running on another instance');
    assert.equal((await refusal(broken, 'running')).message, 'a sync is already running');
    assert.match((await refusal(broken, 'stopping')).message, /stopping/);
    const unavailable = await refusal(broken, 'lock_unavailable');
    assert.match(unavailable.message, /could not be taken/);
    assert.equal(unavailable.details['retryAfterSeconds'], SYNC_RETRY_AFTER_SECONDS);
  });
});
