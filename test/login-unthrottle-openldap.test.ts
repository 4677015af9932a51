/**
 * An administrator clears dirbridge's login throttle for one account, against a real OpenLDAP
 * whose ppolicy locks at the 5th failure (so dirbridge allows 4, 3 to strangers): through the API
 * (`POST /api/v1/admin/users/:id/unthrottle`, admin session + CSRF) and the CLI (`dirbridge users
 * unthrottle`, a real process). The user detail says whether strangers are refused now.
 *
 * Most tests run with `pwdFailureCountInterval: 2`: slapd forgets a failure after 2 s, while
 * dirbridge's count lasts its window (15 minutes), so dirbridge's own count is what refuses and
 * clearing it lets the owner in. One test runs with slapd's failures kept until a successful bind:
 * clearing dirbridge's count then leaves the directory's own counter (`pwdFailureTime`, which
 * dirbridge reads and never writes), which still refuses strangers.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { LoginFailure } from '../src/auth/login.ts';
import { createHttpServer } from '../src/http/server.ts';
import { generateOrganisation, type Organisation, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { signInAdmin } from './helpers/admin-session.ts';
import { writeSlapdConfig } from './helpers/directory.ts';
import { settingsFor } from './helpers/harness.ts';
import { ppolicyState } from './helpers/lockout.ts';
import { rejectsLogin } from './helpers/login.ts';
import { until } from './helpers/wait.ts';

const ADMIN_PASSWORD = 'admin-password-for-unthrottle';
const BIN = path.resolve(import.meta.dirname, '..', 'bin', 'dirbridge.js');
/** How long slapd keeps a failure in most tests (pwdFailureCountInterval). */
const DIRECTORY_MEMORY_SECONDS = 2;

function cli(args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      },
    );
    child.stdin?.end(input);
  });
}

describe('clearing the login throttle of one account (OpenLDAP)', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let dir: string;
  let unused: SampleUser[] = [];
  let addressCounter = 0;
  const cleanups: Array<() => Promise<void>> = [];

  const nextAddress = (): string => {
    addressCounter += 1;
    return `10.77.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;
  };
  const take = (): SampleUser => {
    const user = unused.shift();
    assert.ok(user, 'enough unused users');
    return user;
  };
  const admin = () => ({ url: slapd.url, adminDn: slapd.adminDn, adminPassword: slapd.adminPassword });
  const setFailureMemory = (seconds: number) =>
    slapd.ldapmodify(`dn: ${slapd.policyDn}\nchangetype: modify\nreplace: pwdFailureCountInterval\npwdFailureCountInterval: ${seconds}\n`);
  const outcome = (attempt: Promise<unknown>): Promise<string> =>
    attempt.then(
      () => 'ok',
      (error: unknown) => (error instanceof LoginFailure ? error.reason : String(error)),
    );
  /** Waits until slapd has forgotten every failure made so far. */
  const directoryForgets = async () => {
    const from = Date.now();
    await until(() => (Date.now() > from + (DIRECTORY_MEMORY_SECONDS + 1) * 1000 ? true : undefined), 20_000, 'slapd to forget the failures', 100);
  };

  before(async () => {
    organisation = generateOrganisation({ people: 40, groups: 6, seed: 31 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    await setFailureMemory(DIRECTORY_MEMORY_SECONDS);
    unused = organisation.users.filter((user) => user.index >= 10 && !user.locked);
    dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-unthrottle-'));
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** A fresh app with its own store (so its own policy cache), an administrator, and its HTTP server. */
  async function fresh(): Promise<{ app: App; server: FastifyInstance }> {
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}` },
    });
    cleanups.push(made.cleanup);
    const app = await openApp(made.settings);
    cleanups.push(() => app.close());
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    const server = await createHttpServer(app, { logger: false });
    cleanups.push(() => server.close());
    return { app, server };
  }

  /** Strangers' wrong passwords from new addresses until dirbridge refuses them; returns the outcomes. */
  async function strangersGuess(app: App, target: SampleUser, count: number): Promise<string[]> {
    const outcomes: string[] = [];
    for (let guess = 0; guess < count; guess += 1)
      outcomes.push(await outcome(app.login.login({ username: target.uid, password: `guess-${guess}`, clientAddress: nextAddress() })));
    return outcomes;
  }

  it('clears a throttled account through the API, audited with the administrator, and the user detail shows it', async () => {
    const { app, server } = await fresh();
    const owner = take();
    const home = nextAddress();
    const own = await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home });
    const { user } = own;
    const signIn = await signInAdmin(server, ADMIN_PASSWORD);
    const detail = async () =>
      (await server.inject({ method: 'GET', url: `/api/v1/admin/users/${user.id}`, cookies: signIn.cookie })).json() as { loginThrottle: unknown };
    assert.deepEqual((await detail()).loginThrottle, { isThrottled: false, failures: 0, limit: 3 });

    assert.deepEqual(await strangersGuess(app, owner, 5), ['wrong_password', 'wrong_password', 'wrong_password', 'throttled', 'throttled']);
    assert.deepEqual((await detail()).loginThrottle, { isThrottled: true, failures: 3, limit: 3 });
    // slapd forgets the failures; dirbridge's count still refuses the owner from a new address.
    await directoryForgets();
    await rejectsLogin(app.login.login({ username: owner.uid, password: owner.password, clientAddress: nextAddress() }), 'throttled');

    const url = `/api/v1/admin/users/${user.id}/unthrottle`;
    for (const cookies of [undefined, { dirbridge_session: 'not-a-session' }]) {
      const stranger = await server.inject({ method: 'POST', url, ...(cookies === undefined ? {} : { cookies }), payload: {} });
      assert.deepEqual([stranger.statusCode, stranger.json().error.code], [401, 'http.unauthenticated'], 'no session');
    }
    const notAdmin = await server.inject({ method: 'POST', url, cookies: { dirbridge_session: own.token }, payload: {} });
    assert.equal(notAdmin.statusCode, 403, "the user's own session is no administrator's");
    const noCsrf = await server.inject({ method: 'POST', url, cookies: signIn.cookie, payload: {} });
    assert.deepEqual([noCsrf.statusCode, noCsrf.json().error.code], [403, 'http.csrf_failed']);
    assert.deepEqual((await detail()).loginThrottle, { isThrottled: true, failures: 3, limit: 3 }, 'the refused requests cleared nothing');

    const cleared = await server.inject({ method: 'POST', url, cookies: signIn.cookie, headers: { 'x-csrf-token': signIn.csrf } });
    assert.equal(cleared.statusCode, 200, cleared.body);
    assert.deepEqual(cleared.json(), { cleared: 3, loginThrottle: { isThrottled: false, failures: 0, limit: 3 } });
    assert.deepEqual((await detail()).loginThrottle, { isThrottled: false, failures: 0, limit: 3 });
    const audit = await app.store.audit.list({ limit: 5, offset: 0, userId: user.id, action: 'login.throttle_cleared' });
    assert.deepEqual(
      audit.entries.map((entry) => [entry.actor, entry.subject, entry.reason]),
      [['admin:admin', owner.uid, 'cleared 3 failed login attempts']],
    );
    assert.ok(await app.login.login({ username: owner.uid, password: owner.password, clientAddress: nextAddress() }), 'the owner, from a new address');

    const unknown = await server.inject({
      method: 'POST',
      url: '/api/v1/admin/users/00000000-0000-7000-8000-000000000009/unthrottle',
      cookies: signIn.cookie,
      headers: { 'x-csrf-token': signIn.csrf },
    });
    assert.deepEqual([unknown.statusCode, unknown.json().error.code], [404, 'users.not_found']);
  });

  it('clears the names the account was guessed under too (uid, cn, mail share one directory account)', async () => {
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn, usernameAttribute: ['uid', 'cn', 'mail'] },
      groups: { baseDn: `ou=groups,${slapd.baseDn}` },
    });
    cleanups.push(made.cleanup);
    const app = await openApp(made.settings);
    cleanups.push(() => app.close());
    const owner = organisation.users
      .filter((candidate) => candidate.index >= 10 && !candidate.locked)
      .find((candidate) => unused.includes(candidate) && organisation.users.filter((other) => other.cn === candidate.cn).length === 1);
    assert.ok(owner);
    unused = unused.filter((candidate) => candidate !== owner);
    const { user } = await app.login.login({ username: owner.uid, password: owner.password, via: 'cli' });
    const names = [owner.cn, owner.mail, owner.uid];
    const outcomes: string[] = [];
    for (const [index, name] of names.entries())
      outcomes.push(await outcome(app.login.login({ username: name, password: `guess-${index}`, clientAddress: nextAddress() })));
    assert.deepEqual(
      outcomes,
      ['wrong_password', 'wrong_password', 'wrong_password'],
      "three guesses reach the account under three names: the stranger's share of its limit",
    );
    await directoryForgets();
    for (const name of names) await rejectsLogin(app.login.login({ username: name, password: owner.password, clientAddress: nextAddress() }), 'throttled');
    const result = await app.accounts.unthrottle(user.id, 'admin:test');
    assert.equal(result.cleared, 3);
    for (const name of [owner.cn, owner.mail])
      assert.ok(await app.login.login({ username: name, password: owner.password, clientAddress: nextAddress() }), name);
  });

  it("leaves the directory's own counter: while slapd keeps the failures, strangers stay refused; the owner from home gets in", async () => {
    await setFailureMemory(0);
    try {
      const { app } = await fresh();
      const owner = take();
      const home = nextAddress();
      const { user } = await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home });
      assert.deepEqual(await strangersGuess(app, owner, 4), ['wrong_password', 'wrong_password', 'wrong_password', 'throttled']);
      const result = await app.accounts.unthrottle(user.id, 'admin:test');
      assert.equal(result.cleared, 3);
      assert.equal(result.status.isThrottled, false, "dirbridge's own count is cleared");
      assert.equal((await ppolicyState(admin(), owner.dn)).failures, 3, 'dirbridge never writes to the directory');
      // slapd still counts 3 of its 5: a stranger's bind could bring it to the lockout; none is sent.
      await rejectsLogin(app.login.login({ username: owner.uid, password: owner.password, clientAddress: nextAddress() }), 'throttled');
      assert.equal((await ppolicyState(admin(), owner.dn)).failures, 3, 'no bind was sent');
      assert.ok(await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home }), 'the owner, from home');
      assert.equal((await ppolicyState(admin(), owner.dn)).failures, 0);
    } finally {
      await setFailureMemory(DIRECTORY_MEMORY_SECONDS);
    }
  });

  it('clears a throttled account with `dirbridge users unthrottle`, and its help says what it leaves', async () => {
    const owner = take();
    const config = path.join(dir, 'cli.yaml');
    const env = { ...(await writeSlapdConfig(config, slapd, { store: { dataDir: path.join(dir, 'cli-data') } })), DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD };
    const run = (args: string[], input = '') => cli(['--config', config, ...args], env, input);
    const login = (password: string) => run(['login', owner.uid], `${password}\n`);

    assert.equal((await login(owner.password)).code, 0);
    // The CLI's logins count no address: three wrong passwords use a stranger's share (3 of 4).
    for (let guess = 0; guess < 3; guess += 1) assert.equal((await login(`guess-${guess}`)).code, 1);
    await directoryForgets();
    const refused = await login(owner.password);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /too many failed attempts/);

    const cleared = await run(['users', 'unthrottle', owner.uid]);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.equal(cleared.stdout, `cleared 3 failed login attempts of ${owner.uid}\n`);
    const again = await run(['--json', 'users', 'unthrottle', owner.uid]);
    assert.deepEqual(JSON.parse(again.stdout), { username: owner.uid, cleared: 0, throttle: { isThrottled: false, failures: 0, limit: 3 } });
    assert.equal((await login(owner.password)).code, 0, 'the owner gets in');
    const audit = JSON.parse((await run(['--json', 'audit', 'list', '--action', 'login.throttle_cleared'])).stdout) as {
      entries: Array<{ actor: string; subject: string }>;
    };
    assert.deepEqual(
      audit.entries.map((entry) => [entry.actor, entry.subject]),
      [
        ['admin:cli', owner.uid],
        ['admin:cli', owner.uid],
      ],
    );

    const unknown = await run(['users', 'unthrottle', 'no.such.person']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no user named "no\.such\.person"/);
    const help = await run(['users', 'unthrottle', '--help']);
    assert.match(help.stdout.replace(/\s+/g, ' '), /directory's own failure counter is not cleared: dirbridge never writes to the directory/);
    assert.match(help.stdout.replace(/\s+/g, ' '), /pwdFailureTime, badPwdCount, passwordRetryCount/);
  });
});
