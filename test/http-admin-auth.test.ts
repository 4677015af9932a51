/**
 * The admin API's security against a real OpenLDAP: every admin route in Fastify's route table
 * refuses strangers (401) and non-administrators (403); state-changing requests need the
 * session's CSRF token; the session cookie's flags; sign-in for local and directory
 * administrators, rate-limited; security headers; the OpenAPI document; and `dirbridge serve`
 * as a real process on a real socket.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { stringify } from 'yaml';
import { type App, openApp } from '../src/app.ts';
import { createLocalAccount, ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { csrfTokenFor } from '../src/http/admin-auth.ts';
import { createHttpServer, type HttpServerOptions } from '../src/http/server.ts';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { settingsFor } from './helpers/harness.ts';

const ADMIN_PASSWORD = 'admin-password-for-auth-tests';
const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'dirbridge.js');
const SOME_ID = '00000000-0000-7000-8000-000000000001';

describe('HTTP admin security', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let app: App;
  let server: FastifyInstance;
  const routes: RouteOptions[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  let plainToken: string;

  async function serverFor(options: HttpServerOptions = {}): Promise<FastifyInstance> {
    const made = await createHttpServer(app, { logger: false, ...options });
    cleanups.push(() => made.close());
    return made;
  }

  before(async () => {
    organisation = generateOrganisation({ people: 30, groups: 12, seed: 8 });
    slapd = await startSlapd({ ldif: organisation.ldif, pwdMaxFailure: 1000 });
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'] },
      login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
      mapping: { adminGroup: 'cycle-a' },
    });
    cleanups.push(made.cleanup);
    app = await openApp(made.settings);
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    const plain = await createLocalAccount(app.store, { username: 'plain', password: 'plain-password', actor: 'test' });
    plainToken = (await app.sessions.start(plain.id)).token;
    server = await serverFor({ onRoute: (route) => routes.push(route) });
    await server.ready();
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await app?.close();
    await slapd?.stop();
  });

  async function signIn(username: string, password: string, on: FastifyInstance = server, headers: Record<string, string> = {}) {
    return on.inject({ method: 'POST', url: '/api/v1/admin/session', payload: { username, password }, headers });
  }

  function adminRoutes(): Array<{ method: string; url: string }> {
    const result: Array<{ method: string; url: string }> = [];
    for (const route of routes) {
      if (!route.url.startsWith('/api/v1/admin')) continue;
      for (const method of [route.method].flat()) {
        if (method === 'POST' && route.url === '/api/v1/admin/session') continue;
        result.push({ method, url: route.url.replace(/:[A-Za-z]+/g, SOME_ID) });
      }
    }
    return result;
  }

  it('refuses every admin route without a session (401) and for a non-administrator (403)', async () => {
    const walked = adminRoutes();
    const names = walked.map((route) => `${route.method} ${route.url}`);
    // The walk really covers the admin API (a regression in collecting routes would make it vacuous).
    assert.ok(walked.length >= 25, names.join('\n'));
    for (const expected of [
      'GET /api/v1/admin/users',
      `PATCH /api/v1/admin/users/${SOME_ID}`,
      `POST /api/v1/admin/users/${SOME_ID}/unthrottle`,
      `GET /api/v1/admin/users/${SOME_ID}/avatar`,
      `HEAD /api/v1/admin/users/${SOME_ID}/avatar`,
      'POST /api/v1/admin/actions/sync',
      `DELETE /api/v1/admin/sessions/${SOME_ID}`,
      'DELETE /api/v1/admin/session',
      'GET /api/v1/admin/jobs',
      `POST /api/v1/admin/jobs/${SOME_ID}/run`,
      'GET /api/v1/admin/logs',
      `GET /api/v1/admin/channels/${SOME_ID}`,
      `GET /api/v1/admin/channels/${SOME_ID}/members`,
      `GET /api/v1/admin/teams/${SOME_ID}`,
      `GET /api/v1/admin/teams/${SOME_ID}/members`,
      'GET /api/v1/admin/writeback/outbox',
      'GET /api/v1/admin/writeback/conflicts',
      'POST /api/v1/admin/writeback/retry',
      `POST /api/v1/admin/writeback/conflicts/${SOME_ID}/resolve`,
    ]) {
      assert.ok(names.includes(expected), expected);
    }
    for (const route of walked) {
      const method = route.method as 'GET';
      const payload = ['GET', 'HEAD', 'DELETE'].includes(route.method) ? undefined : {};
      const stranger = await server.inject({ method, url: route.url, ...(payload === undefined ? {} : { payload }) });
      assert.equal(stranger.statusCode, 401, `${route.method} ${route.url} without a session: ${stranger.body}`);
      const expired = await server.inject({
        method,
        url: route.url,
        cookies: { dirbridge_session: 'not-a-session' },
        ...(payload === undefined ? {} : { payload }),
      });
      assert.equal(expired.statusCode, 401, `${route.method} ${route.url} with an unknown session`);
      const plain = await server.inject({
        method,
        url: route.url,
        cookies: { dirbridge_session: plainToken },
        headers: { 'x-csrf-token': csrfTokenFor(plainToken) },
        ...(payload === undefined ? {} : { payload }),
      });
      assert.equal(plain.statusCode, 403, `${route.method} ${route.url} as a non-administrator: ${plain.body}`);
      if (route.method !== 'HEAD') assert.equal(JSON.parse(plain.body).error.code, 'http.forbidden');
    }
  });

  it('signs a local administrator in with a strict, HttpOnly cookie and a CSRF token', async () => {
    const response = await signIn('admin', ADMIN_PASSWORD);
    assert.equal(response.statusCode, 200, response.body);
    const cookie = response.cookies.find((candidate) => candidate.name === 'dirbridge_session');
    assert.ok(cookie);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.secure, undefined, 'plain HTTP: no Secure flag');
    assert.equal(cookie.path, '/');
    const body = JSON.parse(response.body);
    assert.equal(body.csrfToken, csrfTokenFor(cookie.value));
    assert.equal(body.user.username, 'admin');
    assert.equal(response.body.includes(cookie.value), false, 'the session token is only in the cookie');
    const current = await server.inject({ method: 'GET', url: '/api/v1/admin/session', cookies: { dirbridge_session: cookie.value } });
    assert.equal(JSON.parse(current.body).csrfToken, body.csrfToken);
  });

  it('refuses a sign-in sent from another site (login CSRF), and accepts one from the console', async () => {
    const server = await serverFor({ adminLoginRateLimit: { max: 100, timeWindowMs: 60_000 } });
    const refusedHeaders: Array<Record<string, string>> = [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'https://attacker.example' },
      { origin: 'null' },
    ];
    for (const headers of refusedHeaders) {
      const refused = await signIn('admin', ADMIN_PASSWORD, server, headers);
      assert.equal(refused.statusCode, 403, JSON.stringify(headers));
      assert.equal(JSON.parse(refused.body).error.code, 'http.cross_site');
      assert.equal(refused.cookies.length, 0, 'no session for a refused sign-in');
    }
    const acceptedHeaders: Array<Record<string, string>> = [
      { 'sec-fetch-site': 'same-origin' },
      { origin: 'http://localhost' },
      { origin: 'http://LOCALHOST:80' },
      { 'sec-fetch-site': 'none' },
    ];
    for (const headers of acceptedHeaders) {
      const accepted = await signIn('admin', ADMIN_PASSWORD, server, { host: 'localhost:80', ...headers });
      assert.equal(accepted.statusCode, 200, `${JSON.stringify(headers)}: ${accepted.body}`);
    }
  });

  it('marks the cookie Secure behind a trusted TLS proxy, and only then', async () => {
    const proxied = await serverFor({ trustProxy: true });
    const secure = await signIn('admin', ADMIN_PASSWORD, proxied, { 'x-forwarded-proto': 'https' });
    assert.equal(secure.cookies.find((candidate) => candidate.name === 'dirbridge_session')?.secure, true);
    const untrusted = await signIn('admin', ADMIN_PASSWORD, server, { 'x-forwarded-proto': 'https' });
    assert.equal(untrusted.cookies.find((candidate) => candidate.name === 'dirbridge_session')?.secure, undefined);
  });

  it('signs in a member of the directory admin group, and refuses other users with 403 without leaving a session', async () => {
    const zoe = organisation.users.find((candidate) => candidate.uid === 'zoe.angstrom');
    const jose = organisation.users.find((candidate) => candidate.uid === 'jose.muller');
    assert.ok(zoe && jose);
    const directoryAdmin = await signIn(zoe.uid, zoe.password);
    assert.equal(directoryAdmin.statusCode, 200, directoryAdmin.body);
    const token = directoryAdmin.cookies[0]?.value ?? '';
    const users = await server.inject({ method: 'GET', url: '/api/v1/admin/users', cookies: { dirbridge_session: token } });
    assert.equal(users.statusCode, 200);

    const refused = await signIn(jose.uid, jose.password);
    assert.equal(refused.statusCode, 403);
    assert.equal(JSON.parse(refused.body).error.code, 'http.forbidden');
    assert.equal(refused.cookies.length, 0);
    const joseUser = await app.store.users.findByUsername(jose.uid);
    assert.ok(joseUser);
    assert.equal((await app.store.sessions.list({ limit: 10, offset: 0, userId: joseUser.id, isActive: true })).total, 0);

    const wrong = await signIn('admin', 'wrong');
    assert.equal(wrong.statusCode, 401);
    assert.deepEqual(JSON.parse(wrong.body), { error: { code: 'auth.invalid_credentials', message: 'invalid username or password' } });
  });

  it("needs the session's CSRF token on every state-changing request", async () => {
    const response = await signIn('admin', ADMIN_PASSWORD);
    const token = response.cookies[0]?.value ?? '';
    const csrf: string = JSON.parse(response.body).csrfToken;
    const other = await signIn('admin', ADMIN_PASSWORD);
    const otherCsrf: string = JSON.parse(other.body).csrfToken;
    const cookies = { dirbridge_session: token };
    const url = '/api/v1/admin/actions/test-search';
    const payload = { username: 'zoe.angstrom' };
    for (const headers of [{}, { 'x-csrf-token': '' }, { 'x-csrf-token': 'wrong' }, { 'x-csrf-token': otherCsrf }, { 'x-csrf-token': `${csrf}x` }]) {
      const refused = await server.inject({ method: 'POST', url, cookies, headers, payload });
      assert.equal(refused.statusCode, 403, JSON.stringify(headers));
      assert.equal(JSON.parse(refused.body).error.code, 'http.csrf_failed');
    }
    const accepted = await server.inject({ method: 'POST', url, cookies, headers: { 'x-csrf-token': csrf }, payload });
    assert.equal(accepted.statusCode, 200, accepted.body);
    // Reads need no token.
    assert.equal((await server.inject({ method: 'GET', url: '/api/v1/admin/roles', cookies })).statusCode, 200);

    // Signing out is state-changing too; afterwards the cookie is worthless.
    assert.equal((await server.inject({ method: 'DELETE', url: '/api/v1/admin/session', cookies })).statusCode, 403);
    const out = await server.inject({ method: 'DELETE', url: '/api/v1/admin/session', cookies, headers: { 'x-csrf-token': csrf } });
    assert.equal(out.statusCode, 204);
    const cleared = out.cookies.find((candidate) => candidate.name === 'dirbridge_session');
    assert.equal(cleared?.value, '');
    assert.equal((await server.inject({ method: 'GET', url: '/api/v1/admin/roles', cookies })).statusCode, 401);
  });

  it('rate-limits sign-in per address on top of the login throttle', async () => {
    const limited = await serverFor({ adminLoginRateLimit: { max: 3, timeWindowMs: 60_000 } });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 5; attempt += 1) statuses.push((await signIn('admin', 'wrong', limited)).statusCode);
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
    const blocked = await signIn('admin', ADMIN_PASSWORD, limited);
    assert.equal(blocked.statusCode, 429);
    assert.equal(JSON.parse(blocked.body).error.code, 'http.rate_limited');
    // Another address is not affected.
    const elsewhere = await limited.inject({
      method: 'POST',
      url: '/api/v1/admin/session',
      payload: { username: 'admin', password: ADMIN_PASSWORD },
      remoteAddress: '192.0.2.7',
    });
    assert.equal(elsewhere.statusCode, 200);
  });

  it('sets security headers and keeps API responses out of caches', async () => {
    const response = await server.inject({ method: 'GET', url: '/api/v1/auth/session' });
    const csp = String(response.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(csp.includes('upgrade-insecure-requests'), false);
    assert.equal(response.headers['x-content-type-options'], 'nosniff');
    assert.equal(response.headers['x-frame-options'], 'SAMEORIGIN');
    assert.equal(response.headers['cache-control'], 'no-store');
    assert.equal(response.headers['x-powered-by'], undefined);
  });

  it('answers unknown routes and internal failures without internals', async () => {
    const missing = await server.inject({ method: 'GET', url: '/api/v1/nothing' });
    assert.equal(missing.statusCode, 404);
    assert.equal(JSON.parse(missing.body).error.code, 'http.not_found');
  });

  it('serves a valid OpenAPI document listing every route, and the docs page', async () => {
    const response = await server.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(response.statusCode, 200);
    const document = JSON.parse(response.body);
    assert.match(document.openapi, /^3\./);
    assert.equal(document.info.title, 'dirbridge');
    const paths = document.paths as Record<string, Record<string, { responses?: Record<string, unknown> }>>;
    for (const route of routes) {
      if (route.url.startsWith('/docs')) continue;
      const openApiPath = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
      for (const method of [route.method].flat()) {
        if (method === 'HEAD') continue;
        const operation = paths[openApiPath]?.[method.toLowerCase()];
        assert.ok(operation, `${method} ${openApiPath} in the OpenAPI document`);
        assert.ok(Object.keys(operation.responses ?? {}).length > 0, `${method} ${openApiPath} documents its responses`);
      }
    }
    const login = paths['/api/v1/auth/login']?.['post'] as { requestBody?: { content?: Record<string, { schema?: { required?: string[] } }> } } | undefined;
    assert.deepEqual(login?.requestBody?.content?.['application/json']?.schema?.required, ['username', 'password']);
    assert.ok(document.components.securitySchemes.adminSession);
    const page = await server.inject({ method: 'GET', url: '/docs' });
    assert.ok([200, 302].includes(page.statusCode), String(page.statusCode));
  });

  it('listens on a real socket', async () => {
    const listening = await serverFor();
    const address = await listening.listen({ port: 0, host: '127.0.0.1' });
    const health = await fetch(`${address}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const login = await fetch(`${address}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    assert.equal(login.status, 200);
  });

  it('runs as `dirbridge serve` and stops cleanly on SIGTERM', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-serve-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const config = path.join(dir, 'dirbridge.yaml');
    await writeFile(
      config,
      stringify({ directory: { urls: [slapd.url], bindDn: slapd.readerDn }, users: { baseDn: slapd.baseDn }, store: { dataDir: path.join(dir, 'data') } }),
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
    try {
      const ready = await fetch(`${address}/readyz`);
      assert.equal(ready.status, 200);
      const signIn = await fetch(`${address}/api/v1/admin/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
      });
      assert.equal(signIn.status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /"msg":"request completed"/, 'structured logs on stdout');
    assert.equal(stdout.includes(ADMIN_PASSWORD) || stderr.includes(ADMIN_PASSWORD), false);
    assert.equal(stdout.includes(slapd.readerPassword), false);
  });
});
