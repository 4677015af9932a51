/**
 * The settings API against a real OpenLDAP: secrets are redacted and sealed at rest, an
 * invalid value is refused with its path and saves nothing, a valid change takes effect in
 * this instance without a restart, another instance on the same store picks it up, and a
 * stale edit is refused instead of overwriting a newer one.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { openApp, type App } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { createHttpServer } from '../src/http/server.ts';
import { generateOrganisation } from './fixtures/sample-directory.ts';
import { startSlapd, type Slapd } from './fixtures/slapd.ts';
import { settingsFor } from './helpers/harness.ts';

const ADMIN_PASSWORD = 'admin-password-for-settings-tests';

describe('settings API', () => {
  let slapd: Slapd;
  let app: App;
  let other: App;
  let server: FastifyInstance;
  let cleanup: () => Promise<void>;
  let headers: Record<string, string>;
  const seen: string[] = [];
  const logLines: string[] = [];

  async function call(options: InjectOptions) {
    const response = await server.inject({ ...options, headers: { ...headers, ...(options.headers ?? {}) } });
    seen.push(response.body);
    return response;
  }

  before(async () => {
    const organisation = generateOrganisation({ people: 10, groups: 3, seed: 3 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn },
    });
    cleanup = made.cleanup;
    app = await openApp(made.settings);
    // A second instance on the same store (SQLite allows it within one machine).
    other = await openApp(made.settings);
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    const logStream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    server = await createHttpServer(app, { logger: { level: 'debug', stream: logStream } });
    const signIn = await server.inject({ method: 'POST', url: '/api/v1/admin/session', payload: { username: 'admin', password: ADMIN_PASSWORD } });
    assert.equal(signIn.statusCode, 200, signIn.body);
    const cookie = signIn.cookies.find((candidate) => candidate.name === 'dirbridge_session');
    assert.ok(cookie);
    headers = { cookie: `dirbridge_session=${cookie.value}`, 'x-csrf-token': signIn.json().csrfToken };
  });

  after(async () => {
    await server?.close();
    await other?.close();
    await app?.close();
    await slapd?.stop();
    await cleanup?.();
  });

  it('shows the settings with their version, the secret only as set, and seals it at rest', async () => {
    const response = await call({ method: 'GET', url: '/api/v1/admin/settings' });
    assert.equal(response.statusCode, 200);
    const body = response.json();
    assert.equal(body.version, 1);
    assert.deepEqual(body.secrets, { 'directory.bindPassword': { isSet: true } });
    assert.equal(body.settings.directory.bindDn, slapd.readerDn);
    assert.equal('bindPassword' in body.settings.directory, false);
    assert.equal('store' in body.settings, false);
    assert.equal(body.settings.sync.batchSize, 5000, 'defaults are shown');
    const stored = JSON.stringify((await app.store.getSettings())?.document);
    assert.equal(stored.includes(slapd.readerPassword), false, 'the stored document never holds the password in clear');
    assert.match(stored, /dirbridge:v1:/);
  });

  it('refuses an invalid value naming its path, and saves nothing', async () => {
    const { settings } = (await call({ method: 'GET', url: '/api/v1/admin/settings' })).json();
    settings.directory.pageSize = 0;
    settings.users.filter = '(uid=';
    const response = await call({ method: 'PUT', url: '/api/v1/admin/settings', payload: { version: 1, settings } });
    assert.equal(response.statusCode, 400);
    const { error } = response.json();
    assert.equal(error.code, 'settings.invalid');
    assert.ok(error.problems.some((problem: string) => problem.startsWith('directory.pageSize: ')), error.problems.join('\n'));
    assert.ok(error.problems.some((problem: string) => problem.startsWith('users.filter: ')), error.problems.join('\n'));
    assert.equal(app.settingsState().version, 1);
    assert.equal(await app.store.getSettingsVersion(), 1);
  });

  it('refuses a store section and requests without the CSRF token', async () => {
    const { settings } = (await call({ method: 'GET', url: '/api/v1/admin/settings' })).json();
    const withStore = await call({ method: 'PUT', url: '/api/v1/admin/settings', payload: { version: 1, settings: { ...settings, store: { dataDir: '/tmp/elsewhere' } } } });
    assert.equal(withStore.statusCode, 400);
    assert.match(withStore.json().error.problems[0], /^store: /);
    const noCsrf = await call({ method: 'PUT', url: '/api/v1/admin/settings', payload: { version: 1, settings }, headers: { 'x-csrf-token': '' } });
    assert.equal(noCsrf.statusCode, 403);
  });

  it('applies a change at once, keeps an absent secret, and refuses a stale version', async () => {
    const { settings } = (await call({ method: 'GET', url: '/api/v1/admin/settings' })).json();
    // A wrong password takes effect without a restart: Test Connection now fails to bind.
    const wrong = await call({ method: 'PUT', url: '/api/v1/admin/settings', payload: { version: 1, settings: { ...settings, directory: { ...settings.directory, bindPassword: 'wrong-password' } } } });
    assert.equal(wrong.statusCode, 200, wrong.body);
    assert.deepEqual(wrong.json().changed, ['directory.bindPassword']);
    assert.equal(wrong.json().version, 2);
    const failing = await call({ method: 'POST', url: '/api/v1/admin/actions/test-connection', payload: {} });
    assert.equal(failing.json().error?.code, 'directory.invalid_credentials', failing.body);

    // The other instance still runs version 1 until it looks; then it runs version 2.
    assert.equal(other.settingsState().version, 1);
    assert.equal(await other.reloadSettings(), true);
    assert.equal(other.settingsState().version, 2);
    assert.equal(other.settings.directory.bindPassword, 'wrong-password');

    const fixed = await call({ method: 'PUT', url: '/api/v1/admin/settings', payload: { version: 2, settings: { ...settings, directory: { ...settings.directory, bindPassword: slapd.readerPassword }, sync: { ...settings.sync, batchSize: 100 } } } });
    assert.equal(fixed.statusCode, 200, fixed.body);
    assert.deepEqual(fixed.json().changed, ['directory.bindPassword', 'sync.batchSize']);
    const working = await call({ method: 'POST', url: '/api/v1/admin/actions/test-connection', payload: {} });
    assert.equal(working.statusCode, 200, working.body);

    // Saving what GET returned (no secret in it) keeps the secret and changes nothing.
    const again = (await call({ method: 'GET', url: '/api/v1/admin/settings' })).json();
    const unchanged = await call({ method: 'PUT', url: '/api/v1/admin/settings', payload: { version: again.version, settings: again.settings } });
    assert.equal(unchanged.statusCode, 200);
    assert.deepEqual(unchanged.json().changed, []);
    assert.equal(unchanged.json().version, 3);
    assert.equal(app.settings.directory.bindPassword, slapd.readerPassword);

    const stale = await call({ method: 'PUT', url: '/api/v1/admin/settings', payload: { version: 1, settings: { ...again.settings, sync: { ...again.settings.sync, batchSize: 7 } } } });
    assert.equal(stale.statusCode, 409);
    assert.equal(stale.json().error.code, 'settings.conflict');
    assert.equal(app.settings.sync.batchSize, 100);

    const audit = await app.store.listAudit({ limit: 10, offset: 0, action: 'settings.updated' });
    assert.deepEqual(
      audit.entries.map((entry) => (entry.details as { changed: string[] }).changed),
      [['directory.bindPassword', 'sync.batchSize'], ['directory.bindPassword']],
    );
    assert.ok(audit.entries.every((entry) => entry.actor === 'admin:admin'), JSON.stringify(audit.entries.map((entry) => entry.actor)));
  });

  it('never returns or logs a secret', () => {
    for (const secret of [slapd.readerPassword, 'wrong-password']) {
      assert.equal(seen.some((body) => body.includes(secret)), false, 'response bodies');
      assert.equal(logLines.some((line) => line.includes(secret)), false, 'log lines');
    }
  });
});
