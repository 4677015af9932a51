/**
 * Two server instances on one PostgreSQL database, each with its own scheduler and job lock
 * connection (as two `dirbridge serve` processes have): Sync Now on one holds the background
 * sync's advisory lock, so the other answers 409; the other still sees the run and its live
 * progress; and once the run ends, either can sync again. Fails (never skips) when CI is set
 * and PostgreSQL is down.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { createHttpServer } from '../src/http/server.ts';
import { createAppScheduler } from '../src/scheduler/app-jobs.ts';
import { silentLog } from '../src/scheduler/job-lock.ts';
import type { Scheduler } from '../src/scheduler/scheduler.ts';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { signInAdmin } from './helpers/admin-session.ts';
import { settingsFor } from './helpers/harness.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const problem = await postgresProblem();
const ADMIN_PASSWORD = 'admin-password-for-two-instances';
const SECRET_KEY = randomBytes(32).toString('hex');

interface Instance {
  app: App;
  scheduler: Scheduler & { lock: { kind: string } };
  server: FastifyInstance;
  cookie: { dirbridge_session: string };
  csrf: string;
}

describe('Sync Now across two instances on PostgreSQL', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let database: { url: string; drop: () => Promise<void> };
  const instances: Instance[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  async function call(
    instance: Instance,
    options: InjectOptions,
  ): Promise<{ statusCode: number; body: string; headers: Record<string, unknown>; json: () => any }> {
    return (await instance.server.inject({ ...options, cookies: instance.cookie, headers: { 'x-csrf-token': instance.csrf } })) as unknown as {
      statusCode: number;
      body: string;
      headers: Record<string, unknown>;
      json: () => any;
    };
  }

  before(async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    database = await createTestDatabase();
    organisation = generateOrganisation({ people: 60, groups: 6, seed: 3 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    for (let i = 0; i < 2; i += 1) {
      const made = await settingsFor({
        directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
        users: { baseDn: slapd.baseDn },
        groups: { baseDn: `ou=groups,${slapd.baseDn}` },
        store: { url: database.url },
      });
      cleanups.push(made.cleanup);
      // Instances sharing a database share the key that seals stored secrets.
      const app = await openApp(made.settings, { env: { DIRBRIDGE_SECRET_KEY: SECRET_KEY } });
      await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
      const scheduler = createAppScheduler(app, { log: silentLog });
      await scheduler.start();
      const server = await createHttpServer(app, { logger: false, scheduler });
      const { cookie, csrf } = await signInAdmin(server, ADMIN_PASSWORD);
      instances.push({ app, scheduler, server, cookie, csrf });
    }
  });

  after(async () => {
    slapd?.kill('SIGCONT');
    for (const instance of instances) {
      await instance.server.close();
      await instance.scheduler.stop();
      await instance.app.close();
    }
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
    await database?.drop();
  });

  it("refuses Sync Now on B while A syncs, shows A's run and progress on B, and lets B sync once A is done", async () => {
    const [a, b] = instances;
    assert.ok(a && b);
    assert.equal(a.scheduler.lock.kind, 'postgres');
    slapd.kill('SIGSTOP');
    let runId: string;
    try {
      const started = await call(a, { method: 'POST', url: '/api/v1/admin/actions/sync', payload: { wait: false } });
      assert.equal(started.statusCode, 202, started.body);
      runId = started.json().runId;

      const seenOnB = await call(b, { method: 'GET', url: `/api/v1/admin/runs/${runId}` });
      assert.equal(seenOnB.statusCode, 200);
      assert.equal(seenOnB.json().status, 'running');
      assert.equal(seenOnB.json().progress.phase, 'connecting', 'the progress A writes is visible on B');

      const refused = await call(b, { method: 'POST', url: '/api/v1/admin/actions/sync', payload: { wait: false } });
      assert.equal(refused.statusCode, 409, refused.body);
      assert.equal(refused.json().error.code, 'sync.already_running');
      assert.equal(refused.json().error.message, `a sync is already running on another instance (run ${runId})`, 'the refusal names the run going on A');
      assert.equal(refused.headers['retry-after'], undefined, 'no retry time is promised while a run is really going');
      const viaJobs = await call(b, { method: 'POST', url: '/api/v1/admin/jobs/background-sync/run', payload: {} });
      assert.equal(viaJobs.statusCode, 409);
      assert.match(viaJobs.json().error.message, /another instance/);
      const jobOnB = (await call(b, { method: 'GET', url: '/api/v1/admin/jobs' })).json().jobs.find((job: { name: string }) => job.name === 'background-sync');
      assert.equal(jobOnB.isRunning, false, 'it runs on A, not on B');
      assert.equal(jobOnB.lastSkip.reason, 'locked');
      const runs = (await call(b, { method: 'GET', url: '/api/v1/admin/runs?limit=10' })).json().runs as Array<{ status: string }>;
      assert.equal(runs.filter((run) => run.status === 'running').length, 1, 'B recorded no run of its own');
    } finally {
      slapd.kill('SIGCONT');
    }

    const deadline = Date.now() + 30_000;
    let run;
    do {
      await sleep(50);
      run = (await call(b, { method: 'GET', url: `/api/v1/admin/runs/${runId}` })).json();
    } while (run.status === 'running' && Date.now() < deadline);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(run.progress, null);
    assert.equal(run.counts['users.created'], organisation.users.length);

    // A manual run gives the lock up as it ends: B syncs at once.
    let synced;
    do {
      synced = await call(b, { method: 'POST', url: '/api/v1/admin/actions/sync', payload: { full: true } });
      // A's job may still be releasing its lock for a few milliseconds after the run record is final.
      if (synced.statusCode === 409) await sleep(50);
    } while (synced.statusCode === 409 && Date.now() < deadline);
    assert.equal(synced.statusCode, 200, synced.body);
    assert.equal(synced.json().users.unchanged, organisation.users.length);
  });
});
