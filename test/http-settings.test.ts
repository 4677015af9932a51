/**
 * The settings API against a real OpenLDAP: secrets are redacted and sealed at rest, an
 * invalid value is refused with its path and saves nothing, a valid change takes effect in
 * this instance without a restart, another instance on the same store picks it up, and a
 * stale edit is refused instead of overwriting a newer one. Test Connection and Test LDAP Search
 * test unsaved settings without saving them, and a verified save refuses directory settings
 * that cannot connect and bind.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { createHttpServer } from '../src/http/server.ts';
import { generateOrganisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { signInAdmin } from './helpers/admin-session.ts';
import { settingsFor } from './helpers/harness.ts';

const ADMIN_PASSWORD = 'admin-password-for-settings-tests';
/** A wrong bind password that is only ever tested or refused, never saved. */
const UNSAVED_PASSWORD = 'unsaved-wrong-password';
/** Nothing listens there: connecting fails at once. */
const DEAD_URL = 'ldap://127.0.0.1:1';

describe('settings API', () => {
  let slapd: Slapd;
  let app: App;
  let other: App;
  let server: FastifyInstance;
  let cleanup: () => Promise<void>;
  let headers: Record<string, string>;
  let organisationUser: () => string;
  const seen: string[] = [];
  const logLines: string[] = [];

  async function call(options: InjectOptions) {
    const response = await server.inject({ ...options, headers: { ...headers, ...(options.headers ?? {}) } });
    seen.push(response.body);
    return response;
  }

  before(async () => {
    const organisation = generateOrganisation({ people: 10, groups: 3, seed: 3 });
    organisationUser = () => {
      const found = organisation.users.find((candidate) => !candidate.locked && /^[a-z0-9._-]+$/.test(candidate.uid));
      assert.ok(found);
      return found.uid;
    };
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
    const signIn = await signInAdmin(server, ADMIN_PASSWORD);
    headers = { cookie: `dirbridge_session=${signIn.token}`, 'x-csrf-token': signIn.csrf };
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
    const stored = JSON.stringify((await app.store.settings.get())?.document);
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
    assert.ok(
      error.problems.some((problem: string) => problem.startsWith('directory.pageSize: ')),
      error.problems.join('\n'),
    );
    assert.ok(
      error.problems.some((problem: string) => problem.startsWith('users.filter: ')),
      error.problems.join('\n'),
    );
    assert.equal(app.settingsState().version, 1);
    assert.equal(await app.store.settings.getVersion(), 1);
  });

  it("refuses a timeout Node's timers cannot hold (3000000000 ms) naming directory.operationTimeoutMs, and saves nothing", async () => {
    const before = await app.store.settings.get();
    const { settings, version } = (await call({ method: 'GET', url: '/api/v1/admin/settings' })).json();
    settings.directory.operationTimeoutMs = 3_000_000_000;
    const response = await call({ method: 'PUT', url: '/api/v1/admin/settings?verify=connection', payload: { version, settings } });
    assert.equal(response.statusCode, 400, response.body);
    const { error } = response.json();
    assert.equal(error.code, 'settings.invalid');
    assert.deepEqual(error.problems, ['directory.operationTimeoutMs: must be at most 3600000 ms (1 hour)']);
    assert.equal(app.settingsState().version, version);
    assert.deepEqual(await app.store.settings.get(), before, 'the stored version is untouched');
    assert.equal(app.settings.directory.operationTimeoutMs, 30_000, 'the settings in force are untouched');
    // The same value through a schedule that fires every 30 seconds, and a base DN of the root.
    settings.directory.operationTimeoutMs = 30_000;
    settings.autoLogout.schedule = 'every 30 seconds';
    settings.users.baseDn = '';
    const more = await call({ method: 'PUT', url: '/api/v1/admin/settings', payload: { version, settings } });
    assert.equal(more.statusCode, 400);
    assert.deepEqual(
      more
        .json()
        .error.problems.map((problem: string) => problem.split(':')[0])
        .sort(),
      ['autoLogout.schedule', 'users.baseDn'],
    );
    assert.equal(await app.store.settings.getVersion(), version);
  });

  it('refuses a store section and requests without the CSRF token', async () => {
    const { settings } = (await call({ method: 'GET', url: '/api/v1/admin/settings' })).json();
    const withStore = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings',
      payload: { version: 1, settings: { ...settings, store: { dataDir: '/tmp/elsewhere' } } },
    });
    assert.equal(withStore.statusCode, 400);
    assert.match(withStore.json().error.problems[0], /^store: /);
    const noCsrf = await call({ method: 'PUT', url: '/api/v1/admin/settings', payload: { version: 1, settings }, headers: { 'x-csrf-token': '' } });
    assert.equal(noCsrf.statusCode, 403);
  });

  it('applies a change at once, keeps an absent secret, and refuses a stale version', async () => {
    const { settings } = (await call({ method: 'GET', url: '/api/v1/admin/settings' })).json();
    // A wrong password takes effect without a restart: Test Connection now fails to bind.
    const wrong = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings',
      payload: { version: 1, settings: { ...settings, directory: { ...settings.directory, bindPassword: 'wrong-password' } } },
    });
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

    const fixed = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings',
      payload: {
        version: 2,
        settings: { ...settings, directory: { ...settings.directory, bindPassword: slapd.readerPassword }, sync: { ...settings.sync, batchSize: 100 } },
      },
    });
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

    const stale = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings',
      payload: { version: 1, settings: { ...again.settings, sync: { ...again.settings.sync, batchSize: 7 } } },
    });
    assert.equal(stale.statusCode, 409);
    assert.equal(stale.json().error.code, 'settings.conflict');
    assert.equal(app.settings.sync.batchSize, 100);

    const audit = await app.store.audit.list({ limit: 10, offset: 0, action: 'settings.updated' });
    assert.deepEqual(
      audit.entries.map((entry) => (entry.details as { changed: string[] }).changed),
      [['directory.bindPassword', 'sync.batchSize'], ['directory.bindPassword']],
    );
    assert.ok(
      audit.entries.every((entry) => entry.actor === 'admin:admin'),
      JSON.stringify(audit.entries.map((entry) => entry.actor)),
    );
  });

  /** The settings as GET shows them (no secrets) with their version. */
  async function current(): Promise<{ version: number; settings: Record<string, any> }> {
    const response = await call({ method: 'GET', url: '/api/v1/admin/settings' });
    assert.equal(response.statusCode, 200, response.body);
    return response.json();
  }

  const withDirectory = (settings: Record<string, any>, directory: Record<string, unknown>) => ({
    ...settings,
    directory: { ...settings.directory, ...directory },
  });

  it('tests unsaved settings without saving them, while the settings in force keep working', async () => {
    const before = await current();
    const storedBefore = await app.store.settings.getVersion();
    const people = organisationUser();

    // An unsaved wrong password: Test Connection fails naming invalid credentials.
    const wrong = withDirectory(before.settings, { bindPassword: UNSAVED_PASSWORD });
    const failing = await call({ method: 'POST', url: '/api/v1/admin/actions/test-connection', payload: { settings: wrong } });
    assert.equal(failing.statusCode, 502, failing.body);
    assert.equal(failing.json().error.code, 'directory.invalid_credentials');
    assert.match(failing.json().error.message, /invalid credentials/);
    const searchFailing = await call({ method: 'POST', url: '/api/v1/admin/actions/test-search', payload: { username: people, settings: wrong } });
    assert.equal(searchFailing.json().error?.code, 'directory.invalid_credentials', searchFailing.body);

    // The settings in force are untouched and still work: Test Connection, Test LDAP Search, a login pool rebuild never happened.
    assert.equal(app.settings.directory.bindPassword, slapd.readerPassword);
    const live = await call({ method: 'POST', url: '/api/v1/admin/actions/test-connection', payload: {} });
    assert.equal(live.statusCode, 200, live.body);
    assert.equal(live.json().bind.dn, slapd.readerDn);
    const liveSearch = await call({ method: 'POST', url: '/api/v1/admin/actions/test-search', payload: { username: people } });
    assert.equal(liveSearch.json().status, 'found', liveSearch.body);

    // Unsaved values are what is tested: a secret left out keeps the stored one, other changes apply.
    const timeout = await call({
      method: 'POST',
      url: '/api/v1/admin/actions/test-connection',
      payload: { settings: withDirectory(before.settings, { connectTimeoutMs: 1234 }) },
    });
    assert.equal(timeout.statusCode, 200, timeout.body);
    const elsewhere = { ...before.settings, users: { ...before.settings.users, baseDn: `ou=groups,${slapd.baseDn}` } };
    const notFound = await call({ method: 'POST', url: '/api/v1/admin/actions/test-search', payload: { username: people, settings: elsewhere } });
    assert.equal(notFound.statusCode, 200, notFound.body);
    // The unsaved base holds no users at all, and the answer says which settings to look at.
    assert.deepEqual(notFound.json(), {
      status: 'not_found',
      username: people,
      warnings: [`users.filter: (objectClass=inetOrgPerson) matches no entry under ou=groups,${slapd.baseDn} (scope sub); check users.filter and users.baseDn`],
    });
    const unreachable = await call({
      method: 'POST',
      url: '/api/v1/admin/actions/test-connection',
      payload: { settings: withDirectory(before.settings, { bindPassword: slapd.readerPassword, urls: [DEAD_URL], connectTimeoutMs: 500 }) },
    });
    assert.equal(unreachable.statusCode, 503, unreachable.body);
    assert.equal(unreachable.json().error.code, 'directory.unavailable');
    // The stored bind password never follows a changed server, account or TLS: it must be entered again.
    for (const moved of [{ urls: [DEAD_URL] }, { bindDn: 'cn=someone-else,dc=example,dc=org' }, { startTls: true }]) {
      for (const [method, url] of [
        ['POST', '/api/v1/admin/actions/test-connection'],
        ['PUT', '/api/v1/admin/settings?verify=connection'],
        ['PUT', '/api/v1/admin/settings'],
      ] as const) {
        const payload =
          method === 'POST'
            ? { settings: withDirectory(before.settings, moved) }
            : { version: before.version, settings: withDirectory(before.settings, moved) };
        const refused = await call({ method, url, payload });
        assert.equal(refused.statusCode, 400, `${method} ${url} ${JSON.stringify(moved)}: ${refused.body}`);
        assert.equal(refused.json().error.code, 'settings.invalid');
        assert.match(refused.json().error.message, /directory\.bindPassword: enter the bind password again/);
      }
    }

    // Validated as PUT validates: every bad path named, null clears the secret (a bind DN then needs one), no store.
    const invalid = await call({
      method: 'POST',
      url: '/api/v1/admin/actions/test-connection',
      payload: { settings: { ...withDirectory(before.settings, { pageSize: 0 }), users: { ...before.settings.users, filter: '(uid=' } } },
    });
    assert.equal(invalid.statusCode, 400, invalid.body);
    assert.equal(invalid.json().error.code, 'settings.invalid');
    assert.ok(
      invalid.json().error.problems.some((problem: string) => problem.startsWith('directory.pageSize: ')),
      invalid.body,
    );
    assert.ok(
      invalid.json().error.problems.some((problem: string) => problem.startsWith('users.filter: ')),
      invalid.body,
    );
    const cleared = await call({
      method: 'POST',
      url: '/api/v1/admin/actions/test-search',
      payload: { username: people, settings: withDirectory(before.settings, { bindPassword: null }) },
    });
    assert.equal(cleared.statusCode, 400, cleared.body);
    assert.ok(
      cleared.json().error.problems.some((problem: string) => problem.startsWith('directory.bindPassword: ')),
      cleared.body,
    );
    const withStore = await call({
      method: 'POST',
      url: '/api/v1/admin/actions/test-connection',
      payload: { settings: { ...before.settings, store: { dataDir: '/tmp/elsewhere' } } },
    });
    assert.equal(withStore.statusCode, 400);
    assert.match(withStore.json().error.problems[0], /^store: /);

    // Nothing was saved.
    assert.equal(await app.store.settings.getVersion(), storedBefore);
    assert.equal(app.settingsState().version, before.version);
  });

  it('refuses a verified save whose directory settings cannot connect and bind, saving nothing', async () => {
    const before = await current();
    const storedBefore = await app.store.settings.getVersion();
    const auditBefore = (await app.store.audit.list({ limit: 100, offset: 0, action: 'settings.updated' })).entries.length;

    const wrongUrl = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings?verify=connection',
      payload: {
        version: before.version,
        settings: withDirectory(before.settings, { bindPassword: slapd.readerPassword, urls: [DEAD_URL], connectTimeoutMs: 500 }),
      },
    });
    assert.equal(wrongUrl.statusCode, 422, wrongUrl.body);
    const { error } = wrongUrl.json();
    assert.equal(error.code, 'settings.verification_failed');
    assert.match(error.message, /could not connect and bind, so nothing was saved/);
    assert.equal(error.verification.status, 'failed');
    assert.equal(error.verification.error.code, 'directory.unavailable');
    assert.deepEqual(error.verification.paths, ['directory.connectTimeoutMs', 'directory.urls']);

    const wrongPassword = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings?verify=connection',
      payload: { version: before.version, settings: withDirectory(before.settings, { bindPassword: UNSAVED_PASSWORD }) },
    });
    assert.equal(wrongPassword.statusCode, 422, wrongPassword.body);
    assert.equal(wrongPassword.json().error.verification.error.code, 'directory.invalid_credentials');
    assert.deepEqual(wrongPassword.json().error.verification.paths, ['directory.bindPassword']);

    // An invalid document or a stale version fails as without verification, before any connection.
    const invalid = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings?verify=connection',
      payload: { version: before.version, settings: withDirectory(before.settings, { pageSize: 0 }) },
    });
    assert.equal(invalid.statusCode, 400);
    const stale = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings?verify=connection',
      payload: { version: before.version - 1, settings: withDirectory(before.settings, { bindPassword: slapd.readerPassword, urls: [DEAD_URL] }) },
    });
    assert.equal(stale.statusCode, 409);
    assert.equal(stale.json().error.code, 'settings.conflict');
    const unknown = await call({ method: 'PUT', url: '/api/v1/admin/settings?verify=yes', payload: { version: before.version, settings: before.settings } });
    assert.equal(unknown.statusCode, 400);

    // Nothing was saved anywhere: the version, the settings in force, the audit log.
    assert.equal(await app.store.settings.getVersion(), storedBefore);
    assert.equal(app.settingsState().version, before.version);
    assert.deepEqual(app.settings.directory.urls, [slapd.url]);
    assert.equal(app.settings.directory.bindPassword, slapd.readerPassword);
    assert.equal((await app.store.audit.list({ limit: 100, offset: 0, action: 'settings.updated' })).entries.length, auditBefore);
    const live = await call({ method: 'POST', url: '/api/v1/admin/actions/test-connection', payload: {} });
    assert.equal(live.statusCode, 200, live.body);
  });

  it('saves verified settings that connect, skips the check when the directory is unchanged, and saves anyway without it', async () => {
    const before = await current();
    const verified = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings?verify=connection',
      payload: { version: before.version, settings: withDirectory(before.settings, { connectTimeoutMs: 4321 }) },
    });
    assert.equal(verified.statusCode, 200, verified.body);
    assert.equal(verified.json().version, before.version + 1);
    assert.deepEqual(verified.json().changed, ['directory.connectTimeoutMs']);
    assert.deepEqual(verified.json().verification, {
      status: 'passed',
      url: slapd.url,
      security: 'plain',
      serverType: 'openldap',
      bindDn: slapd.readerDn,
      paths: ['directory.connectTimeoutMs'],
    });
    assert.equal(app.settings.directory.connectTimeoutMs, 4321);

    const unchangedDirectory = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings?verify=connection',
      payload: { version: before.version + 1, settings: { ...verified.json().settings, sync: { ...verified.json().settings.sync, batchSize: 250 } } },
    });
    assert.equal(unchangedDirectory.statusCode, 200, unchangedDirectory.body);
    assert.equal(unchangedDirectory.json().verification.status, 'skipped');
    assert.equal(unchangedDirectory.json().version, before.version + 2);

    // A planned outage: without verify the unreachable URL is saved, and goes live.
    const outage = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings',
      payload: {
        version: before.version + 2,
        settings: withDirectory(unchangedDirectory.json().settings, { bindPassword: slapd.readerPassword, urls: [DEAD_URL], connectTimeoutMs: 500 }),
      },
    });
    assert.equal(outage.statusCode, 200, outage.body);
    assert.equal('verification' in outage.json(), false);
    const down = await call({ method: 'POST', url: '/api/v1/admin/actions/test-connection', payload: {} });
    assert.equal(down.statusCode, 503, down.body);
    // The fix is verified against the real server before it goes live.
    const restored = await call({
      method: 'PUT',
      url: '/api/v1/admin/settings?verify=connection',
      payload: {
        version: before.version + 3,
        settings: withDirectory(outage.json().settings, { bindPassword: slapd.readerPassword, urls: [slapd.url], connectTimeoutMs: 5000 }),
      },
    });
    assert.equal(restored.statusCode, 200, restored.body);
    assert.equal(restored.json().verification.status, 'passed');
    assert.equal((await call({ method: 'POST', url: '/api/v1/admin/actions/test-connection', payload: {} })).statusCode, 200);
  });

  it('never returns or logs a secret', () => {
    assert.ok(
      logLines.some((line) => line.includes('settings refused')),
      'a refused save is logged',
    );
    for (const secret of [slapd.readerPassword, 'wrong-password', UNSAVED_PASSWORD]) {
      assert.equal(
        seen.some((body) => body.includes(secret)),
        false,
        'response bodies',
      );
      assert.equal(
        logLines.some((line) => line.includes(secret)),
        false,
        'log lines',
      );
    }
  });
});
