/**
 * The login throttle against a real OpenLDAP whose ppolicy locks an account at the 5th failed bind
 * (pwdFailureCountInterval 0: failures count until a successful bind), over the HTTP API and the
 * console sign-in, on the SQLite store. Every count of guesses is taken on slapd's side, from the
 * pwdFailureTime values ppolicy keeps on the entry (read as the rootdn).
 *
 * With the defaults (maxFailures 5, stayBelowDirectoryLockout, knownAddressReserve 1), dirbridge
 * reads pwdMaxFailure 5 from cn=default: an account allows 4 failures, 3 of them to strangers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { createLockoutPolicies } from '../src/auth/lockout-policies.ts';
import { createLoginThrottle } from '../src/auth/throttle.ts';
import { createHttpServer } from '../src/http/server.ts';
import type { Settings } from '../src/settings/schema.ts';
import { testConnection } from '../src/sync/test-connection.ts';
import { generateOrganisation, type Organisation, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { merge, settingsFor } from './helpers/harness.ts';
import { bindWrongPassword, ppolicyFailuresUnder, ppolicyState } from './helpers/lockout.ts';
import { rejectsLogin } from './helpers/login.ts';

const ADMIN_PASSWORD = 'local-admin-password-throttle';
const APP_API_KEY = 'app-key-throttle-0123456789';

describe('login throttle against OpenLDAP (ppolicy locks at the 5th failure)', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let base: Settings;
  const cleanups: Array<() => Promise<void>> = [];
  /** Users not yet used by a test: each test guesses at its own accounts. */
  let unused: SampleUser[] = [];
  let addressCounter = 0;

  before(async () => {
    organisation = generateOrganisation({ people: 320, groups: 12, seed: 31 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member'] },
      mapping: { adminGroup: 'cycle-a' },
      login: { bindPoolSize: 4 },
    });
    cleanups.push(made.cleanup);
    base = made.settings;
    // Regular accounts only (the first ones are special cases: odd DNs, a locked one, cycle-a's admin).
    unused = organisation.users.filter((candidate) => candidate.index >= 10 && !candidate.locked);
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
  });

  const take = (count: number): SampleUser[] => {
    assert.ok(unused.length >= count, 'enough unused users');
    return unused.splice(0, count);
  };
  /** A client address no test has used yet. */
  const nextAddress = (): string => {
    addressCounter += 1;
    return `10.${(addressCounter >> 16) & 255}.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;
  };
  const admin = () => ({ url: slapd.url, adminDn: slapd.adminDn, adminPassword: slapd.adminPassword });

  /** A fresh app (its own SQLite store) and HTTP server, with settings overrides. */
  async function fresh(override: Record<string, unknown> = {}): Promise<{ app: App; server: FastifyInstance }> {
    const made = await settingsFor(merge(structuredClone(base) as unknown as Record<string, unknown>, override));
    cleanups.push(made.cleanup);
    const app = await openApp(made.settings);
    cleanups.push(() => app.close());
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    const server = await createHttpServer(app, { logger: false, appApiKey: APP_API_KEY });
    cleanups.push(() => server.close());
    return { app, server };
  }

  function appLogin(
    server: FastifyInstance,
    username: string,
    password: string,
    options: { from?: string; key?: string; forwardedFor?: string } = {},
  ): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = {};
    if (options.key !== undefined) headers['authorization'] = `Bearer ${options.key}`;
    if (options.forwardedFor !== undefined) headers['dirbridge-forwarded-for'] = options.forwardedFor;
    return server.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password }, headers, remoteAddress: options.from ?? nextAddress() });
  }

  function consoleSignIn(server: FastifyInstance, username: string, password: string, from: string): Promise<LightMyRequestResponse> {
    return server.inject({ method: 'POST', url: '/api/v1/admin/session', payload: { username, password }, remoteAddress: from });
  }

  const statuses = (responses: readonly LightMyRequestResponse[]) => responses.map((response) => response.statusCode);
  const countOf = (values: readonly number[], wanted: number) => values.filter((value) => value === wanted).length;

  it('lets 50 concurrent wrong guesses at one username reach slapd at most as often as strangers may guess', async () => {
    const { server } = await fresh();
    const [target] = take(1);
    assert.ok(target);
    const answers = statuses(await Promise.all(Array.from({ length: 50 }, (_, index) => appLogin(server, target.uid, `wrong-${index}`))));
    const state = await ppolicyState(admin(), target.dn);
    assert.equal(state.lockedTime, undefined, 'the directory account is not locked');
    assert.equal(state.failures, 3, "exactly the strangers' 3 of the 4 failures the policy leaves reached slapd");
    assert.equal(countOf(answers, 401), state.failures, 'each 401 is one bind slapd counted');
    assert.equal(countOf(answers, 429), 50 - state.failures);
  });

  it('lets 186 concurrent wrong passwords from one address reach slapd at most maxFailuresPerAddress times', async () => {
    const { server } = await fresh();
    const targets = take(186);
    const before = await ppolicyFailuresUnder(admin(), slapd.baseDn);
    const from = nextAddress();
    const answers = statuses(await Promise.all(targets.map((target, index) => appLogin(server, target.uid, `wrong-${index}`, { from }))));
    const after = await ppolicyFailuresUnder(admin(), slapd.baseDn);
    const reached = after.total - before.total;
    assert.equal(reached, 20, 'maxFailuresPerAddress (20) binds reached slapd');
    assert.equal(countOf(answers, 401), 20);
    assert.equal(countOf(answers, 429), 166);
    assert.deepEqual(after.locked, before.locked, 'no account was locked');
    // The people guessed at are not locked out: from another address the right password works.
    const [other] = targets;
    assert.ok(other);
    assert.equal((await appLogin(server, other.uid, other.password)).statusCode, 200);
  });

  it('leaves the directory account unlocked after hundreds of guesses from many addresses (app API and console), and the owner signs in from a known address', async () => {
    const { server } = await fresh();
    // A directory administrator (cycle-a, mapping.adminGroup) who signed in from home before.
    const owner = organisation.users.find((candidate) => candidate.groups.includes('cycle-a') && !candidate.locked);
    assert.ok(owner);
    const home = nextAddress();
    assert.equal((await consoleSignIn(server, owner.uid, owner.password, home)).statusCode, 200);
    const guesses = await Promise.all(
      Array.from({ length: 300 }, (_, index) =>
        index % 2 === 0 ? appLogin(server, owner.uid, `guess-${index}`) : consoleSignIn(server, owner.uid, `guess-${index}`, nextAddress()),
      ),
    );
    const state = await ppolicyState(admin(), owner.dn);
    assert.equal(state.lockedTime, undefined, 'no pwdAccountLockedTime');
    assert.equal(state.failures, 3);
    assert.equal(countOf(statuses(guesses), 401), 3);
    // A stranger is refused even with the right password; the owner, from home, is not.
    assert.equal((await appLogin(server, owner.uid, owner.password)).statusCode, 429);
    assert.equal((await consoleSignIn(server, owner.uid, owner.password, nextAddress())).statusCode, 429);
    assert.equal((await consoleSignIn(server, owner.uid, owner.password, home)).statusCode, 200);
    assert.equal((await ppolicyState(admin(), owner.dn)).failures, 0, "the successful bind reset the directory's counter");
  });

  it("keeps the local administrator's console sign-in open from its known address while strangers' guesses are refused", async () => {
    const { server } = await fresh();
    const office = nextAddress();
    assert.equal((await consoleSignIn(server, 'admin', ADMIN_PASSWORD, office)).statusCode, 200);
    const guesses = statuses(await Promise.all(Array.from({ length: 60 }, (_, index) => consoleSignIn(server, 'admin', `guess-${index}`, nextAddress()))));
    assert.equal(countOf(guesses, 401), 3);
    assert.equal(countOf(guesses, 429), 57);
    assert.equal((await consoleSignIn(server, 'admin', ADMIN_PASSWORD, nextAddress())).statusCode, 429, 'a stranger with the right password');
    assert.equal((await consoleSignIn(server, 'admin', ADMIN_PASSWORD, office)).statusCode, 200, 'the administrator from the office');
  });

  it("does not let one application's users lock each other (or the console administrator) out", async () => {
    const { server } = await fresh();
    const office = nextAddress();
    assert.equal((await consoleSignIn(server, 'admin', ADMIN_PASSWORD, office)).statusCode, 200);
    const backend = nextAddress();
    const careless = take(5);
    const others = take(5);
    // Five people mistype their passwords, several times each, through the application's back-end.
    for (let round = 0; round < 3; round += 1) {
      const answers = await Promise.all(careless.map((person) => appLogin(server, person.uid, `typo-${round}`, { from: backend, key: APP_API_KEY })));
      assert.deepEqual(statuses(answers), [401, 401, 401, 401, 401]);
    }
    for (const person of others)
      assert.equal((await appLogin(server, person.uid, person.password, { from: backend, key: APP_API_KEY })).statusCode, 200, person.uid);
    assert.equal((await consoleSignIn(server, 'admin', ADMIN_PASSWORD, office)).statusCode, 200);
    // The same back-end without the key is one address: its failures add up there.
    const unkeyed = statuses(await Promise.all(take(25).map((person) => appLogin(server, person.uid, 'typo', { from: backend }))));
    assert.equal(countOf(unkeyed, 401), 20);
  });

  it('counts the end user address an application passes on, and only with the app API key', async () => {
    const { server } = await fresh();
    const backend = nextAddress();
    const attacker = nextAddress();
    const victims = take(24);
    const keyed = statuses(
      await Promise.all(victims.map((person) => appLogin(server, person.uid, 'guess', { from: backend, key: APP_API_KEY, forwardedFor: attacker }))),
    );
    assert.equal(countOf(keyed, 401), 20, 'maxFailuresPerAddress, counted under the forwarded address');
    assert.equal(countOf(keyed, 429), 4);
    const [someone] = take(1);
    assert.ok(someone);
    assert.equal(
      (await appLogin(server, someone.uid, someone.password, { from: backend, key: APP_API_KEY, forwardedFor: attacker })).statusCode,
      429,
      'the forwarded address is throttled',
    );
    assert.equal(
      (await appLogin(server, someone.uid, someone.password, { from: backend, key: APP_API_KEY, forwardedFor: nextAddress() })).statusCode,
      200,
      'other end users of the same back-end are not',
    );
    assert.equal(
      (await appLogin(server, someone.uid, someone.password, { from: attacker })).statusCode,
      429,
      'the end user address is one address, however it arrives',
    );

    // Without the key the header is ignored: the request's own address is counted.
    const spoofer = nextAddress();
    const spoofed = statuses(
      await Promise.all(take(22).map((person) => appLogin(server, person.uid, 'guess', { from: spoofer, forwardedFor: nextAddress() }))),
    );
    assert.equal(countOf(spoofed, 401), 20);
    assert.equal(countOf(spoofed, 429), 2);

    const invalid = await appLogin(server, someone.uid, someone.password, { key: APP_API_KEY, forwardedFor: '203.0.113.1, 203.0.113.2' });
    assert.equal(invalid.statusCode, 400);
    assert.deepEqual(invalid.json(), {
      error: { code: 'request.invalid', message: 'headers.dirbridge-forwarded-for: expected exactly one IPv4 or IPv6 address' },
    });
    assert.equal((await appLogin(server, someone.uid, someone.password, { key: APP_API_KEY, forwardedFor: 'not-an-address' })).statusCode, 400);
    const wrongKey = await appLogin(server, someone.uid, someone.password, { key: 'not-the-key' });
    assert.equal(wrongKey.statusCode, 401);
    assert.equal(wrongKey.json().error.code, 'http.unauthenticated');
    const docs = await server.inject({ method: 'GET', url: '/docs/json' });
    const login = docs.json().paths['/api/v1/auth/login'].post;
    assert.ok(
      login.parameters.some((parameter: { in: string; name: string }) => parameter.in === 'header' && parameter.name === 'dirbridge-forwarded-for'),
      'the header is in the OpenAPI document',
    );
  });

  it('answers a throttled existing username exactly as a throttled unknown one, and audits both as throttled', async () => {
    const { app, server } = await fresh();
    const [existing] = take(1);
    assert.ok(existing);
    const unknown = 'nobody.at.all';
    const exhaust = async (username: string) => {
      for (let attempt = 0; attempt < 3; attempt += 1) assert.equal((await appLogin(server, username, 'guess')).statusCode, 401);
      return appLogin(server, username, 'guess');
    };
    const [forExisting, forUnknown] = [await exhaust(existing.uid), await exhaust(unknown)];
    const visible = (response: LightMyRequestResponse) => ({
      status: response.statusCode,
      body: response.body,
      headers: Object.fromEntries(Object.entries(response.headers).filter(([name]) => name !== 'date')),
    });
    assert.equal(forExisting.statusCode, 429);
    assert.deepEqual(visible(forExisting), visible(forUnknown));
    assert.equal(forExisting.headers['retry-after'], undefined);
    const audited = await app.store.audit.list({ action: 'login.failed', limit: 100, offset: 0 });
    const reasonsOf = (subject: string) =>
      audited.entries
        .filter((entry) => entry.subject === subject)
        .map((entry) => entry.reason)
        .reverse();
    assert.deepEqual(reasonsOf(existing.uid), ['wrong_password', 'wrong_password', 'wrong_password', 'throttled']);
    assert.deepEqual(reasonsOf(unknown), ['unknown_user', 'unknown_user', 'unknown_user', 'throttled']);
  });

  it('counts guesses at one account together whichever name finds it (uid or cn)', async () => {
    const { server } = await fresh({ users: { usernameAttribute: ['uid', 'cn'] } });
    const cns = new Map<string, number>();
    for (const person of organisation.users) cns.set(person.cn.toLowerCase(), (cns.get(person.cn.toLowerCase()) ?? 0) + 1);
    const target = unused.find((candidate) => cns.get(candidate.cn.toLowerCase()) === 1);
    assert.ok(target);
    unused = unused.filter((candidate) => candidate !== target);
    const answers = statuses(
      await Promise.all(Array.from({ length: 40 }, (_, index) => appLogin(server, index % 2 === 0 ? target.uid : target.cn, `guess-${index}`))),
    );
    const state = await ppolicyState(admin(), target.dn);
    assert.equal(state.lockedTime, undefined);
    assert.equal(state.failures, 3, 'one budget for the account, not one per name');
    assert.equal(countOf(answers, 401), 3);
  });

  it("counts the directory's own failures (another application's) and refuses before a bind would lock the account", async () => {
    const { app } = await fresh();
    const [target, owner] = take(2);
    assert.ok(target && owner);
    // Another application made 3 wrong binds: one more would leave the strangers' budget; dirbridge does not send it.
    await bindWrongPassword({ url: slapd.url }, target.dn, 3);
    await rejectsLogin(app.login.login({ username: target.uid, password: 'wrong', clientAddress: nextAddress() }), 'throttled');
    await rejectsLogin(app.login.login({ username: target.uid, password: target.password, clientAddress: nextAddress() }), 'throttled');
    assert.equal((await ppolicyState(admin(), target.dn)).failures, 3, 'no bind was sent');
    // From a known address the reserve is there: the owner signs in (which resets the directory's count).
    const home = nextAddress();
    assert.ok(await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home }));
    await bindWrongPassword({ url: slapd.url }, owner.dn, 3);
    assert.ok(await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home }));
    assert.equal((await ppolicyState(admin(), owner.dn)).failures, 0);
  });

  it("remembers an account's failures as long as the directory does when its counter cannot be read", async () => {
    let now = Date.parse('2031-01-01T00:00:00.000Z');
    const { app } = await fresh();
    const clock = () => new Date(now);
    const policies = createLockoutPolicies({
      read: (work) =>
        app.openDirectory().then(async (directory) => {
          try {
            return await work(directory);
          } finally {
            await directory.close();
          }
        }),
      settings: app.settings,
      now: clock,
    });
    const throttle = createLoginThrottle({ store: app.store, settings: app.settings.login.throttle, policies, now: clock, inFlightMs: 120_000 });
    // The entry as a service account that may not read pwdFailureTime sees it: no counter.
    const entry = { dn: 'uid=someone,ou=people,dc=example,dc=org', attributes: {} };
    const guess = async (username: string) => {
      const attempt = await throttle.begin({ username, clientAddress: nextAddress() });
      if (attempt === undefined) return 'throttled';
      if (!(await attempt.reserveAccount({ externalId: 'entry-uuid-of-someone', entry, lookupStartedAt: clock() }))) return 'throttled';
      await attempt.failed();
      return 'guessed';
    };
    assert.deepEqual(
      [await guess('someone'), await guess('someone'), await guess('someone'), await guess('someone')],
      ['guessed', 'guessed', 'guessed', 'throttled'],
    );
    // Long after the window (900 s), under another name for the same entry: slapd still counts those 3 (pwdFailureCountInterval 0).
    now += 10 * 86_400_000;
    assert.equal(await guess('someone.else'), 'throttled');
  });

  it('warns in Test Connection and allows a single failure when the policy locks at the first one', async () => {
    await slapd.ldapmodify(`dn: ${slapd.policyDn}\nchangetype: modify\nreplace: pwdMaxFailure\npwdMaxFailure: 1\n`);
    try {
      const { app } = await fresh();
      const report = await testConnection({ openDirectory: () => app.openDirectory(), settings: app.settings });
      assert.ok(
        report.warnings.some((warning) => /nothing to spare/.test(warning) && warning.includes(slapd.policyDn)),
        report.warnings.join('\n'),
      );
      const [target] = take(1);
      assert.ok(target);
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          app.login.login({ username: target.uid, password: 'wrong', clientAddress: nextAddress() }).then(
            () => 'ok',
            (error: { reason?: string }) => error.reason,
          ),
        ),
      );
      assert.equal(answers.filter((reason) => reason === 'wrong_password').length, 1);
      assert.equal((await ppolicyState(admin(), target.dn)).failures, 1);
    } finally {
      await slapd.ldapmodify(`dn: ${slapd.policyDn}\nchangetype: modify\nreplace: pwdMaxFailure\npwdMaxFailure: 5\n`);
    }
    const { app } = await fresh();
    const report = await testConnection({ openDirectory: () => app.openDirectory(), settings: app.settings });
    assert.deepEqual(
      report.warnings.filter((warning) => !/^(users|groups)\./.test(warning)),
      [],
      'no throttle warning (the data-fit warnings about this directory are tested elsewhere)',
    );
  });
});
