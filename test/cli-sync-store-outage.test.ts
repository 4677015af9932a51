/**
 * `dirbridge sync` (a real process) against a PostgreSQL that stops while it applies: it exits 1
 * with one clear line and no crash trace. When PostgreSQL comes back within the run's lease, the
 * command records its own run as failed/interrupted with the real cause; when it stays away, the
 * command gives up once the lease is over, and the next command records the run as interrupted.
 * The PostgreSQL is a private one (test/fixtures/postgres-server.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { type PostgresServer, postgresServerProblem, startPostgresServer } from './fixtures/postgres-server.ts';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { writeSlapdConfig } from './helpers/directory.ts';
import { DIRBRIDGE_BIN } from './helpers/serve-process.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { until } from './helpers/wait.ts';

const problem = await postgresServerProblem();
const LEASE_SECONDS = 6;

/** A finished command: exit code, output. */
interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describe('dirbridge sync when PostgreSQL stops mid-apply', { skip: skipUnlessCi(problem) }, () => {
  let postgres: PostgresServer;
  let slapd: Slapd;
  let organisation: Organisation;
  let dir: string;

  before(async () => {
    assert.equal(problem, undefined, problem);
    postgres = await startPostgresServer();
    organisation = generateOrganisation({ people: 3000, groups: 30, seed: 5 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-cli-outage-'));
  });

  after(async () => {
    await slapd?.stop();
    await postgres?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** Writes a config for a new database and returns its path and the database URL. */
  async function configFor(name: string): Promise<{ config: string; url: string }> {
    const url = await postgres.createDatabase(name);
    const config = path.join(dir, `${name}.yaml`);
    await writeSlapdConfig(config, slapd, { sync: { batchSize: 20 }, store: { url, dataDir: path.join(dir, name) } });
    return { config, url };
  }

  /** Starts `dirbridge --config CONFIG ARGS…`; resolves when it ends. */
  function dirbridge(config: string, args: string[]): Promise<Finished> {
    const child = spawn(process.execPath, [DIRBRIDGE_BIN, '--config', config, ...args], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: process.env['HOME'] ?? '/root',
        DIRBRIDGE_DIRECTORY_BIND_PASSWORD: slapd.readerPassword,
        DIRBRIDGE_ADMIN_PASSWORD: 'admin-password-for-cli-outage',
        DIRBRIDGE_RUN_LEASE_SECONDS: String(LEASE_SECONDS),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  }

  /** Waits until the (only) run in the database is applying, straight from the store. */
  async function untilApplying(url: string): Promise<string> {
    return until(
      async () => {
        const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
        client.on('error', () => {});
        try {
          await client.connect();
          const { rows } = await client.query<{ id: string; progress: string | null }>("select id, progress from sync_runs where status = 'running'");
          const row = rows[0];
          return row?.progress?.includes('"applying"') === true ? row.id : undefined;
        } catch {
          return undefined;
        } finally {
          await client.end().catch(() => {});
        }
      },
      120_000,
      'the sync to start applying',
      10,
    );
  }

  async function runOf(url: string, id: string): Promise<{ status: string; reason: string | null; error_code: string | null; error_message: string | null }> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const row = (await client.query('select status, reason, error_code, error_message from sync_runs where id = $1', [id])).rows[0];
      assert.ok(row, `run ${id} exists`);
      return row;
    } finally {
      await client.end();
    }
  }

  const NO_TRACE = /Unhandled|uncaught|^\s+at .*:\d+:\d+\)?$/im;

  it('records the run as interrupted with the real cause when PostgreSQL comes back within the lease, and exits 1', async () => {
    const { config, url } = await configFor('back_in_time');
    const sync = dirbridge(config, ['sync']);
    const runId = await untilApplying(url);
    await postgres.stop();
    await sleep(2_000);
    await postgres.start();
    const finished = await sync;
    assert.equal(finished.code, 1, finished.stderr);
    assert.match(finished.stdout, /^sync failed: interrupted/m);
    assert.doesNotMatch(finished.stderr + finished.stdout, NO_TRACE);
    const run = await runOf(url, runId);
    assert.deepEqual([run.status, run.reason, run.error_code], ['failed', 'interrupted', 'store.unavailable']);
  });

  it('gives up after the lease when PostgreSQL stays away, exits 1 with one clear line, and the next command records the run', async () => {
    const { config, url } = await configFor('stays_away');
    const sync = dirbridge(config, ['sync']);
    const runId = await untilApplying(url);
    await postgres.stop();
    let finished: Finished;
    try {
      finished = await sync;
    } finally {
      await postgres.start();
    }
    assert.equal(finished.code, 1, finished.stderr);
    assert.doesNotMatch(finished.stderr + finished.stdout, NO_TRACE);
    assert.match(
      finished.stderr,
      new RegExp(`^error \\[store\\.unavailable\\]: sync run ${runId} stopped and could not be recorded: .*interrupted once its lease expires\\.$`, 'm'),
    );
    assert.equal((await runOf(url, runId)).status, 'running', 'left to the lease');

    await sleep(LEASE_SECONDS * 1_000);
    const listed = await dirbridge(config, ['runs', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stderr, new RegExp(`warning: sync run ${runId} .* was left running by a process that is gone; recorded as failed \\(interrupted\\)`));
    const run = await runOf(url, runId);
    assert.deepEqual([run.status, run.reason, run.error_code], ['failed', 'interrupted', 'sync.interrupted']);

    const again = await dirbridge(config, ['sync']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^sync succeeded/m);
  });
});
