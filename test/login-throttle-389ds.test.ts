/**
 * The login throttle against a real 389 Directory Server 2.3 (one instance for the file) whose
 * global password policy locks an account at the 3rd failed bind: `passwordLockout: on` in
 * cn=config with `passwordMaxFailure: 3` (389-DS's default, so what turning lockout on gives),
 * `passwordLockoutDuration` and `passwordResetFailureCount` 600 s, and fine-grained policies on
 * (`nsslapd-pwpolicy-local`): a subtree policy on ou=staff and user policies. Every count of guesses
 * is taken on 389-DS's side, from `passwordRetryCount`, `retryCountResetTime` and
 * `accountUnlockTime`, read as Directory Manager.
 *
 * Three service accounts, as deployments have them:
 * - `cn=reader` (the fixture's): reads entries, their `passwordRetryCount` and `pwdpolicysubentry`
 *   and the policy subentries, but not cn=config (389-DS shows cn=config to no one but Directory
 *   Manager unless an ACI says so): the global policy is unknown, and 389-DS's own default
 *   threshold (3) bounds each account to 2 failures, 1 of them to strangers;
 * - `cn=policy-reader`: also granted read on cn=config's lockout attributes by the ACI the README
 *   gives: dirbridge reads the threshold (and whether local policies are on);
 * - `cn=blind-reader`: denied `passwordRetryCount`, `retryCountResetTime`, `accountUnlockTime` and
 *   `pwdpolicysubentry` too: nothing about lockout is readable.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type App, openApp } from '../src/app.ts';
import { discoverLockoutPolicy } from '../src/auth/lockout-policies.ts';
import { LoginFailure } from '../src/auth/login.ts';
import { createHttpServer } from '../src/http/server.ts';
import { escapeDnValue } from '../src/ldap/dn.ts';
import type { Settings } from '../src/settings/schema.ts';
import { testConnection } from '../src/sync/test-connection.ts';
import { type Dirsrv, dirsrvUnavailableReason, startDirsrv } from './fixtures/dirsrv.ts';
import type { Organisation, SampleUser } from './fixtures/sample-directory.ts';
import { dirsrvTestDirectory } from './helpers/data-fit.ts';
import { merge, settingsFor } from './helpers/harness.ts';
import { bindWrongPassword, dirsrvLockedUnder, dirsrvLockoutState } from './helpers/lockout.ts';
import { rejectsLogin } from './helpers/login.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const APP_API_KEY = 'app-key-throttle-389-0123456789';
/** 389-DS's default passwordMaxFailure. */
const GLOBAL_MAX_FAILURE = 3;
const SERVICE_PASSWORD = 'service-secret-389';
type ServiceAccount = 'reader' | 'policy-reader' | 'blind-reader';

describe('login throttle against 389-DS (global lockout at the 3rd failure, fine-grained policies)', { skip: skipUnlessCi(dirsrvUnavailableReason()) }, () => {
  let ds: Dirsrv;
  let organisation: Organisation;
  let base: Settings;
  const cleanups: Array<() => Promise<void>> = [];
  let addressCounter = 0;
  /** Regular ou=people users not yet used by a test. */
  let unused: SampleUser[] = [];
  /** The ou=staff users (the subtree policy's). */
  let staff: SampleUser[] = [];
  /** Users with a user policy locking at the 2nd failure, and with one locking only at the 10th. */
  let strict: SampleUser[] = [];
  let loose: SampleUser[] = [];

  const admin = () => ({ url: ds.url, adminDn: ds.adminDn, adminPassword: ds.adminPassword });
  const serviceDn = (account: ServiceAccount) => (account === 'reader' ? ds.readerDn : `cn=${account},${ds.baseDn}`);
  const nextAddress = (): string => {
    addressCounter += 1;
    return `10.89.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;
  };
  const take = (count: number): SampleUser[] => {
    assert.ok(unused.length >= count, 'enough unused users');
    return unused.splice(0, count);
  };

  /** The fine-grained policy entries `dsconf localpwp addsubtree`/`adduser` write. */
  const policyEntry = (subject: string, container: string, kind: 'subtree' | 'user', maxFailure: number): { dn: string; ldif: string } => {
    const cn = `cn=nsPwPolicyEntry_${kind},${subject}`;
    const dn = `cn=${escapeDnValue(cn)},cn=nsPwPolicyContainer,${container}`;
    return {
      dn,
      ldif: [
        `dn: ${dn}`,
        'objectClass: top',
        'objectClass: ldapsubentry',
        'objectClass: passwordpolicy',
        `cn: ${cn}`,
        'passwordLockout: on',
        `passwordMaxFailure: ${maxFailure}`,
        '',
      ].join('\n'),
    };
  };
  const container = (parent: string) => `dn: cn=nsPwPolicyContainer,${parent}\nobjectClass: top\nobjectClass: nsContainer\ncn: nsPwPolicyContainer\n`;
  const setLocalPolicies = (on: boolean) =>
    ds.ldapmodify(`dn: cn=config\nchangetype: modify\nreplace: nsslapd-pwpolicy-local\nnsslapd-pwpolicy-local: ${on ? 'on' : 'off'}\n`);

  before(async () => {
    const directory = dirsrvTestDirectory();
    organisation = directory.organisation;
    ds = await startDirsrv({ ldif: directory.ldif, memberOf: true });
    console.log(`# 389-DS started in ${ds.startup.ms} ms (from template: ${ds.startup.fromTemplate})`);
    const people = `ou=people,${ds.baseDn}`;
    const staffOu = `ou=staff,${ds.baseDn}`;
    // Regular accounts only (the first ones are special cases: odd DNs, a locked one).
    unused = organisation.users.filter((user) => user.index >= 10 && !user.locked && user.ou === 'people');
    staff = organisation.users.filter((user) => user.ou === 'staff' && !user.locked);
    assert.equal(staff.length, 2);
    strict = take(2);
    loose = take(2);

    await ds.ldapmodify(
      [
        'dn: cn=config',
        'changetype: modify',
        'replace: passwordLockout',
        'passwordLockout: on',
        '-',
        'replace: passwordMaxFailure',
        `passwordMaxFailure: ${GLOBAL_MAX_FAILURE}`,
        '-',
        'replace: passwordLockoutDuration',
        'passwordLockoutDuration: 600',
        '-',
        'replace: passwordResetFailureCount',
        'passwordResetFailureCount: 600',
        '-',
        'replace: nsslapd-pwpolicy-local',
        'nsslapd-pwpolicy-local: on',
        '-',
        // The ACI the README gives: a service account may read the lockout policy in cn=config.
        'add: aci',
        `aci: (targetattr = "objectClass || passwordLockout || passwordMaxFailure || passwordResetFailureCount || nsslapd-pwpolicy-local")(version 3.0; acl "dirbridge reads the password lockout policy"; allow (read, search, compare) userdn = "ldap:///${serviceDn('policy-reader')}";)`,
        '-',
        '',
        `dn: ${ds.baseDn}`,
        'changetype: modify',
        'add: aci',
        `aci: (targetattr = "passwordRetryCount || retryCountResetTime || accountUnlockTime || pwdpolicysubentry")(version 3.0; acl "dirbridge tests: blind-reader sees no lockout state"; deny (read, search, compare) userdn = "ldap:///${serviceDn('blind-reader')}";)`,
        '-',
        '',
      ].join('\n'),
    );
    const subtree = policyEntry(staffOu, staffOu, 'subtree', 2);
    const template = `cn=nsPwTemplateEntry,${staffOu}`;
    const templateDn = `cn=${escapeDnValue(template)},cn=nsPwPolicyContainer,${staffOu}`;
    const userPolicies = [
      ...strict.map((user) => ({ user, policy: policyEntry(user.dn, people, 'user', 2) })),
      ...loose.map((user) => ({ user, policy: policyEntry(user.dn, people, 'user', 10) })),
    ];
    await ds.ldapadd(
      [
        ...(['policy-reader', 'blind-reader'] as const).map((account) =>
          [
            `dn: ${serviceDn(account)}`,
            'objectClass: top',
            'objectClass: applicationProcess',
            'objectClass: simpleSecurityObject',
            `cn: ${account}`,
            `userPassword: ${SERVICE_PASSWORD}`,
            '',
          ].join('\n'),
        ),
        container(staffOu),
        subtree.ldif,
        [
          `dn: ${templateDn}`,
          'objectClass: top',
          'objectClass: extensibleObject',
          'objectClass: costemplate',
          'objectClass: ldapsubentry',
          `cn: ${template}`,
          'cosPriority: 1',
          `pwdpolicysubentry: ${subtree.dn}`,
          '',
        ].join('\n'),
        [
          `dn: cn=nsPwPolicy_CoS,${staffOu}`,
          'objectClass: top',
          'objectClass: ldapsubentry',
          'objectClass: cosSuperDefinition',
          'objectClass: cosPointerDefinition',
          'cn: nsPwPolicy_CoS',
          `cosTemplateDn: ${templateDn}`,
          'cosAttribute: pwdpolicysubentry default operational-default',
          '',
        ].join('\n'),
        container(people),
        ...userPolicies.map(({ policy }) => policy.ldif),
      ].join('\n'),
    );
    await ds.ldapmodify(
      userPolicies.map(({ user, policy }) => `dn: ${user.dn}\nchangetype: modify\nreplace: pwdpolicysubentry\npwdpolicysubentry: ${policy.dn}\n`).join('\n'),
    );

    const made = await settingsFor({
      directory: { urls: [ds.url], bindDn: ds.readerDn, bindPassword: ds.readerPassword },
      users: { baseDn: ds.baseDn },
      groups: { baseDn: `ou=groups,${ds.baseDn}`, memberAttribute: ['member'] },
      login: { bindPoolSize: 4 },
    });
    cleanups.push(made.cleanup);
    base = made.settings;
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await ds?.stop();
  });

  /** A fresh app (its own SQLite store and policy cache) bound as `account`, and its HTTP server. */
  async function fresh(account: ServiceAccount, override: Record<string, unknown> = {}): Promise<{ app: App; server: FastifyInstance }> {
    const service = account === 'reader' ? {} : { directory: { bindDn: serviceDn(account), bindPassword: SERVICE_PASSWORD } };
    const made = await settingsFor(merge(merge(structuredClone(base) as unknown as Record<string, unknown>, service), override));
    cleanups.push(made.cleanup);
    const app = await openApp(made.settings);
    cleanups.push(() => app.close());
    const server = await createHttpServer(app, { logger: false, appApiKey: APP_API_KEY });
    cleanups.push(() => server.close());
    return { app, server };
  }

  async function discover(app: App) {
    const directory = await app.openDirectory();
    try {
      return await discoverLockoutPolicy(directory, app.settings);
    } finally {
      await directory.close();
    }
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

  const outcome = (attempt: Promise<unknown>): Promise<string> =>
    attempt.then(
      () => 'ok',
      (error: unknown) => (error instanceof LoginFailure ? error.reason : String(error)),
    );
  const statuses = (responses: readonly LightMyRequestResponse[]) => responses.map((response) => response.statusCode);
  const countOf = <T>(values: readonly T[], wanted: T) => values.filter((value) => value === wanted).length;
  const throttleWarnings = (warnings: readonly string[]) => warnings.filter((warning) => !/^(users|groups)\./.test(warning));

  it("reads the global policy from cn=config where an ACI lets the service account, and otherwise bounds accounts by 389-DS's default threshold", async () => {
    const informed = await fresh('policy-reader');
    assert.deepEqual(await discover(informed.app), { kind: 'lockout', threshold: GLOBAL_MAX_FAILURE, memorySeconds: 600, source: 'cn=config' });
    assert.deepEqual(
      throttleWarnings((await testConnection({ openDirectory: () => informed.app.openDirectory(), settings: informed.app.settings })).warnings),
      [],
    );

    // Without that ACI 389-DS answers a read of cn=config with success and no entry.
    const blind = await fresh('reader');
    const policy = await discover(blind.app);
    if (policy.kind !== 'unknown') assert.fail(`expected an unknown policy, got ${JSON.stringify(policy)}`);
    assert.equal(policy.limit, GLOBAL_MAX_FAILURE - 1, "389-DS's default passwordMaxFailure (3), less one");
    assert.match(policy.problem, /cn=config/);
    const warnings = throttleWarnings((await testConnection({ openDirectory: () => blind.app.openDirectory(), settings: blind.app.settings })).warnings);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /could not be read \(.*cn=config.*\): logins allow at most 2 failed attempts per account/);
  });

  it("never lets the owner's own mistakes from a known address lock the account while cn=config is unreadable", async () => {
    const { app } = await fresh('reader');
    const [owner] = take(1);
    assert.ok(owner);
    const home = nextAddress();
    assert.ok(await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home }));
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 5; attempt += 1)
      outcomes.push(await outcome(app.login.login({ username: owner.uid, password: `typo-${attempt}`, clientAddress: home })));
    assert.deepEqual(outcomes, ['wrong_password', 'wrong_password', 'throttled', 'throttled', 'throttled']);
    const state = await dirsrvLockoutState(admin(), owner.dn);
    assert.equal(state.accountUnlockTime, undefined, 'not locked');
    assert.equal(state.retryCount, GLOBAL_MAX_FAILURE - 1);
  });

  it('leaves the account unlocked after hundreds of concurrent wrong passwords from as many addresses, and the owner signs in from home', async () => {
    for (const [account, guesses] of [
      ['reader', 300],
      ['policy-reader', 100],
    ] as const) {
      const { server } = await fresh(account);
      const [owner] = take(1);
      assert.ok(owner);
      const home = nextAddress();
      assert.equal((await appLogin(server, owner.uid, owner.password, { from: home })).statusCode, 200);
      // Half straight from many addresses, half through an application passing on its end users' addresses.
      const answers = statuses(
        await Promise.all(
          Array.from({ length: guesses }, (_, index) =>
            index % 2 === 0
              ? appLogin(server, owner.uid, `guess-${index}`)
              : appLogin(server, owner.uid, `guess-${index}`, { key: APP_API_KEY, forwardedFor: nextAddress() }),
          ),
        ),
      );
      const state = await dirsrvLockoutState(admin(), owner.dn);
      assert.equal(state.accountUnlockTime, undefined, `${account}: no accountUnlockTime, not locked`);
      assert.equal(state.retryCount, 1, `${account}: the strangers' 1 of the 2 failures a threshold of 3 leaves reached 389-DS`);
      assert.ok(state.retryCountResetTime !== undefined, '389-DS counted it');
      assert.equal(countOf(answers, 401), 1, `${account}: each 401 is one bind 389-DS counted`);
      assert.equal(countOf(answers, 429), guesses - 1);
      assert.equal((await appLogin(server, owner.uid, owner.password)).statusCode, 429, 'a stranger with the right password');
      assert.equal((await appLogin(server, owner.uid, owner.password, { from: home })).statusCode, 200, 'the owner from home');
      assert.equal((await dirsrvLockoutState(admin(), owner.dn)).retryCount, 0, "the successful bind reset 389-DS's counter");
    }
  });

  it("counts another application's failed binds (passwordRetryCount) and sends no bind that could lock the account", async () => {
    for (const account of ['reader', 'policy-reader'] as const) {
      const { app } = await fresh(account);
      const [target, owner] = take(2);
      assert.ok(target && owner);
      // Another application made 2 wrong binds: a 3rd would lock the account. dirbridge does not send it.
      await bindWrongPassword({ url: ds.url }, target.dn, 2);
      await rejectsLogin(app.login.login({ username: target.uid, password: 'wrong', clientAddress: nextAddress() }), 'throttled');
      await rejectsLogin(app.login.login({ username: target.uid, password: target.password, clientAddress: nextAddress() }), 'throttled');
      const state = await dirsrvLockoutState(admin(), target.dn);
      assert.deepEqual([state.retryCount, state.accountUnlockTime], [2, undefined], `${account}: no bind was sent`);

      // From a known address: one foreign failure leaves room for the owner, two leave none.
      const home = nextAddress();
      assert.ok(await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home }));
      await bindWrongPassword({ url: ds.url }, owner.dn, 1);
      await rejectsLogin(app.login.login({ username: owner.uid, password: owner.password, clientAddress: nextAddress() }), 'throttled');
      assert.ok(await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home }));
      assert.equal((await dirsrvLockoutState(admin(), owner.dn)).retryCount, 0);
      await bindWrongPassword({ url: ds.url }, owner.dn, 2);
      await rejectsLogin(app.login.login({ username: owner.uid, password: 'typo', clientAddress: home }), 'throttled');
      const ownerState = await dirsrvLockoutState(admin(), owner.dn);
      assert.deepEqual([ownerState.retryCount, ownerState.accountUnlockTime], [2, undefined], `${account}: no bind was sent`);
    }
  });

  /**
   * Guesses at `target` from new addresses under each of its names (uid, cn, mail), concurrently:
   * each name has its own budget, so what reaches 389-DS is capped by the account's limit alone.
   */
  async function guessUnderEveryName(app: App, target: SampleUser, count: number): Promise<string[]> {
    const names = [target.uid, target.cn, target.mail];
    for (const name of names.slice(1))
      assert.equal(organisation.users.filter((user) => user.cn === name || user.mail === name).length, 1, `${name} names one account`);
    return Promise.all(
      Array.from({ length: count }, (_, guess) =>
        outcome(app.login.login({ username: names[guess % names.length] ?? '', password: `guess-${guess}`, clientAddress: nextAddress() })),
      ),
    );
  }
  const byEveryName = { users: { usernameAttribute: ['uid', 'cn', 'mail'] } };

  it('honours a subtree policy (ou=staff) and user policies that lock at the 2nd failure', async () => {
    for (const [index, account] of (['reader', 'policy-reader'] as const).entries()) {
      const { app } = await fresh(account, byEveryName);
      for (const target of [staff[index], strict[index]]) {
        assert.ok(target);
        const home = nextAddress();
        assert.ok(await app.login.login({ username: target.uid, password: target.password, clientAddress: home }));
        const outcomes = await guessUnderEveryName(app, target, 30);
        assert.deepEqual([countOf(outcomes, 'wrong_password'), countOf(outcomes, 'throttled')], [1, 29], `${account}, ${target.dn}`);
        // The global policy would leave the owner a second failure from home; this one does not.
        await rejectsLogin(app.login.login({ username: target.uid, password: 'typo', clientAddress: home }), 'throttled');
        const state = await dirsrvLockoutState(admin(), target.dn);
        assert.equal(state.accountUnlockTime, undefined, `${account}, ${target.dn}: not locked`);
        assert.equal(state.retryCount, 1, `${account}, ${target.dn}: one failure, all a threshold of 2 leaves`);
      }
    }
  });

  it('holds accounts to the global threshold while nsslapd-pwpolicy-local is off, when 389-DS ignores the (looser) policies entries name', async () => {
    await setLocalPolicies(false);
    try {
      for (const [index, account] of (['reader', 'policy-reader'] as const).entries()) {
        const { app } = await fresh(account, byEveryName);
        const target = loose[index];
        assert.ok(target);
        const outcomes = await guessUnderEveryName(app, target, 30);
        const state = await dirsrvLockoutState(admin(), target.dn);
        assert.equal(state.accountUnlockTime, undefined, `${account}: not locked (389-DS locks at the global 3rd failure, whatever the user policy says)`);
        assert.equal(state.retryCount, 1, `${account}: the strangers' 1 failure`);
        assert.equal(countOf(outcomes, 'wrong_password'), 1);
      }
    } finally {
      await setLocalPolicies(true);
    }
  });

  it('keeps failures until a successful login when nothing is readable, so guesses spaced past the window cannot add up to a lockout', async () => {
    const { app } = await fresh('blind-reader', { login: { throttle: { windowSeconds: 1 } } });
    const [owner] = take(1);
    assert.ok(owner);
    const home = nextAddress();
    assert.ok(await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home }));
    const outcomes: string[] = [];
    for (let round = 0; round < 3; round += 1) {
      // Well past the 1 s window (of the name, the address, and of the account under the old rule).
      if (round > 0) await sleep(1_500);
      outcomes.push(await outcome(app.login.login({ username: owner.uid, password: `guess-${round}`, clientAddress: nextAddress() })));
    }
    // The test is about a service account that sees nothing: check it does not see 389-DS's counter.
    const directory = await app.openDirectory();
    try {
      const [seen] = await directory.searchAll({
        baseDn: owner.dn,
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: ['passwordRetryCount', 'retryCountResetTime', 'uid'],
        maxEntries: 1,
      });
      assert.deepEqual(Object.keys(seen?.attributes ?? {}), ['uid']);
    } finally {
      await directory.close();
    }
    assert.deepEqual(outcomes, ['wrong_password', 'throttled', 'throttled']);
    const state = await dirsrvLockoutState(admin(), owner.dn);
    assert.deepEqual([state.retryCount, state.accountUnlockTime], [1, undefined]);
    assert.ok(await app.login.login({ username: owner.uid, password: owner.password, clientAddress: home }), 'the owner, from home');
    assert.equal((await dirsrvLockoutState(admin(), owner.dn)).retryCount, 0);
  });

  it('locked no account anywhere in the directory', async () => {
    assert.deepEqual(await dirsrvLockedUnder(admin(), ds.baseDn), []);
  });
});
