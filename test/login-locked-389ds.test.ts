/**
 * Logins to accounts that a real 389 Directory Server 2.3 has locked with its password policy
 * (`passwordLockout: on` in cn=config, the 3rd failure locks, 389-DS's default): refused as
 * `locked_in_directory` (the uniform 401 outside), never as "directory unavailable".
 *
 * Measured here (see also `src/mapping/account-status.ts`): 389-DS answers a bind to a locked
 * account, right password or wrong, with result code 19 (constraintViolation, "Exceed password
 * retry limit. Please try later.") and does not count it; with `passwordLegacyPolicy: on` (its
 * default) the locking bind answers 49, with it off 19 (no message). The lock is
 * `accountUnlockTime` (the lock time + `passwordLockoutDuration`; `19700101000000Z` while
 * `passwordUnlock` is off).
 *
 * Two service accounts: `cn=reader` (the fixture's) reads `accountUnlockTime` and
 * `passwordRetryCount`, so a login refuses before any bind; `cn=blind-reader` is denied them by an
 * ACI, so the bind's answer (19) is what tells.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { parseGeneralizedTime } from '../src/auth/lockout-policy.ts';
import { LoginFailure } from '../src/auth/login.ts';
import { createHttpServer } from '../src/http/server.ts';
import type { Settings } from '../src/settings/schema.ts';
import { type Dirsrv, dirsrvUnavailableReason, startDirsrv } from './fixtures/dirsrv.ts';
import type { SampleUser } from './fixtures/sample-directory.ts';
import { dirsrvTestDirectory } from './helpers/data-fit.ts';
import { merge, settingsFor } from './helpers/harness.ts';
import { bindWrongPassword, dirsrvLockoutState } from './helpers/lockout.ts';
import { rejectsLogin } from './helpers/login.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { until } from './helpers/wait.ts';

const SERVICE_PASSWORD = 'service-secret-389-locked';
type ServiceAccount = 'reader' | 'blind-reader';

describe('login to accounts 389-DS has locked (password policy lockout)', { skip: skipUnlessCi(dirsrvUnavailableReason()) }, () => {
  let ds: Dirsrv;
  let base: Settings;
  const cleanups: Array<() => Promise<void>> = [];
  let unused: SampleUser[] = [];
  let addressCounter = 0;

  const admin = () => ({ url: ds.url, adminDn: ds.adminDn, adminPassword: ds.adminPassword });
  const serviceDn = (account: ServiceAccount) => (account === 'reader' ? ds.readerDn : `cn=${account},${ds.baseDn}`);
  const nextAddress = (): string => {
    addressCounter += 1;
    return `10.19.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;
  };
  const take = (): SampleUser => {
    const user = unused.shift();
    assert.ok(user, 'enough unused users');
    return user;
  };
  const setConfig = (values: Record<string, string>) =>
    ds.ldapmodify(
      ['dn: cn=config', 'changetype: modify', ...Object.entries(values).flatMap(([name, value]) => [`replace: ${name}`, `${name}: ${value}`, '-']), ''].join(
        '\n',
      ),
    );

  before(async () => {
    const directory = dirsrvTestDirectory();
    ds = await startDirsrv({ ldif: directory.ldif, memberOf: true });
    unused = directory.organisation.users.filter((user) => user.index >= 10 && !user.locked && user.ou === 'people');
    await setConfig({ passwordLockout: 'on', passwordMaxFailure: '3', passwordLockoutDuration: '600', passwordResetFailureCount: '600' });
    await ds.ldapmodify(
      [
        `dn: ${ds.baseDn}`,
        'changetype: modify',
        'add: aci',
        `aci: (targetattr = "passwordRetryCount || retryCountResetTime || accountUnlockTime || pwdpolicysubentry")(version 3.0; acl "dirbridge tests: blind-reader sees no lockout state"; deny (read, search, compare) userdn = "ldap:///${serviceDn('blind-reader')}";)`,
        '-',
        '',
      ].join('\n'),
    );
    await ds.ldapadd(
      [
        `dn: ${serviceDn('blind-reader')}`,
        'objectClass: top',
        'objectClass: applicationProcess',
        'objectClass: simpleSecurityObject',
        'cn: blind-reader',
        `userPassword: ${SERVICE_PASSWORD}`,
        '',
      ].join('\n'),
    );
    const made = await settingsFor({
      directory: { urls: [ds.url], bindDn: ds.readerDn, bindPassword: ds.readerPassword },
      users: { baseDn: ds.baseDn },
      groups: { baseDn: `ou=groups,${ds.baseDn}`, memberAttribute: ['member'] },
      login: { bindPoolSize: 2 },
    });
    cleanups.push(made.cleanup);
    base = made.settings;
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await ds?.stop();
  });

  /** A fresh app (its own store and policy cache) bound as `account`, its HTTP server, and how many binds its logins sent. */
  async function fresh(account: ServiceAccount, override: Record<string, unknown> = {}): Promise<{ app: App; server: FastifyInstance; binds: () => number }> {
    const service = account === 'reader' ? {} : { directory: { bindDn: serviceDn(account), bindPassword: SERVICE_PASSWORD } };
    const made = await settingsFor(merge(merge(structuredClone(base) as unknown as Record<string, unknown>, service), override));
    cleanups.push(made.cleanup);
    const app = await openApp(made.settings);
    cleanups.push(() => app.close());
    let binds = 0;
    app.observe({ directory: (operation) => (binds += operation === 'verify' ? 1 : 0) });
    const server = await createHttpServer(app, { logger: false });
    cleanups.push(() => server.close());
    return { app, server, binds: () => binds };
  }

  const httpLogin = (server: FastifyInstance, username: string, password: string, from: string): Promise<LightMyRequestResponse> =>
    server.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password }, remoteAddress: from });
  const outcome = (attempt: Promise<unknown>): Promise<string> =>
    attempt.then(
      () => 'ok',
      (error: unknown) => (error instanceof LoginFailure ? error.reason : String(error)),
    );
  const lastFailure = async (app: App, subject: string) =>
    (await app.store.audit.list({ limit: 20, offset: 0, action: 'login.failed' })).entries.find((entry) => entry.subject === subject)?.reason;
  const isUnauthorized = (response: LightMyRequestResponse) => [response.statusCode, JSON.parse(response.body).error.code];

  it('refuses an account 389-DS locked before any bind, as locked_in_directory, where the service account reads accountUnlockTime', async () => {
    const { app, server, binds } = await fresh('reader');
    const target = take();
    // Another application's three wrong passwords lock it.
    await bindWrongPassword({ url: ds.url }, target.dn, 3);
    const locked = await dirsrvLockoutState(admin(), target.dn);
    assert.ok(locked.accountUnlockTime !== undefined && locked.retryCount === 3, JSON.stringify(locked));

    const answer = await httpLogin(server, target.uid, target.password, nextAddress());
    assert.deepEqual(isUnauthorized(answer), [401, 'auth.invalid_credentials'], answer.body);
    assert.equal(await lastFailure(app, target.uid), 'locked_in_directory');
    assert.equal(binds(), 0, 'no bind was sent');
    assert.deepEqual(await dirsrvLockoutState(admin(), target.dn), locked, '389-DS saw nothing');
  });

  it("refuses it as locked_in_directory when 389-DS's bind answers 19, where the service account cannot see the lockout", async () => {
    const { app, server, binds } = await fresh('blind-reader');
    const target = take();
    await bindWrongPassword({ url: ds.url }, target.dn, 3);
    const locked = await dirsrvLockoutState(admin(), target.dn);
    assert.ok(locked.accountUnlockTime !== undefined, 'locked');

    const answer = await httpLogin(server, target.uid, target.password, nextAddress());
    assert.deepEqual(isUnauthorized(answer), [401, 'auth.invalid_credentials'], `not 503 auth.directory_unavailable: ${answer.body}`);
    assert.equal(await lastFailure(app, target.uid), 'locked_in_directory');
    assert.equal(binds(), 1, 'the bind told');
    assert.deepEqual(await dirsrvLockoutState(admin(), target.dn), locked, '389-DS does not count a bind to a locked account');
    // A refusal that was a bind is counted by the throttle like a failed guess: the next stranger is throttled.
    await rejectsLogin(app.login.login({ username: target.uid, password: target.password, clientAddress: nextAddress() }), 'throttled');
  });

  it('tells the locking bind apart whether it answers 49 (passwordLegacyPolicy on) or 19 (off)', async () => {
    try {
      for (const [legacy, locking] of [
        ['on', 'wrong_password'],
        ['off', 'locked_in_directory'],
      ] as const) {
        await setConfig({ passwordLegacyPolicy: legacy });
        // The blind reader sees neither the policy nor the counter: another application's two failures
        // are invisible, so the one guess a stranger gets is the third failure, which locks.
        const { app } = await fresh('blind-reader');
        const owner = take();
        const home = nextAddress();
        assert.ok(await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home }));
        await bindWrongPassword({ url: ds.url }, owner.dn, 2);
        assert.equal(
          await outcome(app.login.login({ username: owner.uid, password: 'a-guess', clientAddress: nextAddress() })),
          locking,
          `passwordLegacyPolicy ${legacy}`,
        );
        assert.ok((await dirsrvLockoutState(admin(), owner.dn)).accountUnlockTime !== undefined, 'locked');
        // The owner, from home, with the right password: the bind answers 19.
        assert.equal(
          await outcome(app.login.login({ username: owner.uid, password: owner.password, clientAddress: home })),
          'locked_in_directory',
          `passwordLegacyPolicy ${legacy}`,
        );
      }
    } finally {
      await setConfig({ passwordLegacyPolicy: 'on' });
    }
  });

  it('lets the owner in once 389-DS ends the lockout (accountUnlockTime passed)', async () => {
    await setConfig({ passwordLockoutDuration: '2', passwordResetFailureCount: '2' });
    try {
      const { app, binds } = await fresh('reader');
      const owner = take();
      const home = nextAddress();
      assert.ok(await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home }));
      await bindWrongPassword({ url: ds.url }, owner.dn, 3);
      const { accountUnlockTime } = await dirsrvLockoutState(admin(), owner.dn);
      const unlockAt = parseGeneralizedTime(accountUnlockTime ?? '');
      assert.ok(unlockAt !== undefined, `locked: ${String(accountUnlockTime)}`);
      await rejectsLogin(app.login.login({ username: owner.uid, password: owner.password, clientAddress: home }), 'locked_in_directory');
      assert.equal(binds(), 1, 'only the first login bound');
      // accountUnlockTime has whole seconds: the lockout is over a second after it at the latest.
      await until(() => (Date.now() > unlockAt + 1_000 ? true : undefined), 15_000, 'the lockout to end', 100);
      const session = await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home });
      assert.equal(session.user.username, owner.uid);
      assert.equal((await dirsrvLockoutState(admin(), owner.dn)).retryCount, 0, 'the successful bind reset the counter');
    } finally {
      await setConfig({ passwordLockoutDuration: '600', passwordResetFailureCount: '600' });
    }
  });

  it('does not disable the dirbridge account of a user 389-DS locked out, nor end their sessions; nsAccountLock still disables', async () => {
    const { app } = await fresh('reader');
    const owner = take();
    const session = await app.login.login({ username: owner.uid, password: owner.password, via: 'cli' });
    await bindWrongPassword({ url: ds.url }, owner.dn, 3);
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    const stored = await app.store.users.findByUsername(owner.uid);
    assert.equal(stored?.isEnabled, true, 'a lockout is not a disable');
    assert.ok(await app.sessions.validate(session.token), 'the session goes on');
    assert.equal((await app.store.users.findByUsername('locked.user'))?.disabledBy, 'directory', 'nsAccountLock: TRUE disables');
  });
});
