/**
 * `dirbridge run-jobs` (a real process) against a real slapd: sync on startup runs a sync as
 * soon as it starts, the background sync runs on its text-form schedule, each job's next run
 * is printed; and two run-jobs processes on one PostgreSQL database sync on startup once.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { merge } from './helpers/harness.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { until } from './helpers/wait.ts';

const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'dirbridge.js');
const problem = await postgresProblem();

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], env: NodeJS.ProcessEnv): Running {
  const child = execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
  });
}

describe('run-jobs against OpenLDAP', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let dir: string;
  let base: Record<string, unknown>;
  const env = () => ({ DIRBRIDGE_DIRECTORY_BIND_PASSWORD: slapd.readerPassword, DIRBRIDGE_ADMIN_PASSWORD: 'correct horse battery staple' });

  before(async () => {
    organisation = generateOrganisation({ people: 40, groups: 8, seed: 11 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-run-jobs-'));
    base = {
      directory: { urls: [slapd.url], bindDn: slapd.readerDn },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'] },
      autoLogout: { enabled: false },
    };
  });

  after(async () => {
    await slapd?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function configFile(name: string, override: Record<string, unknown>): Promise<string> {
    const file = path.join(dir, name);
    await writeFile(file, stringify(merge(base, override)));
    return file;
  }

  it("syncs on startup, then on the background sync schedule, printing each job's next run", async () => {
    const config = await configFile('startup.yaml', {
      store: { dataDir: path.join(dir, 'sqlite') },
      // A schedule setting fires at most once a minute: the scheduled sync comes within two minutes.
      backgroundSync: { enabled: true, onStartup: true, schedule: 'every 1 minute' },
    });
    const jobs = start(['--config', config, 'run-jobs'], env());
    try {
      await until(() => /background-sync: sync succeeded.*\(startup\)/.test(jobs.stdout()) || undefined, 30_000, 'the startup sync');
      assert.match(jobs.stderr(), /background-sync: next run \d{4}-\d\d-\d\dT[\d:.]+Z \(every 1 minute = \* \* \* \* \*\) \(syncing now, on startup\)/);
      assert.match(jobs.stderr(), /job lock: in-process/);
      assert.match(jobs.stdout(), /users 40 created/);
      await until(
        () => /background-sync: sync succeeded: users 0 created, 0 updated.*\n/.test(jobs.stdout().split('(startup)')[1] ?? '') || undefined,
        150_000,
        'a scheduled sync',
      );
    } finally {
      jobs.child.kill('SIGTERM');
    }
    assert.equal(await jobs.exited, 0, jobs.stderr());

    const runs = await cli(['--config', config, '--json', 'runs', 'list'], env());
    assert.equal(runs.code, 0, runs.stderr);
    const triggers = (JSON.parse(runs.stdout) as { runs: Array<{ trigger: string; status: string }> }).runs.map((run) => `${run.trigger}:${run.status}`);
    assert.equal(triggers.at(-1), 'startup:succeeded', triggers.join(','));
    assert.ok(triggers.includes('schedule:succeeded'), triggers.join(','));
    const users = await cli(['--config', config, '--json', 'users', 'list', '--source', 'directory'], env());
    assert.equal(JSON.parse(users.stdout).total, organisation.users.length);
  });

  it('with only onStartup set, syncs once at start and schedules nothing', async () => {
    const config = await configFile('startup-only.yaml', { store: { dataDir: path.join(dir, 'sqlite-2') }, backgroundSync: { onStartup: true } });
    const jobs = start(['--config', config, 'run-jobs'], env());
    try {
      await until(() => /background-sync: sync succeeded/.test(jobs.stdout()) || undefined, 30_000, 'the startup sync');
      assert.match(jobs.stderr(), /background-sync: next run never \(no schedule\)/);
    } finally {
      jobs.child.kill('SIGTERM');
    }
    assert.equal(await jobs.exited, 0, jobs.stderr());
  });

  it('rejects an invalid schedule with its path before starting', async () => {
    const config = await configFile('bad.yaml', {
      store: { dataDir: path.join(dir, 'sqlite-3') },
      backgroundSync: { enabled: true, schedule: 'every blue moon' },
    });
    const result = await cli(['--config', config, 'run-jobs'], env());
    assert.equal(result.code, 2);
    assert.match(result.stderr, /backgroundSync\.schedule: invalid schedule "every blue moon".*expected a cron expression/);
  });

  it('two run-jobs processes on one PostgreSQL database sync on startup once', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    const database = await createTestDatabase();
    try {
      const config = await configFile('postgres.yaml', {
        store: { url: database.url },
        backgroundSync: { onStartup: true, enabled: true, schedule: 'every 1 hour' },
      });
      // Migrate once first, so the two processes race for the job lock rather than for the migrations.
      const ready = await cli(['--config', config, '--json', 'runs', 'list'], env());
      assert.equal(ready.code, 0, ready.stderr);
      const instances = [start(['--config', config, 'run-jobs'], env()), start(['--config', config, 'run-jobs'], env())];
      try {
        await until(() => instances.some((jobs) => /sync succeeded/.test(jobs.stdout())) || undefined, 30_000, 'a startup sync');
        await until(
          () => instances.every((jobs) => /sync succeeded|another instance holds the job lock/.test(jobs.stdout() + jobs.stderr())) || undefined,
          30_000,
          'both instances to start',
        );
        for (const jobs of instances) assert.match(jobs.stderr(), /job lock: PostgreSQL advisory locks/);
      } finally {
        for (const jobs of instances) jobs.child.kill('SIGTERM');
      }
      for (const jobs of instances) assert.equal(await jobs.exited, 0, jobs.stderr());
      assert.equal(instances.filter((jobs) => /sync succeeded/.test(jobs.stdout())).length, 1, 'one instance synced');
      assert.equal(
        instances.filter((jobs) => /background-sync: skipped: another instance holds the job lock \(startup\)/.test(jobs.stderr())).length,
        1,
        'the other skipped',
      );
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const runs = await client.query<{ trigger: string; count: string }>('select trigger, count(*) as count from sync_runs group by trigger');
        assert.deepEqual(
          runs.rows.map((row) => [row.trigger, Number(row.count)]),
          [['startup', 1]],
        );
      } finally {
        await client.end();
      }
    } finally {
      await database.drop();
    }
  });
});
