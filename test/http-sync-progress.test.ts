/**
 * Sync Now in the background, its live progress, the jobs API, the log view and the job
 * metrics — against a real OpenLDAP, the SQLite store and a real scheduler. slapd is frozen
 * (SIGSTOP) to hold a run in a known phase, so nothing here depends on timing luck.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { createHttpServer, type HttpServerOptions } from '../src/http/server.ts';
import type { SyncRunPhase } from '../src/model/index.ts';
import { appJobs, createAppScheduler, followSettings } from '../src/scheduler/app-jobs.ts';
import { silentLog } from '../src/scheduler/job-lock.ts';
import type { Scheduler } from '../src/scheduler/scheduler.ts';
import type { Settings } from '../src/settings/schema.ts';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { signInAdmin } from './helpers/admin-session.ts';
import { settingsFor } from './helpers/harness.ts';
import { until } from './helpers/wait.ts';

const ADMIN_PASSWORD = 'admin-password-for-progress-tests';
const SECRET = 'S3cret-never-in-logs-7f1c';

interface Reply {
  statusCode: number;
  body: string;
  json: () => any;
}

describe('Sync Now in the background, progress, jobs and logs', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let settings: Settings;
  let app: App;
  let scheduler: Scheduler;
  let server: FastifyInstance;
  let adminCookie: { dirbridge_session: string };
  let csrf: string;
  const stdout: string[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  async function serverFor(target: App, options: HttpServerOptions = {}): Promise<FastifyInstance> {
    const made = await createHttpServer(target, {
      logger: {
        level: 'info',
        stream: new Writable({
          write: (chunk: Buffer, _encoding, done) => {
            stdout.push(chunk.toString('utf8'));
            done();
          },
        }),
      },
      ...options,
    });
    cleanups.push(() => made.close());
    return made;
  }

  const signIn = (on: FastifyInstance) => signInAdmin(on, ADMIN_PASSWORD);

  async function admin(options: InjectOptions, on: FastifyInstance = server, auth = { cookie: adminCookie, csrf }): Promise<Reply> {
    const response = await on.inject({ ...options, cookies: auth.cookie, headers: { 'x-csrf-token': auth.csrf, ...(options.headers ?? {}) } });
    return response as unknown as Reply;
  }

  async function finishedRun(runId: string, on: FastifyInstance = server, auth = { cookie: adminCookie, csrf }): Promise<any> {
    return until(
      async () => {
        const run = (await admin({ method: 'GET', url: `/api/v1/admin/runs/${runId}` }, on, auth)).json();
        return run.status === 'running' ? undefined : run;
      },
      30_000,
      `run ${runId} to finish`,
    );
  }

  before(async () => {
    organisation = generateOrganisation({ people: 120, groups: 10, seed: 5 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword, pageSize: 20 },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'] },
    });
    cleanups.push(made.cleanup);
    settings = made.settings;
    app = await openApp(settings);
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    scheduler = createAppScheduler(app, { log: silentLog });
    await scheduler.start();
    server = await serverFor(app, { scheduler });
    ({ cookie: adminCookie, csrf } = await signIn(server));
  });

  after(async () => {
    slapd?.kill('SIGCONT');
    for (const cleanup of cleanups.reverse()) await cleanup();
    await scheduler?.stop();
    await app?.close();
    await slapd?.stop();
  });

  it('records the phases and counters of a running sync in its run record, throttled, and clears them at the end', async () => {
    let runId: string | undefined;
    let isFrozen = false;
    const pending = app.sync.runSync({
      trigger: 'cli',
      isDryRun: true,
      onStarted: (id) => (runId = id),
      onProgress: (progress) => {
        if (!isFrozen && progress.phase === 'users' && progress.entriesRead >= 60) {
          isFrozen = true;
          slapd.kill('SIGSTOP');
        }
      },
    });
    try {
      const id = await until(async () => runId, 5_000, 'the run id');
      // The page that froze the server was counted; its throttled write follows within a second.
      const progress = await until(
        async () => {
          const found = (await app.store.runs.get(id))?.progress;
          return found !== undefined && found !== null && found.usersRead >= 60 ? found : undefined;
        },
        5_000,
        'the users read so far',
      );
      assert.equal(progress.phase, 'reading_users');
      assert.equal(progress.groupsRead, 0);
      assert.ok(Date.parse(progress.updatedAt) > Date.now() - 10_000);
      const listed = await admin({ method: 'GET', url: '/api/v1/admin/runs?limit=5' });
      const shown = listed.json().runs.find((run: { id: string }) => run.id === id);
      assert.equal(shown.status, 'running');
      assert.equal(shown.progress.phase, 'reading_users');
    } finally {
      slapd.kill('SIGCONT');
    }
    const result = await pending;
    assert.equal(result.status, 'succeeded');
    const run = await app.store.runs.get(result.runId);
    assert.equal(run?.progress, null);
  });

  it('answers Sync Now with 202 {runId} at once, shows it running with its progress, refuses a second sync, then records the result', async () => {
    slapd.kill('SIGSTOP');
    let runId: string;
    try {
      const startedAt = Date.now();
      const started = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync', payload: { wait: false } });
      assert.equal(started.statusCode, 202, started.body);
      assert.ok(Date.now() - startedAt < 3_000, 'answered before any directory I/O');
      runId = started.json().runId;
      assert.deepEqual(Object.keys(started.json()), ['runId']);

      const running = await admin({ method: 'GET', url: `/api/v1/admin/runs/${runId}` });
      assert.equal(running.statusCode, 200);
      assert.equal(running.json().status, 'running');
      assert.equal(running.json().trigger, 'api');
      assert.equal(running.json().progress.phase satisfies SyncRunPhase, 'connecting');
      assert.equal(running.json().finishedAt, null);

      for (const body of [{ wait: false }, {}]) {
        const again = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync', payload: body });
        assert.equal(again.statusCode, 409, again.body);
        assert.equal(again.json().error.code, 'sync.already_running');
      }
      const viaJobs = await admin({ method: 'POST', url: '/api/v1/admin/jobs/background-sync/run', payload: {} });
      assert.equal(viaJobs.statusCode, 409);
      assert.equal(viaJobs.json().error.code, 'jobs.already_running');

      const jobs = (await admin({ method: 'GET', url: '/api/v1/admin/jobs' })).json();
      assert.equal(jobs.schedulerRunning, true);
      const sync = jobs.jobs.find((job: { name: string }) => job.name === 'background-sync');
      assert.equal(sync.isRunning, true);
      assert.equal(sync.schedule, null, 'background sync is off: the job exists for Sync Now only');
      assert.equal(sync.current.trigger, 'manual');
    } finally {
      slapd.kill('SIGCONT');
    }

    const run = await finishedRun(runId);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(run.progress, null);
    assert.equal(run.counts['users.created'], organisation.users.length);
    assert.equal(typeof run.durationMs, 'number');

    // The history chart's data: durations and counts on every listed run.
    const history = (await admin({ method: 'GET', url: '/api/v1/admin/runs?limit=10' })).json();
    for (const listed of history.runs) {
      assert.equal(typeof listed.durationMs, 'number');
      assert.equal(typeof listed.counts, 'object');
      assert.ok('progress' in listed && 'status' in listed && 'startedAt' in listed && 'trigger' in listed);
    }

    const sync = (await admin({ method: 'GET', url: '/api/v1/admin/jobs' })).json().jobs.find((job: { name: string }) => job.name === 'background-sync');
    await until(async () => (scheduler.status().find((job) => job.name === 'background-sync')?.running === false ? true : undefined), 5_000, 'the job to end');
    const ended = (await admin({ method: 'GET', url: '/api/v1/admin/jobs' })).json().jobs.find((job: { name: string }) => job.name === 'background-sync');
    assert.ok(sync);
    assert.equal(ended.isRunning, false);
    assert.equal(ended.lastRun.trigger, 'manual');
    assert.equal(ended.lastRun.outcome, 'succeeded');
    assert.match(ended.lastRun.message, new RegExp(`\\[run ${runId}\\]`));

    // A manual run keeps no lock: the next Sync Now (waiting, the default) runs at once.
    const waited = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync', payload: {} });
    assert.equal(waited.statusCode, 200, waited.body);
    assert.equal(waited.json().status, 'succeeded');
    assert.equal(waited.json().mode, 'incremental', 'the second sync reads only the changes');

    const metrics = (await server.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /dirbridge_job_runs_total\{job="background-sync",outcome="succeeded"\} 2/);
    assert.match(metrics, /dirbridge_job_skips_total\{job="background-sync"\} [1-9]/);
    assert.match(metrics, /dirbridge_sync_runs_total\{trigger="api",status="succeeded",dry_run="false"\} 2/);
  });

  it('records a failed background sync in its run and keeps serving', async () => {
    const offline = await openApp(
      (await settingsFor({ directory: { urls: ['ldap://127.0.0.1:1'], connectTimeoutMs: 300 }, users: { baseDn: slapd.baseDn } })).settings,
    );
    cleanups.push(() => offline.close());
    await ensureInitialAdmin(offline.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    const bare = await serverFor(offline);
    const auth = await signIn(bare);
    const started = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync', payload: { wait: false } }, bare, {
      cookie: auth.cookie,
      csrf: auth.csrf,
    });
    assert.equal(started.statusCode, 202);
    const run = await finishedRun(started.json().runId, bare, { cookie: auth.cookie, csrf: auth.csrf });
    assert.equal(run.status, 'failed');
    assert.match(run.errorCode, /^directory\./);
    assert.equal((await bare.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });

  it('without a scheduler, runs Sync Now on app.sync: 202, 409 while it runs, and an empty job list', async () => {
    const bare = await serverFor(app);
    const auth = await signIn(bare);
    const jobs = await admin({ method: 'GET', url: '/api/v1/admin/jobs' }, bare, { cookie: auth.cookie, csrf: auth.csrf });
    assert.deepEqual(jobs.json(), { schedulerRunning: false, jobs: [] });
    const unknown = await admin({ method: 'POST', url: '/api/v1/admin/jobs/background-sync/run', payload: {} }, bare, { cookie: auth.cookie, csrf: auth.csrf });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error.code, 'jobs.not_found');

    slapd.kill('SIGSTOP');
    let runId: string;
    try {
      const started = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync', payload: { wait: false, dryRun: true } }, bare, {
        cookie: auth.cookie,
        csrf: auth.csrf,
      });
      assert.equal(started.statusCode, 202, started.body);
      runId = started.json().runId;
      const again = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync', payload: {} }, bare, { cookie: auth.cookie, csrf: auth.csrf });
      assert.equal(again.statusCode, 409);
      assert.equal(again.json().error.code, 'sync.already_running');
    } finally {
      slapd.kill('SIGCONT');
    }
    const run = await finishedRun(runId, bare, { cookie: auth.cookie, csrf: auth.csrf });
    assert.equal(run.status, 'succeeded');
    assert.equal(run.isDryRun, true);
  });

  it('runs a job on demand: 200 with the run when waiting, 202 when not, 404 for an unknown job', async () => {
    const waited = await admin({ method: 'POST', url: '/api/v1/admin/jobs/auto-logout/run', payload: {} });
    assert.equal(waited.statusCode, 200, waited.body);
    assert.equal(waited.json().ran, true);
    assert.equal(waited.json().run.trigger, 'manual');
    assert.equal(waited.json().run.outcome, 'succeeded');
    assert.match(waited.json().run.message, /revoked \d+ session/);
    const background = await admin({ method: 'POST', url: '/api/v1/admin/jobs/auto-logout/run', payload: { wait: false } });
    assert.equal(background.statusCode, 202, background.body);
    assert.deepEqual(background.json(), { started: true });
    const forged = await server.inject({ method: 'POST', url: '/api/v1/admin/jobs/auto-logout/run', payload: {}, cookies: adminCookie });
    assert.equal(forged.statusCode, 403, 'a run without the CSRF token is refused');
    assert.equal(forged.json().error.code, 'http.csrf_failed');
    const missing = await admin({ method: 'POST', url: '/api/v1/admin/jobs/no-such-job/run', payload: {} });
    assert.equal(missing.statusCode, 404);
    const listed = (await admin({ method: 'GET', url: '/api/v1/admin/jobs' })).json();
    const logout = listed.jobs.find((job: { name: string }) => job.name === 'auto-logout');
    assert.equal(logout.schedule, '*/5 * * * *');
    assert.match(logout.nextRunAt, /^\d{4}-\d\d-\d\dT/);
    assert.ok(logout.runs >= 1);
    const metrics = (await server.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /dirbridge_job_runs_total\{job="auto-logout",outcome="succeeded"\} [1-9]/);
  });

  it('follows settings changes: a new background sync schedule takes effect at once, and switching it off keeps the job', async () => {
    const unfollow = followSettings(app, scheduler, { log: silentLog });
    const change = async (backgroundSync: Record<string, unknown>) => {
      const { store: _store, ...document } = structuredClone(app.settings);
      await app.updateSettings(
        { ...document, backgroundSync: { ...document.backgroundSync, ...backgroundSync } },
        { expectedVersion: app.settingsState().version, actor: 'test' },
      );
    };
    const syncJob = async () =>
      (await admin({ method: 'GET', url: '/api/v1/admin/jobs' })).json().jobs.find((job: { name: string }) => job.name === 'background-sync');
    try {
      assert.equal((await syncJob()).schedule, null);
      await change({ enabled: true, schedule: 'every 1 hour' });
      const scheduled = await syncJob();
      assert.equal(scheduled.schedule, 'every 1 hour');
      assert.equal(scheduled.cron, '0 * * * *');
      assert.ok(Date.parse(scheduled.nextRunAt) - Date.now() <= 3_600_000);
      assert.deepEqual(
        scheduler
          .status()
          .map((job) => job.name)
          .sort(),
        appJobs(app)
          .map((job) => job.name)
          .sort(),
      );
      await change({ enabled: false });
      const off = await syncJob();
      assert.equal(off.schedule, null, 'switched off: no schedule, but Sync Now still has its job');
      assert.equal(off.nextRunAt, null);
    } finally {
      unfollow();
    }
    await change({ enabled: true, schedule: 'every 2 hours' });
    assert.equal((await syncJob()).schedule, null, 'no longer followed after unsubscribing');
  });

  it('shows recent log lines newest first, filtered by level, redacted exactly as stdout', async () => {
    const login = await server.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'nobody', password: SECRET } });
    assert.equal(login.statusCode, 401);
    server.log.info(
      { password: SECRET, bindPassword: SECRET, settings: { directory: { bindPassword: SECRET } }, token: SECRET, job: 'probe' },
      'probe line with secrets',
    );
    server.log.warn({ job: 'probe' }, 'probe warning');

    const all = await admin({ method: 'GET', url: '/api/v1/admin/logs?limit=2000' });
    assert.equal(all.statusCode, 200);
    assert.equal(all.body.includes(SECRET), false, 'no secret in the log view');
    assert.equal(stdout.join('').includes(SECRET), false, 'no secret on stdout');
    const entries = all.json().entries as Array<{ time: string; level: string; msg: string; [key: string]: unknown }>;
    const probe = entries.find((entry) => entry.msg === 'probe line with secrets');
    assert.ok(probe, 'the line is in the buffer');
    assert.equal(probe.level, 'info');
    assert.equal(probe['password'], '[redacted]');
    assert.equal(probe['bindPassword'], '[redacted]');
    assert.deepEqual(probe['settings'], { directory: { bindPassword: '[redacted]' } });
    assert.equal(probe['job'], 'probe');
    assert.equal('pid' in probe || 'hostname' in probe, false);
    assert.ok(stdout.join('').includes('"msg":"probe line with secrets"'), 'the buffer sees what stdout sees');
    const times = entries.map((entry) => Date.parse(entry.time));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => b - a),
      'newest first',
    );
    assert.ok(entries.findIndex((entry) => entry.msg === 'probe warning') < entries.indexOf(probe));

    const warnings = (await admin({ method: 'GET', url: '/api/v1/admin/logs?level=warn' })).json().entries as Array<{ level: string; msg: string }>;
    assert.ok(warnings.some((entry) => entry.msg === 'probe warning'));
    assert.ok(warnings.every((entry) => ['warn', 'error', 'fatal'].includes(entry.level)));
    const one = (await admin({ method: 'GET', url: '/api/v1/admin/logs?limit=1' })).json().entries;
    assert.equal(one.length, 1);
    assert.equal((await admin({ method: 'GET', url: '/api/v1/admin/logs?level=loud' })).statusCode, 400);
  });
});
