/**
 * `dirbridge serve` killed with SIGKILL while it applies a sync, then started again, on SQLite and
 * on PostgreSQL: the run it left is recorded `failed`/`interrupted` once its lease expires (6 s
 * here, through DIRBRIDGE_RUN_LEASE_SECONDS), `/readyz` reports the directory from the latest
 * finished run (never `unknown` because of the dead one), the run lock is free, Sync Now works,
 * and the store is consistent. PostgreSQL is the shared test server (it is not stopped here);
 * that part fails (never skips) when CI is set and PostgreSQL is down.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { writeSlapdConfig } from './helpers/directory.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { type ServeProcess, startServe } from './helpers/serve-process.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { until } from './helpers/wait.ts';

const pgProblem = await postgresProblem();
const ADMIN_PASSWORD = 'admin-password-for-sigkill';
const LEASE_SECONDS = 6;

/** Reads a run's phase straight from the store ('finished' once it has no progress). */
async function phaseReader(
  store: { url: string } | { file: string },
): Promise<((runId: string) => Promise<string | undefined>) & { close: () => Promise<void> }> {
  if ('file' in store) {
    const file = new BetterSqlite3(store.file, { readonly: true, timeout: 5_000 });
    const read = async (runId: string) => {
      const row = file.prepare('select status, progress from sync_runs where id = ?').get(runId) as { status: string; progress: string | null } | undefined;
      return row === undefined ? undefined : row.progress === null ? 'finished' : (JSON.parse(row.progress) as { phase: string }).phase;
    };
    return Object.assign(read, {
      close: async () => {
        file.close();
      },
    });
  }
  const client = new pg.Client({ connectionString: store.url });
  await client.connect();
  const read = async (runId: string) => {
    const row = (await client.query<{ progress: string | null }>('select progress from sync_runs where id = $1', [runId])).rows[0];
    return row === undefined ? undefined : row.progress === null ? 'finished' : (JSON.parse(row.progress) as { phase: string }).phase;
  };
  return Object.assign(read, { close: () => client.end() });
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  const skip = dialect === 'postgres' ? skipUnlessCi(pgProblem, 'PostgreSQL unreachable') : false;
  describe(`serve killed with SIGKILL mid-sync, then started again (${dialect})`, { skip }, () => {
    let slapd: Slapd;
    let organisation: Organisation;
    let dir: string;
    let database: { url: string; drop: () => Promise<void> } | undefined;
    const servers: ServeProcess[] = [];

    before(async () => {
      if (dialect === 'postgres') {
        assert.equal(pgProblem, undefined, `PostgreSQL is required: ${pgProblem ?? ''}`);
        database = await createTestDatabase();
      }
      organisation = generateOrganisation({ people: 3000, groups: 30, seed: 11 });
      slapd = await startSlapd({ ldif: organisation.ldif });
      dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-sigkill-'));
    });

    after(async () => {
      for (const server of servers) if (server.exit() === undefined) server.kill('SIGKILL');
      await slapd?.stop();
      await database?.drop();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    it('records the dead run as interrupted within the lease, frees the lock and syncs again', async () => {
      const dataDir = path.join(dir, 'data');
      const config = path.join(dir, 'dirbridge.yaml');
      const password = await writeSlapdConfig(config, slapd, {
        sync: { batchSize: 20, disableMissingUsers: true },
        store: dialect === 'postgres' ? { url: database?.url, dataDir } : { dataDir },
      });
      const env = { ...password, DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD, DIRBRIDGE_RUN_LEASE_SECONDS: String(LEASE_SECONDS) };

      const first = await startServe(config, env);
      servers.push(first);
      assert.equal((await first.signIn(ADMIN_PASSWORD)).status, 200);
      // A finished run for /readyz to report the directory from.
      const dryRun = await first.request('POST', '/api/v1/admin/actions/sync', { dryRun: true });
      assert.equal(dryRun.json.status, 'succeeded', dryRun.text);
      const started = await first.request('POST', '/api/v1/admin/actions/sync', { wait: false });
      assert.equal(started.status, 202, started.text);
      const runId: string = started.json.runId;
      // Watched in the store itself, not through the server whose event loop the apply keeps busy.
      const phaseOf = await phaseReader(dialect === 'postgres' ? { url: database?.url ?? '' } : { file: path.join(dataDir, 'dirbridge.sqlite') });
      try {
        const phase = await until(
          async () => {
            const found = await phaseOf(runId);
            return found === 'applying' || found === 'finished' ? found : undefined;
          },
          120_000,
          'the run to start applying',
          5,
        );
        assert.equal(phase, 'applying', 'the apply lasted long enough to be interrupted');
        first.kill('SIGKILL');
      } finally {
        await phaseOf.close();
      }
      const killedAt = Date.now();
      assert.equal((await first.exited).signal, 'SIGKILL');

      const second = await startServe(config, env);
      servers.push(second);
      assert.equal((await second.signIn(ADMIN_PASSWORD)).status, 200);
      const left = await second.request('GET', `/api/v1/admin/runs/${runId}`);
      if (left.json.status === 'running') {
        // Until its lease expires the run may still be alive somewhere: /readyz reports the last finished run meanwhile.
        const ready = await second.request('GET', '/readyz');
        assert.equal(ready.status, 200);
        assert.equal(ready.json.directory.state, 'ok', 'not unknown because of a run still going');
        assert.equal(ready.json.directory.lastRun.id, dryRun.json.runId);
      }
      const run = await until(
        async () => {
          const found = await second.request('GET', `/api/v1/admin/runs/${runId}`);
          return found.json.status === 'running' ? undefined : found.json;
        },
        60_000,
        'the dead run to be recorded as interrupted',
        100,
      );
      const elapsed = Date.now() - killedAt;
      assert.equal(run.status, 'failed', JSON.stringify(run));
      assert.equal(run.reason, 'interrupted');
      assert.equal(run.errorCode, 'sync.interrupted');
      assert.notEqual(run.finishedAt, null);
      assert.equal(run.progress, null);
      // The lease plus one reaper interval, with room for a loaded machine: far from "for ever".
      assert.ok(elapsed < LEASE_SECONDS * 1_000 * 4, `recorded ${elapsed} ms after the kill`);
      // The reaper logs right after it records the run; on a loaded machine the line may trail the HTTP answer.
      await until(
        async () => (/sync run recorded as interrupted: its process stopped renewing its lease/.test(second.stdout()) ? true : undefined),
        10_000,
        'the reaper to log the interrupted run',
        50,
      );

      const ready = await second.request('GET', '/readyz');
      assert.equal(ready.status, 200);
      assert.equal(ready.json.directory.state, 'ok');
      assert.notEqual(ready.json.directory.lastRun.id, runId, 'the interrupted run says nothing about the directory');

      // The lock the dead process held is free: Sync Now runs, and completes what the dead run began.
      const synced = await second.request('POST', '/api/v1/admin/actions/sync', {});
      assert.equal(synced.status, 200, synced.text);
      assert.equal(synced.json.status, 'succeeded', synced.text);
      assert.equal(synced.json.users.updated, 0, 'what the dead run wrote is right');
      assert.equal(synced.json.users.disabled, 0);
      const users = await second.request('GET', '/api/v1/admin/users?limit=1');
      assert.equal(users.json.total, organisation.users.length + 1, 'every directory user and the administrator');
      const runs = await second.request('GET', '/api/v1/admin/runs?limit=50');
      assert.deepEqual(
        runs.json.runs.filter((listed: { status: string }) => listed.status === 'running'),
        [],
      );

      assert.deepEqual(await second.stop(), { code: 0, signal: null }, second.stderr());
      if (dialect === 'sqlite') {
        const file = new BetterSqlite3(path.join(dataDir, 'dirbridge.sqlite'), { readonly: true });
        try {
          assert.deepEqual(file.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
        } finally {
          file.close();
        }
      }
    });
  });
}
