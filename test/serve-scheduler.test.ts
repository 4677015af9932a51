/**
 * `dirbridge serve` as a real process runs the scheduler: sync on startup happens, the jobs
 * API shows the scheduler's jobs, the scheduler logs through the server's JSON logs (and so
 * into the log view), Sync Now in the background works over a real socket, and SIGTERM stops
 * the scheduler before the process exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';

const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'dirbridge.js');
const ADMIN_PASSWORD = 'admin-password-for-serve-scheduler';

describe('dirbridge serve with the scheduler', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let dir: string;

  before(async () => {
    organisation = generateOrganisation({ people: 40, groups: 5, seed: 4 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-serve-scheduler-'));
  });

  after(async () => {
    await slapd?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('syncs on startup, lists its jobs, logs through pino, runs Sync Now in the background and stops on SIGTERM', async () => {
    const config = path.join(dir, 'dirbridge.yaml');
    await writeFile(
      config,
      stringify({
        directory: { urls: [slapd.url], bindDn: slapd.readerDn },
        users: { baseDn: slapd.baseDn },
        backgroundSync: { onStartup: true },
        store: { dataDir: path.join(dir, 'data') },
      }),
    );
    const child = spawn(process.execPath, [BIN, '--config', config, 'serve', '--port', '0'], {
      env: {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        DIRBRIDGE_DIRECTORY_BIND_PASSWORD: slapd.readerPassword,
        DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const address = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
          if (match?.[1] !== undefined) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
      });
      const signIn = await fetch(`${address}/api/v1/admin/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
      });
      assert.equal(signIn.status, 200);
      const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      const { csrfToken } = (await signIn.json()) as { csrfToken: string };
      const get = async (url: string) => (await fetch(`${address}${url}`, { headers: { cookie } })).json() as Promise<any>;

      const deadline = Date.now() + 30_000;
      let runs: Array<{ trigger: string; status: string }> = [];
      while (!runs.some((run) => run.trigger === 'startup' && run.status === 'succeeded') && Date.now() < deadline) {
        await sleep(100);
        runs = (await get('/api/v1/admin/runs')).runs;
      }
      assert.ok(
        runs.some((run) => run.trigger === 'startup' && run.status === 'succeeded'),
        JSON.stringify(runs),
      );

      // The job records its run just after the run record is final.
      let jobs = await get('/api/v1/admin/jobs');
      const syncJob = () => jobs.jobs.find((job: { name: string }) => job.name === 'background-sync');
      while (syncJob()?.lastRun === null && Date.now() < deadline) {
        await sleep(50);
        jobs = await get('/api/v1/admin/jobs');
      }
      assert.equal(jobs.schedulerRunning, true);
      assert.deepEqual(jobs.jobs.map((job: { name: string }) => job.name).sort(), ['auto-logout', 'background-sync']);
      assert.equal(syncJob().schedule, null);
      assert.equal(syncJob().lastRun.trigger, 'startup');
      assert.equal(syncJob().lastRun.outcome, 'succeeded');

      const started = await fetch(`${address}/api/v1/admin/actions/sync`, {
        method: 'POST',
        headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
        body: JSON.stringify({ wait: false }),
      });
      assert.equal(started.status, 202);
      const { runId } = (await started.json()) as { runId: string };
      let run: { status: string; trigger: string } = { status: 'running', trigger: '' };
      while (run.status === 'running' && Date.now() < deadline) {
        await sleep(50);
        run = await get(`/api/v1/admin/runs/${runId}`);
      }
      assert.equal(run.status, 'succeeded');
      assert.equal(run.trigger, 'api');

      const logs = (await get('/api/v1/admin/logs?limit=500')).entries as Array<{ msg: string; component?: string; job?: string }>;
      assert.ok(
        logs.some((entry) => entry.msg === 'job finished' && entry.component === 'scheduler' && entry.job === 'background-sync'),
        'scheduler lines are in the log view',
      );
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /"component":"scheduler".*"msg":"job finished"/, 'the scheduler logs JSON lines on stdout');
    assert.equal(stdout.includes(slapd.readerPassword) || stdout.includes(ADMIN_PASSWORD), false);
  });
});
