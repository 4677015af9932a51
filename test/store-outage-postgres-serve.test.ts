/**
 * PostgreSQL stopped while `dirbridge serve` (a real process) applies a sync, then started again:
 * the server stays up, answers 503 (`/readyz`, logins, admin routes) while the store is away,
 * recovers by itself when it returns (pool, scheduler lock, settings watcher), the interrupted
 * run ends `failed` with the reason `interrupted`, a later sync completes it, and no account was
 * disabled, deleted or changed by the interruption. The PostgreSQL is a private one
 * (test/fixtures/postgres-server.ts): the machine's shared server is never stopped.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { openApp } from '../src/app.ts';
import { validateSettings } from '../src/settings/load.ts';
import { type PostgresServer, postgresServerProblem, startPostgresServer } from './fixtures/postgres-server.ts';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { writeSlapdConfig } from './helpers/directory.ts';
import { type ServeProcess, startServe } from './helpers/serve-process.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { until } from './helpers/wait.ts';

const problem = await postgresServerProblem();
const ADMIN_PASSWORD = 'admin-password-for-store-outage';
const SECRET_KEY = randomBytes(32).toString('hex');
const EMPLOYEES = '(&(objectClass=inetOrgPerson)(employeeType=employee))';

interface StoredUser {
  username: string;
  email: string | null;
  display_name: string | null;
  is_enabled: boolean;
  disabled_by: string | null;
  source: string;
}

describe('PostgreSQL stopped and started while serve applies a sync', { skip: skipUnlessCi(problem) }, () => {
  let postgres: PostgresServer;
  let databaseUrl: string;
  let slapd: Slapd;
  let organisation: Organisation;
  let dir: string;
  let serve: ServeProcess | undefined;

  /** A query on the private server from the test itself (a fresh connection each time: the server comes and goes). */
  async function query<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end().catch(() => {});
    }
  }

  before(async () => {
    assert.equal(problem, undefined, problem);
    postgres = await startPostgresServer();
    databaseUrl = await postgres.createDatabase('outage');
    organisation = generateOrganisation({ people: 4000, groups: 40, seed: 7 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-store-outage-'));
  });

  after(async () => {
    if (serve !== undefined && serve.exit() === undefined) serve.kill('SIGKILL');
    await slapd?.stop();
    await postgres?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('stays up, answers 503 while PostgreSQL is away, recovers, records the run as interrupted and loses nothing', async () => {
    const config = path.join(dir, 'dirbridge.yaml');
    const password = await writeSlapdConfig(config, slapd, {
      users: { filter: EMPLOYEES },
      // Many small transactions, so the apply lasts long enough to be interrupted.
      sync: { batchSize: 100, disableMissingUsers: true },
      store: { url: databaseUrl, dataDir: path.join(dir, 'data') },
    });
    const env = { ...password, DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD, DIRBRIDGE_SECRET_KEY: SECRET_KEY };
    serve = await startServe(config, env);
    const server = serve;
    assert.equal((await server.signIn(ADMIN_PASSWORD)).status, 200);

    // The employees first: the accounts the interrupted run must leave alone.
    const first = await server.request('POST', '/api/v1/admin/actions/sync', {});
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.status, 'succeeded', first.text);
    const employees = organisation.users.filter((user) => user.employeeType === 'employee');
    assert.equal(first.json.users.created, employees.length);
    const before = await query<StoredUser>('select username, email, display_name, is_enabled, disabled_by, source from users order by username');

    // Then everyone: a long apply of the other 1,570 people and their memberships.
    const current = await server.request('GET', '/api/v1/admin/settings');
    const everyone = { ...current.json.settings, users: { ...current.json.settings.users, filter: '(objectClass=inetOrgPerson)' } };
    const saved = await server.request('PUT', '/api/v1/admin/settings', { version: current.json.version, settings: everyone });
    assert.equal(saved.status, 200, saved.text);

    const started = await server.request('POST', '/api/v1/admin/actions/sync', { wait: false });
    assert.equal(started.status, 202, started.text);
    const runId: string = started.json.runId;
    await until(
      async () => {
        const [row] = await query<{ progress: string | null }>('select progress from sync_runs where id = $1', [runId]);
        return row?.progress?.includes('"applying"') === true ? true : undefined;
      },
      120_000,
      'the run to start applying',
      20,
    );
    await postgres.stop();

    // While PostgreSQL is away: not ready, clear 503s, and the process stays up.
    const ready = await server.request('GET', '/readyz');
    assert.equal(ready.status, 503, ready.text);
    assert.equal(ready.json.store.status, 'unavailable');
    const someone = organisation.users.find((user) => user.employeeType === 'employee' && !user.locked);
    assert.ok(someone);
    const appLogin = await server.request('POST', '/api/v1/auth/login', { username: someone.uid, password: someone.password });
    assert.equal(appLogin.status, 503, appLogin.text);
    assert.equal(appLogin.json.error.code, 'store.unavailable', appLogin.text);
    const adminSignIn = await fetch(`${server.address}/api/v1/admin/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    const adminSignInBody = (await adminSignIn.json()) as { error: { code: string } };
    assert.equal(adminSignIn.status, 503, JSON.stringify(adminSignInBody));
    assert.equal(adminSignInBody.error.code, 'store.unavailable');
    const users = await server.request('GET', '/api/v1/admin/users');
    assert.equal(users.status, 503, users.text);
    assert.equal(users.json.error.code, 'store.unavailable');
    // Long enough for the run's writes, its lease renewal, the scheduler's lock and the settings watcher to hit the outage.
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    assert.equal(server.exit(), undefined, `serve exited while PostgreSQL was away: ${server.stderr()}`);

    await postgres.start();
    await until(async () => ((await server.request('GET', '/readyz')).status === 200 ? true : undefined), 60_000, '/readyz to answer 200 again', 200);
    const loggedIn = await server.request('POST', '/api/v1/auth/login', { username: someone.uid, password: someone.password });
    assert.equal(loggedIn.status, 200, loggedIn.text);
    assert.equal((await server.signIn(ADMIN_PASSWORD)).status, 200);

    const run = await until(
      async () => {
        const found = await server.request('GET', `/api/v1/admin/runs/${runId}`);
        return found.status === 200 && found.json.status !== 'running' ? found.json : undefined;
      },
      120_000,
      'the interrupted run to be recorded',
      200,
    );
    assert.equal(run.status, 'failed', JSON.stringify(run));
    assert.equal(run.reason, 'interrupted', JSON.stringify(run));
    assert.equal(run.errorCode, 'store.unavailable', 'its own process recorded it, with the real cause');
    assert.notEqual(run.finishedAt, null);
    assert.equal(run.progress, null);

    // Nothing the interruption left behind is wrong: the employees as before, the others as in the directory, none disabled.
    const afterOutage = await query<StoredUser>('select username, email, display_name, is_enabled, disabled_by, source from users order by username');
    const byName = new Map(afterOutage.map((user) => [user.username.toLowerCase(), user]));
    for (const user of before) assert.deepEqual(byName.get(user.username.toLowerCase()), user, `${user.username} unchanged`);
    const directoryUsers = new Map(organisation.users.map((user) => [user.uid, user]));
    for (const user of afterOutage) {
      if (user.source === 'local') continue;
      const entry = directoryUsers.get(user.username);
      assert.ok(entry, `${user.username} is a directory user`);
      assert.equal(user.email, entry.mail);
      assert.equal(user.is_enabled, !entry.locked, `${user.username} enabled as in the directory`);
    }
    assert.ok(afterOutage.length < organisation.users.length + 1, 'the run was interrupted before it finished');

    // The settings watcher resumed: a version saved elsewhere reaches this instance.
    const settingsNow = await server.request('GET', '/api/v1/admin/settings');
    const seed = validateSettings(
      { directory: { urls: [slapd.url] }, users: { baseDn: slapd.baseDn }, store: { url: databaseUrl, dataDir: path.join(dir, 'other') } },
      'test',
    );
    const elsewhere = await openApp(seed, { env: { DIRBRIDGE_SECRET_KEY: SECRET_KEY } });
    try {
      await elsewhere.updateSettings(
        { ...settingsNow.json.settings, directory: { ...settingsNow.json.settings.directory, pageSize: 321 } },
        { expectedVersion: settingsNow.json.version, actor: 'test' },
      );
    } finally {
      await elsewhere.close();
    }
    await until(
      async () =>
        (await server.request('GET', '/api/v1/admin/jobs')).status === 200 && server.stdout().includes('applied settings saved elsewhere') ? true : undefined,
      60_000,
      'the settings watcher to apply the new version',
      500,
    );

    // A later sync (under the scheduler's lock, taken again) completes the work.
    const later = await server.request('POST', '/api/v1/admin/actions/sync', {});
    assert.equal(later.status, 200, later.text);
    assert.equal(later.json.status, 'succeeded', later.text);
    assert.equal(later.json.users.updated, 0, 'no account was left wrong by the interruption');
    assert.equal(later.json.users.disabled, 0);
    assert.equal(later.json.users.created, organisation.users.length - (afterOutage.length - 1));
    const final = await query<StoredUser>('select username, email, display_name, is_enabled, disabled_by, source from users order by username');
    assert.equal(final.length, organisation.users.length + 1);
    assert.equal(final.filter((user) => !user.is_enabled).length, organisation.users.filter((user) => user.locked).length);
    const readyAgain = await server.request('GET', '/readyz');
    assert.equal(readyAgain.json.directory.state, 'ok');
    assert.equal(readyAgain.json.directory.lastRun.status, 'succeeded');
    assert.equal((await query<{ running: string }>("select count(*) as running from sync_runs where status = 'running'"))[0]?.running, '0');

    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, server.stderr());
    assert.doesNotMatch(server.stderr(), /Unhandled|uncaught|at .*\.(js|ts):\d+/i, 'no crash trace');
    assert.doesNotMatch(server.stderr(), /^error /m, 'no failure left unhandled');
  });
});
