/**
 * The HTTP API against a real OpenLDAP and the SQLite store: application login, logout and
 * session validation with uniform errors, throttling, the change feed, the admin data API and
 * actions (Test Connection, Test LDAP Search, Sync Now, dry run, one user's sync), read-only
 * directory fields, avatars synced from jpegPhoto (app and admin routes, ETags, caching, refusing
 * what is not a raster image), operations endpoints — and that no response or log line ever carries a
 * secret (the bind password, password hashes, token hashes, session tokens).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { hashToken } from '../src/auth/tokens.ts';
import { csrfTokenFor } from '../src/http/admin-auth.ts';
import { createHttpServer, type HttpServerOptions } from '../src/http/server.ts';
import type { Settings } from '../src/settings/schema.ts';
import { runAvatarSync } from '../src/sync/attribute-jobs.ts';
import { GIF_1, JPEG_24, jpegPhotoChange, PNG_24, SVG_WITH_SCRIPT } from './fixtures/images.ts';
import { generateOrganisation, type Organisation, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { signInAdmin } from './helpers/admin-session.ts';
import { merge, settingsFor } from './helpers/harness.ts';

const ADMIN_PASSWORD = 'admin-password-for-http-tests';
const APP_API_KEY = 'app-key-0123456789abcdef';

const MAPPING = {
  roles: { enabled: true, autoRemove: true, map: { 'division-1': 'support', engineering: ['developer', 'reviewer'], backend: 'developer' } },
  channels: { enabled: true, autoRemove: true, channelAdmin: 'admin', map: { everyone: 'general', 'unix-admins': ['ops'] } },
  teams: { enabled: true, map: { 'division-2': 'Team Two' }, userGroupsQuery: '(&(objectClass=groupOfNames)(member=#{userdn}))' },
  customFields: { enabled: true, map: { departmentNumber: 'department' } },
  abac: { enabled: true, map: { title: 'title' } },
  adminGroup: 'cycle-a',
};

interface Reply {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  rawPayload: Buffer;
  json: () => any;
  cookies: Array<{ name: string; value: string; httpOnly?: boolean; sameSite?: string; secure?: boolean }>;
}

describe('HTTP API against OpenLDAP', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let app: App;
  let server: FastifyInstance;
  let base: Settings;
  const logLines: string[] = [];
  /** Every response body and header block any test received, scanned for secrets at the end. */
  const seen: string[] = [];
  /** Every session token handed out, whose hashes must never appear. */
  const tokens: string[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  let adminCookie: { dirbridge_session: string };
  let csrf: string;

  const logStream = () =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });

  async function serverFor(target: App, options: HttpServerOptions = {}): Promise<FastifyInstance> {
    const made = await createHttpServer(target, { logger: { level: 'debug', stream: logStream() }, appApiKey: APP_API_KEY, eventsSettleMs: 0, ...options });
    cleanups.push(() => made.close());
    return made;
  }

  async function call(options: InjectOptions, on: FastifyInstance = server): Promise<Reply> {
    const response = await on.inject(options);
    seen.push(response.body, JSON.stringify(response.headers));
    return response as unknown as Reply;
  }

  const admin = (options: InjectOptions): Promise<Reply> =>
    call({ ...options, cookies: adminCookie, headers: { 'x-csrf-token': csrf, ...(options.headers ?? {}) } });

  async function appWith(override: Record<string, unknown>): Promise<App> {
    const made = await settingsFor(merge(structuredClone(base) as unknown as Record<string, unknown>, override));
    cleanups.push(made.cleanup);
    const other = await openApp(made.settings);
    cleanups.push(() => other.close());
    await ensureInitialAdmin(other.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    return other;
  }

  const user = (uid: string): SampleUser => {
    const found = organisation.users.find((candidate) => candidate.uid === uid);
    assert.ok(found, uid);
    return found;
  };

  before(async () => {
    organisation = generateOrganisation({ people: 60, groups: 20, seed: 8 });
    slapd = await startSlapd({ ldif: organisation.ldif, pwdMaxFailure: 1000 });
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
      login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
      mapping: MAPPING,
    });
    cleanups.push(made.cleanup);
    base = made.settings;
    app = await openApp(base);
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    server = await serverFor(app);
    const signIn = await signInAdmin(server, ADMIN_PASSWORD);
    tokens.push(signIn.token);
    adminCookie = signIn.cookie;
    csrf = signIn.csrf;
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await app?.close();
    await slapd?.stop();
  });

  describe('operations', () => {
    it('answers /healthz and /readyz with the store state and the directory reported', async () => {
      const health = await call({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 200);
      assert.deepEqual(health.json(), { status: 'ok' });
      const ready = await call({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200);
      assert.equal(ready.json().status, 'ready');
      assert.equal(ready.json().store.status, 'ok');
      assert.ok(['ok', 'failing', 'unknown'].includes(ready.json().directory.state));
    });

    it('stays ready when the directory is down, and reports it', async () => {
      const offline = await appWith({ directory: { urls: ['ldap://127.0.0.1:1'], connectTimeoutMs: 300 } });
      const result = await offline.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'failed');
      const offlineServer = await serverFor(offline);
      const ready = await call({ method: 'GET', url: '/readyz' }, offlineServer);
      assert.equal(ready.statusCode, 200);
      assert.equal(ready.json().directory.state, 'failing');
      assert.equal(ready.json().directory.lastRun.errorCode, 'directory.unavailable');
    });

    it('is not ready when the store is unreachable', async () => {
      const closing = await appWith({});
      const closingServer = await serverFor(closing);
      await closing.store.close();
      const ready = await call({ method: 'GET', url: '/readyz' }, closingServer);
      assert.equal(ready.statusCode, 503);
      assert.equal(ready.json().status, 'not_ready');
      assert.equal(ready.json().store.status, 'unavailable');
    });
  });

  describe('application API', () => {
    it('logs in, validates the session with everything mapping gave the user, and logs out', async () => {
      const zoe = user('zoe.angstrom');
      const login = await call({ method: 'POST', url: '/api/v1/auth/login', payload: { username: zoe.uid, password: zoe.password } });
      assert.equal(login.statusCode, 200, login.body);
      const body = login.json();
      tokens.push(body.token);
      assert.equal(typeof body.token, 'string');
      assert.ok(Date.parse(body.expiresAt) > Date.now());
      assert.equal(body.user.username, zoe.uid);
      assert.equal(body.user.isAdmin, true, 'cycle-a is the admin group');
      assert.ok(body.user.groups.includes('cycle-a'));
      assert.ok(body.user.channels.includes('general'));
      assert.ok(body.user.channels.includes('ops'));
      assert.equal(body.user.customFields.department, zoe.departmentNumber);
      assert.deepEqual(body.user.abacAttributes.title, [zoe.title]);

      const session = await call({ method: 'GET', url: '/api/v1/auth/session', headers: { authorization: `Bearer ${body.token}` } });
      assert.equal(session.statusCode, 200, session.body);
      assert.equal(session.json().user.id, body.user.id);
      assert.deepEqual(session.json().user.roles, body.user.roles);

      const logout = await call({ method: 'POST', url: '/api/v1/auth/logout', headers: { authorization: `Bearer ${body.token}` } });
      assert.equal(logout.statusCode, 204);
      const afterLogout = await call({ method: 'GET', url: '/api/v1/auth/session', headers: { authorization: `Bearer ${body.token}` } });
      assert.equal(afterLogout.statusCode, 401);
      assert.equal(afterLogout.json().error.code, 'http.unauthenticated');
      assert.equal((await call({ method: 'POST', url: '/api/v1/auth/logout', headers: { authorization: `Bearer ${body.token}` } })).statusCode, 401);
    });

    it('gives roles and teams to the users whose groups map to them', async () => {
      const jose = user('jose.muller');
      const login = await call({ method: 'POST', url: '/api/v1/auth/login', payload: { username: jose.uid, password: jose.password } });
      assert.equal(login.statusCode, 200, login.body);
      tokens.push(login.json().token);
      // backend sits inside engineering (developer + reviewer): login grants what a full sync grants.
      assert.deepEqual([...login.json().user.roles].sort(), ['developer', 'reviewer', 'support']);
      const john = user('john.smith');
      const second = await call({ method: 'POST', url: '/api/v1/auth/login', payload: { username: john.uid, password: john.password } });
      tokens.push(second.json().token);
      assert.deepEqual(second.json().user.teams, ['Team Two']);
    });

    it('fails every bad login with the same 401 body, whatever the reason', async () => {
      const bob = user('bob.walker10');
      const locked = organisation.users.find((candidate) => candidate.locked);
      assert.ok(locked);
      const attempts = [
        { username: bob.uid, password: 'wrong' },
        { username: 'no.such.person', password: 'whatever' },
        { username: bob.uid, password: '' },
        { username: '*', password: bob.password },
        { username: locked.uid, password: locked.password },
      ];
      const bodies = new Set<string>();
      for (const attempt of attempts) {
        const response = await call({ method: 'POST', url: '/api/v1/auth/login', payload: attempt });
        assert.equal(response.statusCode, 401, JSON.stringify(attempt));
        bodies.add(response.body);
      }
      assert.deepEqual([...bodies], [JSON.stringify({ error: { code: 'auth.invalid_credentials', message: 'invalid username or password' } })]);
      // The precise reasons stay in the audit log.
      const failures = await app.store.audit.list({ limit: 5, offset: 0, action: 'login.failed' });
      assert.deepEqual(
        new Set(failures.entries.map((entry) => entry.reason)),
        new Set(['wrong_password', 'unknown_user', 'empty_password', 'locked_in_directory']),
      );
    });

    it('refuses a session request without a valid bearer token', async () => {
      for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 'Basic YTpi' }, { authorization: 'Bearer ' }]) {
        const response = await call({ method: 'GET', url: '/api/v1/auth/session', headers });
        assert.equal(response.statusCode, 401, JSON.stringify(headers));
        assert.equal(response.json().error.code, 'http.unauthenticated');
      }
    });

    it('names the invalid path of a malformed body', async () => {
      const missing = await call({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'x' } });
      assert.equal(missing.statusCode, 400);
      assert.equal(missing.json().error.code, 'request.invalid');
      assert.match(missing.json().error.message, /body\.password/);
      const broken = await call({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"username":' });
      assert.equal(broken.statusCode, 400);
      assert.equal(broken.json().error.code, 'request.invalid');
    });

    it('answers 429 once the login throttle is reached, and 503 when the directory is down', async () => {
      const strict = await appWith({ login: { throttle: { maxFailures: 2, windowSeconds: 60, knownAddressReserve: 0 } } });
      const strictServer = await serverFor(strict);
      const karl = user('karl.roberts11');
      for (let attempt = 0; attempt < 2; attempt += 1) {
        assert.equal(
          (await call({ method: 'POST', url: '/api/v1/auth/login', payload: { username: karl.uid, password: 'wrong' } }, strictServer)).statusCode,
          401,
        );
      }
      const throttled = await call({ method: 'POST', url: '/api/v1/auth/login', payload: { username: karl.uid, password: karl.password } }, strictServer);
      assert.equal(throttled.statusCode, 429);
      assert.deepEqual(throttled.json(), { error: { code: 'auth.throttled', message: 'too many failed attempts; try again later' } });

      const offline = await appWith({ directory: { urls: ['ldap://127.0.0.1:1'], connectTimeoutMs: 300 } });
      const offlineServer = await serverFor(offline);
      const unavailable = await call({ method: 'POST', url: '/api/v1/auth/login', payload: { username: karl.uid, password: karl.password } }, offlineServer);
      assert.equal(unavailable.statusCode, 503);
      assert.deepEqual(unavailable.json(), { error: { code: 'auth.directory_unavailable', message: 'the directory is unavailable; try again later' } });
    });
  });

  describe('admin actions', () => {
    it('runs Test Connection with the mapping-key warnings', async () => {
      const report = await admin({ method: 'POST', url: '/api/v1/admin/actions/test-connection' });
      assert.equal(report.statusCode, 200, report.body);
      assert.equal(report.json().serverType, 'openldap');
      assert.equal(report.json().bind.dn, slapd.readerDn);
      assert.deepEqual(report.json().warnings, []);
      const misnamed = await appWith({ mapping: { roles: { map: { 'no-such-group': 'ghost' } } } });
      const misnamedServer = await serverFor(misnamed);
      const token = (await misnamed.login.login({ username: 'admin', password: ADMIN_PASSWORD })).token;
      tokens.push(token);
      const warned = await call(
        {
          method: 'POST',
          url: '/api/v1/admin/actions/test-connection',
          cookies: { dirbridge_session: token },
          headers: { 'x-csrf-token': csrfTokenFor(token) },
        },
        misnamedServer,
      );
      assert.equal(warned.statusCode, 200, warned.body);
      assert.ok(
        warned.json().warnings.some((warning: string) => warning.includes('no-such-group')),
        warned.body,
      );
    });

    it('maps an unreachable directory to 503 with its code', async () => {
      const offline = await appWith({ directory: { urls: ['ldap://127.0.0.1:1'], connectTimeoutMs: 300 } });
      const offlineServer = await serverFor(offline);
      const token = (await offline.login.login({ username: 'admin', password: ADMIN_PASSWORD })).token;
      tokens.push(token);
      const asAdmin = { cookies: { dirbridge_session: token }, headers: { 'x-csrf-token': csrfTokenFor(token) } };
      const response = await call({ method: 'POST', url: '/api/v1/admin/actions/test-connection', ...asAdmin }, offlineServer);
      assert.equal(response.statusCode, 503);
      assert.equal(response.json().error.code, 'directory.unavailable');

      // The fix, tested before it is saved: unsaved settings pointing at the live server connect
      // (a changed URL needs the password entered again), with the mapping-key check, while the
      // settings in force stay broken.
      const { version, settings } = (await call({ method: 'GET', url: '/api/v1/admin/settings', ...asAdmin }, offlineServer)).json();
      const fixed = { ...settings, directory: { ...settings.directory, urls: [slapd.url], bindPassword: slapd.readerPassword } };
      const unsaved = await call({ method: 'POST', url: '/api/v1/admin/actions/test-connection', ...asAdmin, payload: { settings: fixed } }, offlineServer);
      assert.equal(unsaved.statusCode, 200, unsaved.body);
      assert.equal(unsaved.json().url, slapd.url);
      assert.equal(unsaved.json().bind.dn, slapd.readerDn);
      assert.deepEqual(unsaved.json().warnings, []);
      const unsavedSearch = await call(
        { method: 'POST', url: '/api/v1/admin/actions/test-search', ...asAdmin, payload: { username: user('anna.berglund').uid, settings: fixed } },
        offlineServer,
      );
      assert.equal(unsavedSearch.json().status, 'found', unsavedSearch.body);
      assert.equal(offline.settingsState().version, version);
      assert.deepEqual(offline.settings.directory.urls, ['ldap://127.0.0.1:1']);
      assert.equal((await call({ method: 'POST', url: '/api/v1/admin/actions/test-connection', ...asAdmin }, offlineServer)).statusCode, 503);
      // Timed like every directory operation.
      const metrics = await call({ method: 'GET', url: '/metrics' }, offlineServer);
      assert.match(metrics.body, /dirbridge_directory_operation_seconds_count\{operation="connect",outcome="ok"\} [1-9]/);
    });

    it('runs Test LDAP Search', async () => {
      const anna = user('anna.berglund');
      const found = await admin({ method: 'POST', url: '/api/v1/admin/actions/test-search', payload: { username: anna.uid } });
      assert.equal(found.statusCode, 200, found.body);
      assert.equal(found.json().status, 'found');
      assert.equal(found.json().entry.dn, anna.dn);
      assert.equal(found.json().user.username, anna.uid);
      assert.ok(found.json().groups.some((group: { name: string }) => group.name === 'division-3'));
      const missing = await admin({ method: 'POST', url: '/api/v1/admin/actions/test-search', payload: { username: 'nobody.here' } });
      assert.equal(missing.statusCode, 200);
      assert.deepEqual(missing.json(), { status: 'not_found', username: 'nobody.here', warnings: [] });
    });

    it('syncs one user without a password, as login provisions it', async () => {
      const eleni = user('eleni.papadopoulou');
      const first = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync-user', payload: { username: eleni.uid } });
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(first.json().isNewUser, true);
      assert.equal(first.json().user.username, eleni.uid);
      assert.ok(first.json().steps.some((step: { kind: string }) => step.kind === 'createUser'));
      const stored = await app.store.users.findByUsername(eleni.uid);
      assert.ok(stored);
      assert.deepEqual(
        (await app.store.mapping.listUserChannels(stored.id)).map((channel) => channel.name),
        ['general'],
      );
      const created = await app.store.audit.list({ limit: 1, offset: 0, userId: stored.id, action: 'user.created' });
      assert.equal(created.entries[0]?.actor, 'admin:admin');
      const again = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync-user', payload: { username: eleni.uid } });
      assert.equal(again.json().isNewUser, false);
      const unknown = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync-user', payload: { username: 'nobody.here' } });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json().error.code, 'users.not_found');
    });

    it('previews a sync with reasons and writes nothing, then syncs', async () => {
      const before = (await app.store.users.list({ limit: 1, offset: 0 })).total;
      const dry = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync', payload: { dryRun: true } });
      assert.equal(dry.statusCode, 200, dry.body);
      assert.equal(dry.json().dryRun, true);
      assert.equal(dry.json().status, 'succeeded');
      assert.ok(dry.json().users.created > 0);
      assert.equal(dry.json().stepsTotal, dry.json().steps.length);
      assert.ok(dry.json().steps.some((step: { kind: string; reason: string }) => step.kind === 'createUser' && step.reason === 'new in directory'));
      assert.equal((await app.store.users.list({ limit: 1, offset: 0 })).total, before, 'a dry run writes nothing');

      const real = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync', payload: {} });
      assert.equal(real.statusCode, 200, real.body);
      assert.equal(real.json().dryRun, false);
      assert.equal(real.json().status, 'succeeded');
      assert.equal(real.json().users.created, dry.json().users.created);
      assert.ok((await app.store.users.list({ limit: 1, offset: 0 })).total > before);
    });

    it('answers 409 while a sync is already running', async () => {
      const running = app.sync.runSync({ trigger: 'cli', isDryRun: true });
      const refused = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync', payload: { dryRun: false } });
      await running;
      assert.equal(refused.statusCode, 409);
      assert.equal(refused.json().error.code, 'sync.already_running');
    });
  });

  describe('admin data', () => {
    it('lists and searches users, and shows one with everything mapping gave it', async () => {
      const page = await admin({ method: 'GET', url: '/api/v1/admin/users?limit=5&offset=0' });
      assert.equal(page.statusCode, 200, page.body);
      assert.equal(page.json().users.length, 5);
      assert.ok(page.json().total > 50);
      const search = await admin({ method: 'GET', url: '/api/v1/admin/users?search=zoe.ang' });
      assert.deepEqual(
        search.json().users.map((found: { username: string }) => found.username),
        ['zoe.angstrom'],
      );
      const local = await admin({ method: 'GET', url: '/api/v1/admin/users?source=local' });
      assert.deepEqual(
        local.json().users.map((found: { username: string }) => found.username),
        ['admin'],
      );
      const id = search.json().users[0].id;
      const detail = await admin({ method: 'GET', url: `/api/v1/admin/users/${id}` });
      assert.equal(detail.statusCode, 200, detail.body);
      assert.equal(detail.json().user.isAdmin, true);
      assert.ok(detail.json().groups.some((group: { name: string }) => group.name === 'cycle-a'));
      assert.ok(detail.json().channels.some((channel: { name: string }) => channel.name === 'ops'));
      assert.ok(detail.json().readOnlyFields.includes('email'));
      const missing = await admin({ method: 'GET', url: '/api/v1/admin/users/00000000-0000-0000-0000-000000000000' });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().error.code, 'users.not_found');
      const badPage = await admin({ method: 'GET', url: '/api/v1/admin/users?limit=0' });
      assert.equal(badPage.statusCode, 400);
      assert.match(badPage.json().error.message, /querystring\.limit/);
    });

    it('filters users by state, alone and with search and paging, and refuses an unknown state', async () => {
      const everyone = await admin({ method: 'GET', url: '/api/v1/admin/users?limit=1' });
      const total: number = everyone.json().total;
      const victim = await app.store.users.findByUsername('anna.berglund');
      assert.ok(victim?.isEnabled);
      const disabled = await admin({ method: 'POST', url: `/api/v1/admin/users/${victim.id}/disable`, payload: { reason: 'state filter test' } });
      assert.equal(disabled.statusCode, 200, disabled.body);
      try {
        const usernames = (reply: Reply): string[] => reply.json().users.map((found: { username: string }) => found.username);
        const inactive = await admin({ method: 'GET', url: '/api/v1/admin/users?state=disabled&limit=1000' });
        assert.equal(inactive.statusCode, 200, inactive.body);
        assert.ok(usernames(inactive).includes('anna.berglund'));
        assert.ok(inactive.json().users.every((found: { isEnabled: boolean }) => !found.isEnabled));
        const active = await admin({ method: 'GET', url: '/api/v1/admin/users?state=active&limit=1000' });
        assert.equal(active.statusCode, 200, active.body);
        assert.equal(usernames(active).includes('anna.berglund'), false);
        assert.ok(active.json().users.every((found: { isEnabled: boolean }) => found.isEnabled));
        assert.equal(active.json().total + inactive.json().total, total, 'active and disabled together are everyone');
        const all = await admin({ method: 'GET', url: '/api/v1/admin/users?state=all&limit=1' });
        assert.equal(all.json().total, total, 'state=all is the default');
        // With search and paging.
        assert.deepEqual(usernames(await admin({ method: 'GET', url: '/api/v1/admin/users?state=disabled&search=anna.ber' })), ['anna.berglund']);
        assert.deepEqual(usernames(await admin({ method: 'GET', url: '/api/v1/admin/users?state=active&search=anna.ber' })), []);
        const paged = await admin({ method: 'GET', url: '/api/v1/admin/users?state=active&limit=2&offset=2' });
        assert.equal(paged.json().total, active.json().total);
        assert.deepEqual(usernames(paged), usernames(active).slice(2, 4));
        // A bad value is a 400 naming the parameter; so is a state given twice.
        for (const query of ['state=enabled', 'state=', 'state=ACTIVE', 'state=active&state=disabled']) {
          const refused = await admin({ method: 'GET', url: `/api/v1/admin/users?${query}` });
          assert.equal(refused.statusCode, 400, `${query}: ${refused.body}`);
          assert.equal(refused.json().error.code, 'request.invalid');
          assert.match(refused.json().error.message, /querystring\.state/, query);
        }
      } finally {
        const enabled = await admin({ method: 'POST', url: `/api/v1/admin/users/${victim.id}/enable` });
        assert.equal(enabled.statusCode, 200, enabled.body);
      }
      assert.equal((await admin({ method: 'GET', url: '/api/v1/admin/users?state=active&search=anna.ber' })).json().total, 1);
    });

    it('refuses directory-managed fields with 409 naming them, and keeps local fields editable', async () => {
      const anna = await app.store.users.findByUsername('anna.berglund');
      assert.ok(anna);
      const refused = await admin({
        method: 'PATCH',
        url: `/api/v1/admin/users/${anna.id}`,
        payload: { email: 'other@example.org', lastName: 'Other', notes: 'x' },
      });
      assert.equal(refused.statusCode, 409);
      assert.equal(refused.json().error.code, 'users.directory_managed');
      assert.match(refused.json().error.message, /email, lastName/);
      assert.deepEqual(refused.json().error.fields, ['email', 'lastName']);
      // With an admin group mapped, sync sets the administrator flag: it is read-only too.
      assert.ok((await admin({ method: 'GET', url: `/api/v1/admin/users/${anna.id}` })).json().readOnlyFields.includes('isAdmin'));
      const promoted = await admin({ method: 'PATCH', url: `/api/v1/admin/users/${anna.id}`, payload: { isAdmin: !anna.isAdmin } });
      assert.equal(promoted.statusCode, 409, promoted.body);
      assert.deepEqual(promoted.json().error.fields, ['isAdmin']);
      const notes = await admin({ method: 'PATCH', url: `/api/v1/admin/users/${anna.id}`, payload: { notes: 'on leave until May' } });
      assert.equal(notes.statusCode, 200, notes.body);
      assert.equal(notes.json().notes, 'on leave until May');
      const sneaky = await admin({ method: 'PATCH', url: `/api/v1/admin/users/${anna.id}`, payload: { passwordHash: 'scrypt$x' } });
      assert.equal(sneaky.statusCode, 400);
      const empty = await admin({ method: 'PATCH', url: `/api/v1/admin/users/${anna.id}`, payload: {} });
      assert.equal(empty.statusCode, 400);
    });

    it('disables an account (ending its sessions) and enables it again', async () => {
      const sybil = user('sybil.evans9');
      const login = await call({ method: 'POST', url: '/api/v1/auth/login', payload: { username: sybil.uid, password: sybil.password } });
      const token: string = login.json().token;
      tokens.push(token);
      const id: string = login.json().user.id;
      const disabled = await admin({ method: 'POST', url: `/api/v1/admin/users/${id}/disable`, payload: { reason: 'left the company' } });
      assert.equal(disabled.statusCode, 200, disabled.body);
      assert.equal(disabled.json().isEnabled, false);
      assert.equal(disabled.json().disabledBy, 'admin');
      assert.equal(disabled.json().disabledReason, 'left the company');
      assert.equal((await call({ method: 'GET', url: '/api/v1/auth/session', headers: { authorization: `Bearer ${token}` } })).statusCode, 401);
      const denied = await call({ method: 'POST', url: '/api/v1/auth/login', payload: { username: sybil.uid, password: sybil.password } });
      assert.equal(denied.statusCode, 401);
      const enabled = await admin({ method: 'POST', url: `/api/v1/admin/users/${id}/enable` });
      assert.equal(enabled.statusCode, 200, enabled.body);
      assert.equal(enabled.json().isEnabled, true);
    });

    it('lists groups, roles, channels and teams with their members', async () => {
      const groups = await admin({ method: 'GET', url: '/api/v1/admin/groups?search=division' });
      assert.equal(groups.statusCode, 200, groups.body);
      const division1 = groups.json().groups.find((group: { name: string }) => group.name === 'division-1');
      assert.ok(division1);
      const members = await admin({ method: 'GET', url: `/api/v1/admin/groups/${division1.id}/members` });
      assert.equal(members.json().total, division1.memberCount);
      assert.equal((await admin({ method: 'GET', url: `/api/v1/admin/groups/${division1.id}` })).json().name, 'division-1');
      assert.equal((await admin({ method: 'GET', url: '/api/v1/admin/groups/00000000-0000-0000-0000-000000000000/members' })).statusCode, 404);

      const roles = await admin({ method: 'GET', url: '/api/v1/admin/roles' });
      assert.deepEqual(
        roles
          .json()
          .roles.map((role: { role: string }) => role.role)
          .sort(),
        ['developer', 'reviewer', 'support'],
      );
      const supportCount = roles.json().roles.find((role: { role: string }) => role.role === 'support').userCount;
      const supporters = await admin({ method: 'GET', url: '/api/v1/admin/roles/support/members?limit=1000' });
      assert.equal(supporters.statusCode, 200, supporters.body);
      assert.equal(supporters.json().total, supportCount);
      assert.equal(supporters.json().users.length, supportCount);
      assert.ok(supportCount > 0);

      const channels = await admin({ method: 'GET', url: '/api/v1/admin/channels' });
      const general = channels.json().channels.find((channel: { name: string }) => channel.name === 'general');
      assert.ok(general);
      assert.equal(general.ownerUsername, 'admin');
      const channelMembers = await admin({ method: 'GET', url: `/api/v1/admin/channels/${general.id}/members?limit=1000` });
      assert.equal(channelMembers.json().total, general.memberCount);
      // One channel by name, case-insensitively; an unknown name is a 404 naming it.
      for (const name of ['general', 'GENERAL']) {
        const one = await admin({ method: 'GET', url: `/api/v1/admin/channels/${name}` });
        assert.equal(one.statusCode, 200, one.body);
        assert.deepEqual(one.json(), general);
      }
      const noChannel = await admin({ method: 'GET', url: '/api/v1/admin/channels/gen%25' });
      assert.equal(noChannel.statusCode, 404);
      assert.deepEqual(noChannel.json(), { error: { code: 'channels.not_found', message: 'no channel named gen%' } });

      const teams = await admin({ method: 'GET', url: '/api/v1/admin/teams' });
      const team = teams.json().teams.find((candidate: { name: string }) => candidate.name === 'Team Two');
      assert.ok(team);
      const teamMembers = await admin({ method: 'GET', url: `/api/v1/admin/teams/${team.id}/members` });
      assert.ok(teamMembers.json().users.some((member: { username: string }) => member.username === 'john.smith'));
      const oneTeam = await admin({ method: 'GET', url: `/api/v1/admin/teams/${encodeURIComponent('team two')}` });
      assert.equal(oneTeam.statusCode, 200, oneTeam.body);
      assert.deepEqual(oneTeam.json(), team);
      assert.equal(oneTeam.json().memberCount, teamMembers.json().total);
      const noTeam = await admin({ method: 'GET', url: '/api/v1/admin/teams/Team%20Three' });
      assert.equal(noTeam.statusCode, 404);
      assert.deepEqual(noTeam.json(), { error: { code: 'teams.not_found', message: 'no team named Team Three' } });
    });

    it('lists sync runs and shows one with its plan summary', async () => {
      const runs = await admin({ method: 'GET', url: '/api/v1/admin/runs?limit=10' });
      assert.equal(runs.statusCode, 200, runs.body);
      const applied = runs
        .json()
        .runs.find((run: { isDryRun: boolean; status: string; trigger: string }) => !run.isDryRun && run.status === 'succeeded' && run.trigger === 'api');
      assert.ok(applied, runs.body);
      assert.ok(applied.counts['users.created'] > 0);
      const detail = await admin({ method: 'GET', url: `/api/v1/admin/runs/${applied.id}` });
      assert.equal(detail.statusCode, 200);
      assert.ok(detail.json().planSummary.some((step: { kind: string; reason: string }) => step.kind === 'createUser' && step.reason === 'new in directory'));
      assert.equal((await admin({ method: 'GET', url: '/api/v1/admin/runs/nope' })).statusCode, 404);
    });

    it('lists the audit log and sessions, and revokes a session', async () => {
      const audit = await admin({ method: 'GET', url: '/api/v1/admin/audit?action=user.disabled' });
      assert.equal(audit.statusCode, 200);
      assert.equal(audit.json().entries[0].actor, 'admin:admin');
      assert.equal(audit.json().entries[0].reason, 'left the company');

      const bob = user('bob.walker10');
      const login = await call({ method: 'POST', url: '/api/v1/auth/login', payload: { username: bob.uid, password: bob.password } });
      const token: string = login.json().token;
      tokens.push(token);
      const sessions = await admin({ method: 'GET', url: `/api/v1/admin/sessions?userId=${login.json().user.id}` });
      assert.equal(sessions.statusCode, 200, sessions.body);
      assert.equal(sessions.json().sessions.length, 1);
      const sessionId: string = sessions.json().sessions[0].id;
      const revoked = await admin({ method: 'DELETE', url: `/api/v1/admin/sessions/${sessionId}` });
      assert.deepEqual(revoked.json(), { revoked: [sessionId] });
      assert.equal((await call({ method: 'GET', url: '/api/v1/auth/session', headers: { authorization: `Bearer ${token}` } })).statusCode, 401);
      assert.equal((await admin({ method: 'DELETE', url: `/api/v1/admin/sessions/${sessionId}` })).statusCode, 404);
      const all = await admin({ method: 'GET', url: `/api/v1/admin/sessions?userId=${login.json().user.id}&all=true` });
      assert.equal(all.json().sessions[0].revokedReason, 'revoked by an administrator');
    });
  });

  describe('avatars', () => {
    const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    const key = { authorization: `Bearer ${APP_API_KEY}` };
    /** The Avatar Background Sync job, as the scheduler or `dirbridge avatars sync` runs it. */
    const syncAvatars = () =>
      runAvatarSync({
        store: app.store,
        openDirectory: app.openDirectory,
        settings: {
          ...app.settings,
          mapping: { ...app.settings.mapping, avatars: { ...app.settings.mapping.avatars, enabled: true, attributes: ['jpegPhoto'] } },
        },
      });
    const people = () => {
      const usable = organisation.users.filter((candidate) => !candidate.locked && candidate.rdnAttribute === 'uid').slice(30, 34);
      assert.equal(usable.length, 4);
      return usable as [SampleUser, SampleUser, SampleUser, SampleUser];
    };
    const idOf = async (sample: SampleUser) => {
      const stored = await app.store.users.findByUsername(sample.uid);
      assert.ok(stored, sample.uid);
      return stored.id;
    };
    const loginAs = async (sample: SampleUser) => {
      const login = await call({ method: 'POST', url: '/api/v1/auth/login', payload: { username: sample.uid, password: sample.password } });
      assert.equal(login.statusCode, 200, login.body);
      tokens.push(login.json().token);
      return login.json() as { token: string; user: { id: string; avatar: { hash: string; url: string } | null } };
    };
    const assertImageHeaders = (response: Reply, type: string, data: Buffer) => {
      assert.equal(response.statusCode, 200, response.body.slice(0, 200));
      assert.equal(response.headers['content-type'], type);
      assert.ok(response.rawPayload.equals(data), 'the bytes exactly as the directory holds them');
      assert.equal(response.headers['content-length'], String(data.length));
      assert.equal(response.headers['etag'], `"${sha(data)}"`);
      assert.equal(response.headers['x-content-type-options'], 'nosniff');
      const csp = String(response.headers['content-security-policy']);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /sandbox/);
      assert.doesNotMatch(csp, /script-src/);
    };

    it('syncs photos from jpegPhoto and names their hash and URL in the login and session responses', async () => {
      const [withJpeg, withPng, withGif, without] = people();
      await slapd.ldapmodify([jpegPhotoChange(withJpeg.dn, JPEG_24), jpegPhotoChange(withPng.dn, PNG_24), jpegPhotoChange(withGif.dn, GIF_1)].join('\n'));
      const result = await syncAvatars();
      assert.equal(result.updated, 3, JSON.stringify(result));

      const login = await loginAs(withJpeg);
      const hash = sha(JPEG_24);
      assert.deepEqual(login.user.avatar, { hash, url: `/api/v1/users/${login.user.id}/avatar?v=${hash}` });
      const session = await call({ method: 'GET', url: '/api/v1/auth/session', headers: { authorization: `Bearer ${login.token}` } });
      assert.deepEqual(session.json().user.avatar, login.user.avatar);
      assert.equal((await loginAs(without)).user.avatar, null);
    });

    it('serves the image to the application key with its type from the bytes, a strong ETag and 304', async () => {
      const [withJpeg, withPng, withGif] = people();
      const id = await idOf(withJpeg);
      const hash = sha(JPEG_24);
      const versioned = await call({ method: 'GET', url: `/api/v1/users/${id}/avatar?v=${hash}`, headers: key });
      assertImageHeaders(versioned, 'image/jpeg', JPEG_24);
      assert.equal(versioned.headers['cache-control'], 'private, max-age=31536000, immutable', 'the URL with the current hash never changes');
      assert.match(String(versioned.headers['vary']), /authorization/i);
      const plain = await call({ method: 'GET', url: `/api/v1/users/${id}/avatar`, headers: key });
      assertImageHeaders(plain, 'image/jpeg', JPEG_24);
      assert.equal(plain.headers['cache-control'], 'private, no-cache');
      const stale = await call({ method: 'GET', url: `/api/v1/users/${id}/avatar?v=${sha(PNG_24)}`, headers: key });
      assert.equal(stale.headers['cache-control'], 'private, no-cache', 'a URL with another hash is revalidated');

      for (const ifNoneMatch of [`"${hash}"`, `W/"${hash}"`, `"other", "${hash}"`, '*']) {
        const notModified = await call({ method: 'GET', url: `/api/v1/users/${id}/avatar?v=${hash}`, headers: { ...key, 'if-none-match': ifNoneMatch } });
        assert.equal(notModified.statusCode, 304, ifNoneMatch);
        assert.equal(notModified.rawPayload.length, 0);
        assert.equal(notModified.headers['etag'], `"${hash}"`);
        assert.equal(notModified.headers['cache-control'], 'private, max-age=31536000, immutable');
      }
      const changed = await call({ method: 'GET', url: `/api/v1/users/${id}/avatar`, headers: { ...key, 'if-none-match': `"${sha(PNG_24)}"` } });
      assertImageHeaders(changed, 'image/jpeg', JPEG_24);

      assertImageHeaders(await call({ method: 'GET', url: `/api/v1/users/${await idOf(withPng)}/avatar`, headers: key }), 'image/png', PNG_24);
      assertImageHeaders(await call({ method: 'GET', url: `/api/v1/users/${await idOf(withGif)}/avatar`, headers: key }), 'image/gif', GIF_1);
      const head = await call({ method: 'HEAD', url: `/api/v1/users/${id}/avatar`, headers: key });
      assert.equal(head.statusCode, 200);
      assert.equal(head.headers['content-type'], 'image/jpeg');
      assert.equal(head.headers['etag'], `"${hash}"`);
    });

    it('answers 404 with a code for a user without an avatar or an unknown user, and never serves what is not a raster image', async () => {
      const [, , , without] = people();
      const none = await call({ method: 'GET', url: `/api/v1/users/${await idOf(without)}/avatar`, headers: key });
      assert.equal(none.statusCode, 404);
      assert.deepEqual(none.json(), { error: { code: 'avatars.not_found', message: 'this user has no avatar' } });
      assert.equal(none.headers['cache-control'], 'no-store', 'a missing avatar is not cached');
      const unknown = await call({ method: 'GET', url: '/api/v1/users/00000000-0000-0000-0000-000000000000/avatar', headers: key });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json().error.code, 'users.not_found');

      // Bytes that are not an image we serve (put in the store behind sync's back) are refused, whatever type was recorded.
      const local = await app.store.users.findByUsername('admin');
      assert.ok(local);
      for (const [data, mimeType] of [
        [SVG_WITH_SCRIPT, 'image/svg+xml'],
        [Buffer.from('<html><script>alert(1)</script></html>'), 'image/png'],
      ] as const) {
        await app.store.transaction((tx) => tx.mapping.setAvatars([{ userId: local.id, contentHash: sha(data), mimeType, data }]));
        const answers: Reply[] = [
          await call({ method: 'GET', url: `/api/v1/users/${local.id}/avatar`, headers: key }),
          await admin({ method: 'GET', url: `/api/v1/admin/users/${local.id}/avatar` }),
        ];
        for (const refused of answers) {
          assert.equal(refused.statusCode, 404, `${mimeType}: ${refused.body}`);
          assert.equal(refused.json().error.code, 'avatars.unsupported_image');
          assert.match(String(refused.headers['content-type']), /^application\/json/);
          assert.equal(refused.body.includes('<script>'), false);
        }
      }
      await app.store.transaction((tx) => tx.mapping.removeAvatars([local.id]));
    });

    it("lets a session token read only its own user's avatar, and refuses callers without a valid bearer", async () => {
      const [withJpeg, withPng] = people();
      const login = await loginAs(withJpeg);
      const own = await call({ method: 'GET', url: login.user.avatar?.url ?? '', headers: { authorization: `Bearer ${login.token}` } });
      assertImageHeaders(own, 'image/jpeg', JPEG_24);
      const other = await call({ method: 'GET', url: `/api/v1/users/${await idOf(withPng)}/avatar`, headers: { authorization: `Bearer ${login.token}` } });
      assert.equal(other.statusCode, 403);
      assert.equal(other.json().error.code, 'http.forbidden');
      for (const headers of [{}, { authorization: 'Bearer wrong-key' }, { authorization: 'Basic YTpi' }]) {
        const refused = await call({ method: 'GET', url: `/api/v1/users/${login.user.id}/avatar`, headers });
        assert.equal(refused.statusCode, 401, JSON.stringify(headers));
        assert.equal(refused.json().error.code, 'http.unauthenticated');
      }
      // The admin cookie is for the admin route, not the app route.
      assert.equal((await call({ method: 'GET', url: `/api/v1/users/${login.user.id}/avatar`, cookies: adminCookie })).statusCode, 401);
    });

    it("gives administrators the image, the avatar in the user detail and each listed user's hash", async () => {
      const [withJpeg, , , without] = people();
      const id = await idOf(withJpeg);
      const hash = sha(JPEG_24);
      const image = await admin({ method: 'GET', url: `/api/v1/admin/users/${id}/avatar?v=${hash}` });
      assertImageHeaders(image, 'image/jpeg', JPEG_24);
      assert.equal(image.headers['cache-control'], 'private, max-age=31536000, immutable');
      assert.equal(image.headers['vary'], 'Cookie', 'cached per session');
      assert.equal((await admin({ method: 'GET', url: `/api/v1/admin/users/${id}/avatar`, headers: { 'if-none-match': `"${hash}"` } })).statusCode, 304);
      assert.equal((await call({ method: 'GET', url: `/api/v1/admin/users/${id}/avatar` })).statusCode, 401);
      const missing = await admin({ method: 'GET', url: `/api/v1/admin/users/${await idOf(without)}/avatar` });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().error.code, 'avatars.not_found');
      assert.equal(
        (await admin({ method: 'GET', url: '/api/v1/admin/users/00000000-0000-0000-0000-000000000000/avatar' })).json().error.code,
        'users.not_found',
      );

      const detail = await admin({ method: 'GET', url: `/api/v1/admin/users/${id}` });
      const { updatedAt, ...avatar } = detail.json().avatar;
      assert.deepEqual(avatar, { hash, url: `/api/v1/admin/users/${id}/avatar?v=${hash}`, mimeType: 'image/jpeg', byteLength: JPEG_24.length });
      assert.ok(Date.parse(updatedAt) > 0);
      assert.equal((await admin({ method: 'GET', url: `/api/v1/admin/users/${await idOf(without)}` })).json().avatar, null);

      const page = await admin({ method: 'GET', url: `/api/v1/admin/users?search=${withJpeg.uid}` });
      assert.equal(page.json().users.find((listed: { id: string }) => listed.id === id)?.avatarHash, hash);
      const everyone = await admin({ method: 'GET', url: '/api/v1/admin/users?limit=1000' });
      const hashes = everyone.json().users.filter((listed: { avatarHash: string | null }) => listed.avatarHash !== null);
      assert.equal(hashes.length, 3, 'the three users with photos, and only they');
      const group = (await app.store.groups.listOfUser(id))[0];
      assert.ok(group);
      const members = await admin({ method: 'GET', url: `/api/v1/admin/groups/${group.id}/members?limit=1000` });
      assert.equal(members.json().users.find((listed: { id: string }) => listed.id === id)?.avatarHash, hash);
    });

    it('follows a changed or removed photo: a new hash, a new image for the old ETag, then 404', async () => {
      const [withJpeg] = people();
      const id = await idOf(withJpeg);
      const oldHash = sha(JPEG_24);
      await slapd.ldapmodify(jpegPhotoChange(withJpeg.dn, PNG_24));
      assert.equal((await syncAvatars()).updated, 1);
      const login = await loginAs(withJpeg);
      assert.equal(login.user.avatar?.hash, sha(PNG_24));
      const revalidated = await call({ method: 'GET', url: `/api/v1/users/${id}/avatar?v=${oldHash}`, headers: { ...key, 'if-none-match': `"${oldHash}"` } });
      assertImageHeaders(revalidated, 'image/png', PNG_24);
      assert.equal(revalidated.headers['cache-control'], 'private, no-cache');

      await slapd.ldapmodify(jpegPhotoChange(withJpeg.dn, undefined));
      assert.equal((await syncAvatars()).removed, 1);
      assert.equal((await loginAs(withJpeg)).user.avatar, null);
      assert.equal(
        (await call({ method: 'GET', url: `/api/v1/users/${id}/avatar`, headers: { ...key, 'if-none-match': `"${sha(PNG_24)}"` } })).statusCode,
        404,
      );
      // Back as it was, for the tests that follow.
      await slapd.ldapmodify(jpegPhotoChange(withJpeg.dn, JPEG_24));
      assert.equal((await syncAvatars()).updated, 1);
    });
  });

  describe('change feed', () => {
    it('follows user and lifecycle changes with a cursor, for the app key or an admin', async () => {
      const key = { authorization: `Bearer ${APP_API_KEY}` };
      assert.equal((await call({ method: 'GET', url: '/api/v1/events' })).statusCode, 401);
      assert.equal((await call({ method: 'GET', url: '/api/v1/events', headers: { authorization: 'Bearer wrong-key' } })).statusCode, 401);
      const first = await call({ method: 'GET', url: '/api/v1/events?limit=5', headers: key });
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(first.json().events.length, 5);
      assert.ok(first.json().events.every((event: { action: string }) => !event.action.startsWith('login.')));
      const ats = first.json().events.map((event: { at: string }) => event.at);
      assert.deepEqual(ats, [...ats].sort(), 'oldest first');

      // Walk the whole feed; it ends with the latest change.
      let cursor: string = first.json().next;
      const all = [...first.json().events];
      for (let pages = 0; pages < 100; pages += 1) {
        const page = await call({ method: 'GET', url: `/api/v1/events?after=${cursor}&limit=50`, cookies: adminCookie });
        assert.equal(page.statusCode, 200, page.body);
        all.push(...page.json().events);
        if (page.json().events.length === 0) break;
        cursor = page.json().next;
      }
      assert.equal(new Set(all.map((event) => event.id)).size, all.length, 'no event twice');
      const expected = (await app.store.audit.list({ limit: 10_000, offset: 0 })).entries.filter((entry) =>
        /^(user\.|membership\.|session\.revoked$)/.test(entry.action),
      );
      assert.equal(all.length, expected.length);

      const anna = await app.store.users.findByUsername('anna.berglund');
      assert.ok(anna);
      await app.accounts.updateProfile(anna.id, { notes: 'changed for the feed' }, 'admin:test');
      const next = await call({ method: 'GET', url: `/api/v1/events?after=${cursor}`, headers: key });
      assert.deepEqual(
        next.json().events.map((event: { action: string; subject: string }) => [event.action, event.subject]),
        [['user.updated', 'anna.berglund']],
      );

      // A sync reports group and role changes of an existing user as one entry with the names.
      const joiner = organisation.users.find(
        (candidate) => !organisation.groups.some((group) => group.cn === 'division-1' && group.members.includes(candidate.dn)) && candidate.index % 2 === 0,
      );
      assert.ok(joiner);
      const division1 = organisation.groups.find((group) => group.cn === 'division-1');
      assert.ok(division1);
      await slapd.ldapmodify(`dn: ${division1.dn}\nchangetype: modify\nadd: member\nmember: ${joiner.dn}\n`);
      const synced = await admin({ method: 'POST', url: '/api/v1/admin/actions/sync', payload: {} });
      assert.equal(synced.json().status, 'succeeded', synced.body);
      const afterSync = await call({ method: 'GET', url: `/api/v1/events?after=${next.json().next}`, headers: key });
      const joined = afterSync
        .json()
        .events.find((event: { action: string; subject: string }) => event.action === 'membership.changed' && event.subject === joiner.uid);
      assert.ok(joined, afterSync.body);
      assert.deepEqual(joined.details.groups, { added: ['division-1'], removed: [] });
      assert.deepEqual(joined.details.roles, { added: ['support'], removed: [] });
      await slapd.ldapmodify(`dn: ${division1.dn}\nchangetype: modify\ndelete: member\nmember: ${joiner.dn}\n`);
      assert.equal((await admin({ method: 'POST', url: '/api/v1/admin/actions/sync', payload: {} })).json().status, 'succeeded');

      // The cursor is a position: one below every id reads from the start, a malformed one is refused.
      const fromZero = await call({ method: 'GET', url: '/api/v1/events?after=00000000-0000-7000-8000-000000000000&limit=3', headers: key });
      assert.deepEqual(fromZero.json().events, first.json().events.slice(0, 3));
      const malformed = await call({ method: 'GET', url: '/api/v1/events?after=not-a-cursor', headers: key });
      assert.equal(malformed.statusCode, 400);
      assert.equal(malformed.json().error.code, 'events.cursor_invalid');

      // An entry younger than the settle delay is held back until it has settled.
      const settling = await createHttpServer(app, { logger: false, appApiKey: APP_API_KEY, eventsSettleMs: 60_000 });
      cleanups.push(() => settling.close());
      const cursorNow = (await call({ method: 'GET', url: `/api/v1/events?after=${next.json().next}&limit=1000`, headers: key })).json().next;
      await app.accounts.updateProfile(anna.id, { notes: 'changed again' }, 'admin:test');
      const held = await call({ method: 'GET', url: `/api/v1/events?after=${cursorNow}`, headers: key }, settling);
      assert.deepEqual(held.json(), { events: [], next: cursorNow });
      const shown = await call({ method: 'GET', url: `/api/v1/events?after=${cursorNow}`, headers: key });
      assert.equal(shown.json().events.length, 1);
    });
  });

  describe('metrics and secrets', () => {
    it('exposes Prometheus metrics for logins, failures, syncs and directory operations', async () => {
      // A run the HTTP API did not start (as the scheduler's) is counted too, with its trigger.
      const scheduled = await app.sync.runSync({ trigger: 'schedule', isDryRun: true });
      assert.equal(scheduled.status, 'succeeded');
      const metrics = await call({ method: 'GET', url: '/metrics' });
      assert.equal(metrics.statusCode, 200);
      assert.match(String(metrics.headers['content-type']), /text\/plain/);
      const text = metrics.body;
      assert.match(text, /dirbridge_logins_total\{kind="app",outcome="succeeded"\} \d+/);
      assert.match(text, /dirbridge_logins_total\{kind="app",outcome="invalid_credentials"\} \d+/);
      assert.match(text, /dirbridge_login_failures_total\{reason="wrong_password"\} \d+/);
      assert.match(text, /dirbridge_sync_runs_total\{trigger="api",status="succeeded",dry_run="true"\} 1/);
      assert.match(text, /dirbridge_sync_changes_total\{object="users",change="created"\} \d+/);
      assert.match(text, /dirbridge_sync_last_run_duration_seconds \d/);
      assert.match(text, /dirbridge_sync_runs_total\{trigger="schedule",status="succeeded",dry_run="true"\} 1/);
      // Sync reads page by page, logins' binds and connection opening are timed, not only the console's actions.
      for (const operation of ['connect', 'search', 'search_page', 'verify']) {
        assert.match(text, new RegExp(`dirbridge_directory_operation_seconds_count\\{operation="${operation}",outcome="ok"\\} [1-9]`), operation);
      }
      assert.match(text, /dirbridge_directory_operation_seconds_count\{operation="verify",outcome="rejected"\} [1-9]/);
      assert.match(text, /dirbridge_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/auth\/login",status_code="200"\} \d+/);
    });

    it('never returns or logs a secret', () => {
      server.log.info(
        {
          password: 'probe-password',
          token: 'probe-token',
          settings: { directory: { bindPassword: 'probe-bind' } },
          deep: { a: { b: [{ c: { newPassword: 'probe-deep', apiKey: 'probe-key' } }] } },
          req: { headers: { authorization: 'Bearer probe-auth', cookie: 'dirbridge_session=probe-cookie' } },
        },
        'redaction probe',
      );
      const probe = logLines.find((line) => line.includes('redaction probe'));
      assert.ok(probe);
      for (const value of ['probe-password', 'probe-token', 'probe-bind', 'probe-deep', 'probe-key', 'probe-auth', 'probe-cookie'])
        assert.equal(probe.includes(value), false, value);
      assert.match(probe, /\[redacted\]/);

      assert.ok(seen.length > 50);
      const secrets = [slapd.readerPassword, ADMIN_PASSWORD, 'scrypt$', ...tokens.map(hashToken)];
      for (const secret of secrets) {
        const leaking = seen.find((text) => text.includes(secret));
        assert.equal(leaking, undefined, `a response contains ${secret.slice(0, 6)}…`);
      }
      const logs = logLines.join('');
      assert.ok(logs.includes('request completed'), 'the server logged');
      for (const secret of [...secrets, ...tokens, ...organisation.users.slice(0, 12).map((sample) => sample.password), csrf]) {
        assert.equal(logs.includes(secret), false, `a log line contains ${secret.slice(0, 6)}…`);
      }
      for (const line of logLines) {
        const entry = JSON.parse(line);
        assert.equal(typeof entry.msg, 'string');
        assert.equal(/[0-9a-f]{8}-[0-9a-f]{4}-/.test(entry.msg), false, `constant message: ${entry.msg}`);
      }
    });
  });
});
