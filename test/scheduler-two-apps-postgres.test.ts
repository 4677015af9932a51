/**
 * Two full dirbridge instances on one PostgreSQL database, each with the scheduler `dirbridge
 * serve` builds (`createAppScheduler`, its own advisory-lock connection), Background Sync every
 * second and sync on startup, against OpenLDAP. What the store's run log must show: one startup
 * run across both instances, at most one run per tick, never two runs at once, no failed run,
 * and a run at every tick that found nothing running. Then Sync Now on the instance that did not
 * run a tick goes through at once — the claim that keeps the other instance from repeating the
 * tick does not block it — and a refusal while no run is recorded says so, with Retry-After.
 * Fails (never skips) when CI is set and PostgreSQL is down.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { isDirbridgeError } from '../src/errors.ts';
import { createHttpServer } from '../src/http/server.ts';
import type { SyncRunRecord } from '../src/model/index.ts';
import { createAppScheduler, JOB_NAMES, runSyncExclusively } from '../src/scheduler/app-jobs.ts';
import type { JobLock, SchedulerLog } from '../src/scheduler/job-lock.ts';
import { createPostgresJobLock } from '../src/scheduler/postgres-lock.ts';
import { type Scheduler, tickClaimName } from '../src/scheduler/scheduler.ts';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { signInAdmin } from './helpers/admin-session.ts';
import { settingsFor } from './helpers/harness.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { until } from './helpers/wait.ts';

const problem = await postgresProblem();
const ADMIN_PASSWORD = 'admin-password-for-two-schedulers';
const SECRET_KEY = randomBytes(32).toString('hex');
const JOB = JOB_NAMES.backgroundSync;

interface LogLine {
  instance: string;
  level: 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

interface Instance {
  name: string;
  app: App;
  scheduler: Scheduler & { lock: JobLock };
  server: FastifyInstance;
  cookie: { dirbridge_session: string };
  csrf: string;
}

interface Reply {
  statusCode: number;
  body: string;
  headers: Record<string, unknown>;
  json: () => any;
}

function capture(instance: string, lines: LogLine[]): SchedulerLog {
  const push = (level: LogLine['level']) => (fields: Record<string, unknown>, message: string) => void lines.push({ instance, level, fields, message });
  return { info: push('info'), warn: push('warn'), error: push('error') };
}

describe('two dirbridge instances with their schedulers on one PostgreSQL', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let database: { url: string; drop: () => Promise<void> };
  const instances: Instance[] = [];
  const logs: LogLine[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  async function call(instance: Instance, options: InjectOptions): Promise<Reply> {
    return (await instance.server.inject({ ...options, cookies: instance.cookie, headers: { 'x-csrf-token': instance.csrf } })) as unknown as Reply;
  }

  async function allRuns(): Promise<SyncRunRecord[]> {
    const first = instances[0];
    assert.ok(first);
    // The page and its count are two reads; a tick may start a run between them, so only the page is checked.
    const { runs } = await first.app.store.runs.list({ limit: 500, offset: 0 });
    assert.ok(runs.length < 500, 'every run fits in one page');
    return runs.slice().sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  }

  /** Stops the ticks on both instances and waits until no run is going. */
  async function quiesce(): Promise<void> {
    for (const instance of instances) instance.scheduler.reschedule(JOB, null);
    await until(
      async () => (instances.some((instance) => instance.scheduler.status().some((job) => job.running)) ? undefined : true),
      10_000,
      'the runs to end',
    );
  }

  before(async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    database = await createTestDatabase();
    organisation = generateOrganisation({ people: 60, groups: 6, seed: 11 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    for (const name of ['a', 'b']) {
      const made = await settingsFor({
        directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
        users: { baseDn: slapd.baseDn },
        groups: { baseDn: `ou=groups,${slapd.baseDn}` },
        // A schedule setting fires at most once a minute; the scheduler is set to tick every second below.
        backgroundSync: { enabled: true, schedule: 'every 1 minute', onStartup: true },
        store: { url: database.url },
      });
      cleanups.push(made.cleanup);
      // Instances sharing a database share the key that seals stored secrets.
      const app = await openApp(made.settings, { env: { DIRBRIDGE_SECRET_KEY: SECRET_KEY } });
      await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
      assert.equal(app.settings.backgroundSync.enabled, true);
      const scheduler = createAppScheduler(app, { log: capture(name, logs) });
      // Ticks every second (the scheduler runs second-level schedules; only the settings refuse them).
      scheduler.reschedule(JOB, 'every 1 second');
      const server = await createHttpServer(app, { logger: false, scheduler });
      const { cookie, csrf } = await signInAdmin(server, ADMIN_PASSWORD);
      instances.push({ name, app, scheduler, server, cookie, csrf });
    }
  });

  after(async () => {
    for (const instance of instances) {
      await instance.server.close();
      await instance.scheduler.stop();
      await instance.app.close();
    }
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
    await database?.drop();
  });

  it('syncs on startup once and runs each 1-second tick at most once, never concurrently, with no failed run', async () => {
    const [a, b] = instances;
    assert.ok(a && b);
    assert.equal(a.scheduler.lock.kind, 'postgres');
    const from = Date.now();
    await Promise.all(instances.map((instance) => instance.scheduler.start()));
    await sleep(6_500);
    const to = Date.now();
    await quiesce();
    const runs = await allRuns();

    const timeline = runs
      .map((run) => `${run.trigger}:${Date.parse(run.startedAt) - from}-${run.finishedAt === null ? '?' : Date.parse(run.finishedAt) - from}:${run.status}`)
      .join(' ');
    const skips = logs.filter((line) => line.fields['reason'] === 'locked').map((line) => `${line.instance}/${String(line.fields['trigger'])}`);
    const context = `runs (trigger:start-end ms after start:status): ${timeline}; skips for the lock: ${skips.join(' ')}`;

    for (const run of runs) {
      assert.equal(run.status, 'succeeded', `run ${run.id} (${run.trigger}) ended ${run.status}: ${run.reason ?? run.errorMessage ?? ''}; ${context}`);
      assert.equal(run.isDryRun, false);
    }
    assert.equal(runs.filter((run) => run.trigger === 'startup').length, 1, `exactly one startup run across both instances; ${context}`);
    assert.deepEqual(new Set(runs.map((run) => run.trigger)), new Set(['startup', 'schedule']), context);
    assert.equal(runs[0]?.counts['users.created'], organisation.users.length, `the first run imported the directory; ${context}`);

    // Never two runs at once, on either instance.
    const spans = runs.map((run) => ({ start: Date.parse(run.startedAt), end: Date.parse(run.finishedAt ?? '') }));
    for (const [i, span] of spans.entries()) {
      const next = spans[i + 1];
      if (next !== undefined) assert.ok(span.end <= next.start, `runs ${i} and ${i + 1} overlapped; ${context}`);
    }

    // A run of a tick starts within its second: at most one run per tick.
    const scheduled = runs.filter((run) => run.trigger === 'schedule');
    const ticks = scheduled.map((run) => Math.floor(Date.parse(run.startedAt) / 1_000) * 1_000);
    assert.equal(new Set(ticks).size, ticks.length, `a tick ran twice; ${context}`);
    // Every tick that found nothing running ran (a tick right after a run ended may go either way).
    const settleMs = 400;
    for (let tick = Math.ceil(from / 1_000) * 1_000; tick <= to - 1_000; tick += 1_000) {
      const busy = spans.some((span) => span.start < tick && span.end > tick - settleMs);
      const ranAt = ticks.filter((candidate) => candidate === tick).length;
      if (!busy) assert.equal(ranAt, 1, `tick +${tick - from} ms found nothing running but did not run; ${context}`);
    }
    assert.ok(scheduled.length >= 3, `at least 3 scheduled runs in ~6.5 s, got ${scheduled.length}; ${context}`);
    assert.ok(
      skips.some((skip) => skip.endsWith('/schedule')),
      `the instances competed for the ticks; ${context}`,
    );
    assert.ok(
      skips.some((skip) => skip.endsWith('/startup')),
      `the second instance skipped its startup run; ${context}`,
    );
    console.log(
      `two apps: ${scheduled.length} scheduled runs, by ${logs
        .filter((line) => line.message === 'job started' && line.fields['trigger'] === 'schedule')
        .map((line) => line.instance)
        .join('')}; ${skips.length} skips for the lock`,
    );
  });

  it('lets Sync Now run on the other instance right after a tick, while the tick stays claimed', async () => {
    // Every 4 seconds: the claim is kept 2 s after the tick (half the gap).
    const rescheduledAt = Date.now();
    for (const instance of instances) instance.scheduler.reschedule(JOB, 'every 4 seconds');
    const tickRun = await until(
      async () => (await allRuns()).find((run) => run.trigger === 'schedule' && Date.parse(run.startedAt) >= rescheduledAt && run.status !== 'running'),
      10_000,
      'a scheduled run',
    );
    assert.equal(tickRun.status, 'succeeded');
    const tick = Math.floor(Date.parse(tickRun.startedAt) / 4_000) * 4_000;
    const ranIt = await until(
      async () =>
        instances.find(
          (instance) =>
            instance.scheduler
              .status()
              .find((job) => job.name === JOB)
              ?.lastRun?.scheduledAt?.getTime() === tick,
        ),
      2_000,
      'the instance that ran the tick',
    );
    const other = instances.find((instance) => instance !== ranIt);
    assert.ok(other);

    const probe = createPostgresJobLock(database.url, { applicationName: 'dirbridge-test-probe' });
    try {
      assert.equal(
        await probe.tryAcquire(tickClaimName(JOB, { trigger: 'schedule', scheduledAt: new Date(tick) })),
        null,
        `${ranIt.name} still claims the tick it ran`,
      );
      const synced = await call(other, { method: 'POST', url: '/api/v1/admin/actions/sync', payload: { full: true } });
      const answeredAt = Date.now();
      assert.equal(synced.statusCode, 200, `Sync Now on ${other.name} ${answeredAt - tick} ms after the tick ${ranIt.name} ran: ${synced.body}`);
      assert.equal(synced.json().users.unchanged, organisation.users.length);
      assert.ok(
        answeredAt < tick + 2_000,
        `the manual run (${answeredAt - tick} ms after the tick) fell inside the claim's hold window, or this proves nothing`,
      );
      const again = await call(ranIt, { method: 'POST', url: '/api/v1/admin/actions/sync', payload: {} });
      assert.equal(again.statusCode, 200, `and on ${ranIt.name}: ${again.body}`);

      // The run lock held with no run recorded (a run starting or just ending elsewhere): the
      // refusal says so and when to retry, rather than claiming a sync is running.
      await quiesce();
      const runLock = await probe.tryAcquire(JOB);
      assert.ok(runLock !== null, 'no run is going, so the run lock is free');
      const refused = await call(other, { method: 'POST', url: '/api/v1/admin/actions/sync', payload: {} });
      assert.equal(refused.statusCode, 409, refused.body);
      assert.equal(refused.json().error.code, 'sync.already_running');
      assert.match(refused.json().error.message, /starting or finished moments ago on another instance/);
      assert.equal(refused.headers['retry-after'], '1');
      await runLock.release();
      const after = await call(other, { method: 'POST', url: '/api/v1/admin/actions/sync', payload: {} });
      assert.equal(after.statusCode, 200, after.body);
    } finally {
      await probe.close();
    }

    const runs = await allRuns();
    const ofTick = runs.filter((run) => run.trigger === 'schedule' && Math.floor(Date.parse(run.startedAt) / 4_000) * 4_000 === tick);
    assert.equal(ofTick.length, 1, 'the tick ran once');
    assert.equal(runs.filter((run) => run.trigger === 'api' && run.status === 'succeeded').length, 3);
    assert.equal(runs.filter((run) => run.status !== 'succeeded').length, 0);
  });

  it('runs a CLI sync under the same run lock: refused while a run holds it, run once it is free', async () => {
    await quiesce();
    const [a] = instances;
    assert.ok(a);
    const holder = createPostgresJobLock(database.url, { applicationName: 'dirbridge-test-holder' });
    try {
      const held = await holder.tryAcquire(JOB);
      assert.ok(held !== null);
      const before = (await allRuns()).length;
      await assert.rejects(
        runSyncExclusively(a.app, { trigger: 'cli', isDryRun: false }),
        (error) => isDirbridgeError(error, 'sync.already_running') && /another instance/.test(error.message),
      );
      assert.equal((await allRuns()).length, before, 'a refused CLI sync records no run');
      // A dry run writes nothing and needs no lock.
      assert.equal((await runSyncExclusively(a.app, { trigger: 'cli', isDryRun: true })).status, 'succeeded');
      await held.release();
      const result = await runSyncExclusively(a.app, { trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'succeeded');
      assert.equal(result.trigger, 'cli');
      // The CLI gave the lock up when its run ended.
      const after = await holder.tryAcquire(JOB);
      assert.ok(after !== null, 'the run lock is free again');
      await after.release();
    } finally {
      await holder.close();
    }
  });
});
