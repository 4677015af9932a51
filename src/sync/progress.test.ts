/** The progress recorder on a real SQLite store: phase changes at once, counters throttled, failures swallowed. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SyncRunProgress } from '../model/index.ts';
import { openStore } from '../store/open-store.ts';
import type { Store } from '../store/store.ts';
import { createProgressRecorder } from './progress.ts';

describe('createProgressRecorder', () => {
  let dataDir: string;
  let store: Store;

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'dirbridge-progress-'));
    store = await openStore({ dataDir });
  });

  after(async () => {
    await store?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** The real store, with every progress write it receives counted. */
  function counting(): { store: { runs: Pick<Store['runs'], 'updateProgress'> }; writes: Array<Omit<SyncRunProgress, 'updatedAt'>> } {
    const writes: Array<Omit<SyncRunProgress, 'updatedAt'>> = [];
    return {
      writes,
      store: {
        runs: {
          updateProgress: (id, progress) => {
            writes.push(progress);
            return store.runs.updateProgress(id, progress);
          },
        },
      },
    };
  }

  it('writes phase changes at once and counters at most once per interval, the latest last', async () => {
    const run = await store.runs.start({ trigger: 'cli', isDryRun: false });
    const { store: target, writes } = counting();
    const recorder = createProgressRecorder({ store: target, runId: run.id, intervalMs: 200 });
    recorder.phase('reading_users');
    for (let read = 1; read <= 5_000; read += 1) recorder.update({ usersRead: read });
    assert.ok(writes.length <= 2, `5000 updates in one tick are not 5000 writes (${writes.length})`);
    await sleep(300);
    const afterInterval = writes.length;
    assert.ok(afterInterval <= 3, String(afterInterval));
    assert.equal((await store.runs.get(run.id))?.progress?.usersRead, 5_000, 'the trailing write carries the latest count');
    recorder.phase('reading_groups', { groupsRead: 10 });
    recorder.phase('planning');
    recorder.phase('applying', { applied: 0, applyTotal: 40 });
    recorder.update({ applied: 40 });
    await recorder.close();
    const progress = (await store.runs.get(run.id))?.progress;
    assert.equal(progress?.phase, 'applying');
    assert.equal(progress?.groupsRead, 10);
    assert.equal(progress?.usersRead, 5_000);
    assert.deepEqual(
      writes.map((write) => write.phase).filter((phase, index, all) => phase !== all[index - 1]),
      ['reading_users', 'reading_groups', 'planning', 'applying'],
      'phases are written in order',
    );
    const count = writes.length;
    recorder.update({ applied: 41 });
    recorder.phase('finishing');
    await sleep(250);
    assert.equal(writes.length, count, 'nothing is written after close()');
  });

  it('never throws when the store fails, and reports the failure once', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-progress-closed-'));
    const closed = await openStore({ dataDir: dir });
    const run = await closed.runs.start({ trigger: 'cli', isDryRun: false });
    await closed.close();
    const warnings: string[] = [];
    const recorder = createProgressRecorder({ store: closed, runId: run.id, intervalMs: 0, log: { warn: (_fields, message) => warnings.push(message) } });
    recorder.phase('reading_users');
    recorder.update({ usersRead: 1 });
    recorder.phase('planning');
    await recorder.close();
    assert.deepEqual(warnings, ['could not record sync progress']);
    await rm(dir, { recursive: true, force: true });
  });
});
