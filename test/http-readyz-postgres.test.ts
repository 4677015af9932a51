/**
 * /readyz against a PostgreSQL store that stops answering (a table held by an exclusive lock, as
 * a stuck migration or a hung server would): the probe answers 503 within its deadline instead of
 * hanging with the store, and is ready again once the store answers. Fails in CI without PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { type App, openApp } from '../src/app.ts';
import { createHttpServer } from '../src/http/server.ts';
import { settingsFor } from './helpers/harness.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const problem = await postgresProblem();

describe('/readyz with a hung PostgreSQL store', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, () => {
  let database: { url: string; drop: () => Promise<void> };
  let app: App;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    database = await createTestDatabase();
    const made = await settingsFor({
      directory: { urls: ['ldap://127.0.0.1:1'], bindDn: 'cn=reader,dc=example,dc=org', bindPassword: 'reader-secret' },
      users: { baseDn: 'dc=example,dc=org' },
      store: { url: database.url },
    });
    cleanups.push(made.cleanup);
    app = await openApp(made.settings, { env: { DIRBRIDGE_SECRET_KEY: 'a'.repeat(64) } });
  });

  after(async () => {
    await app?.close();
    await database?.drop();
    for (const cleanup of cleanups) await cleanup();
  });

  it('answers 503 within its deadline while the store hangs, and 200 once it answers', async () => {
    const server = await createHttpServer(app, { logger: false, readyTimeoutMs: 300 });
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    try {
      assert.equal((await server.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
      await locker.query('begin');
      await locker.query('lock table sync_runs in access exclusive mode');
      const started = Date.now();
      const hung = await server.inject({ method: 'GET', url: '/readyz' });
      const took = Date.now() - started;
      assert.equal(hung.statusCode, 503, hung.body);
      assert.equal(hung.json().status, 'not_ready');
      assert.deepEqual(hung.json().store, { status: 'unavailable', dialect: 'postgres', error: 'store.timeout' });
      assert.ok(took < 2_000, `answered after ${took} ms`);
      assert.equal((await server.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'liveness does not depend on the store');
      await locker.query('rollback');
      const ready = await server.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200, ready.body);
      assert.equal(ready.json().store.status, 'ok');
    } finally {
      await locker.end();
      await server.close();
    }
  });
});
