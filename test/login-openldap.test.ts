/**
 * Directory login against a real OpenLDAP: find then bind, first-login provisioning with the
 * sync mapping, uniform failures with distinct audited reasons, injection attempts, ppolicy
 * locks, moves between logins, merges, the administrator that can never be taken over,
 * sessions, auto logout and throttling.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { logoutDeactivatedUsers } from '../src/auth/auto-logout.ts';
import { createLocalAccount } from '../src/auth/local-accounts.ts';
import { parseGeneralizedTime } from '../src/auth/lockout-policy.ts';
import type { Settings } from '../src/settings/schema.ts';
import { generateOrganisation, type Organisation, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { merge, settingsFor } from './helpers/harness.ts';
import { bindWrongPassword, ppolicyState } from './helpers/lockout.ts';
import { rejectsLogin } from './helpers/login.ts';
import { establishedTo } from './helpers/sockets.ts';
import { until } from './helpers/wait.ts';

describe('login against OpenLDAP', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let app: App;
  let base: Settings;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    organisation = generateOrganisation({ people: 60, groups: 12, seed: 21 });
    slapd = await startSlapd({ ldif: organisation.ldif, pwdMaxFailure: 1000 });
    const made = await settingsFor({
      directory: { urls: [slapd.url], startTls: true, tls: { caFile: slapd.caFile }, bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
      sync: { disableMissingUsers: true, guard: { maxDisable: { count: 10, percent: 100 } } },
      login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
    });
    cleanups.push(made.cleanup);
    base = made.settings;
    app = await openApp(base);
  });

  after(async () => {
    await app?.close();
    await slapd?.stop();
    for (const cleanup of cleanups) await cleanup();
  });

  /** A separate app over a fresh store, with settings overrides. */
  async function appWith(override: Record<string, unknown>): Promise<App> {
    const made = await settingsFor(merge(structuredClone(base) as unknown as Record<string, unknown>, override));
    cleanups.push(made.cleanup);
    const other = await openApp(made.settings);
    cleanups.push(() => other.close());
    return other;
  }

  const user = (index: number): SampleUser => {
    const found = organisation.users[index];
    assert.ok(found);
    return found;
  };

  it('creates the account on first login, with its groups, and reuses it afterwards', async () => {
    const alice = user(10);
    const first = await app.login.login({ username: alice.uid, password: alice.password, clientAddress: '192.0.2.1' });
    assert.equal(first.isNewUser, true);
    assert.equal(first.user.username, alice.uid);
    assert.equal(first.user.source, 'directory');
    assert.equal(first.user.email, alice.mail);
    const groups = (await app.store.groups.listOfUser(first.user.id)).map((group) => group.name).sort();
    for (const cn of alice.groups) assert.ok(groups.includes(cn), `${cn} in ${groups.join(',')}`);
    const second = await app.login.login({ username: alice.uid.toUpperCase(), password: alice.password });
    assert.equal(second.isNewUser, false);
    assert.equal(second.user.id, first.user.id);
    assert.notEqual(second.token, first.token);
    const validated = await app.sessions.validate(first.token);
    assert.equal(validated?.user.id, first.user.id);
    const created = await app.store.audit.list({ limit: 10, offset: 0, userId: first.user.id, action: 'user.created' });
    assert.equal(created.entries[0]?.actor, 'login');
  });

  it('fails uniformly for a wrong password and an unknown user, keeping the reasons in the audit log', async () => {
    const bob = user(11);
    await rejectsLogin(app.login.login({ username: bob.uid, password: 'not-it' }), 'wrong_password');
    await rejectsLogin(app.login.login({ username: 'no.such.person', password: 'whatever' }), 'unknown_user');
    const failures = await app.store.audit.list({ limit: 5, offset: 0, action: 'login.failed' });
    assert.deepEqual(
      failures.entries.slice(0, 2).map((entry) => [entry.subject, entry.reason]),
      [
        ['no.such.person', 'unknown_user'],
        [bob.uid, 'wrong_password'],
      ],
    );
  });

  it('refuses an empty or blank password without contacting the directory', async () => {
    // Its lockout policy cannot be read (the directory is down): the throttle would allow only 3; these are not about it.
    const offline = await appWith({
      directory: { urls: ['ldap://127.0.0.1:1'], startTls: false, connectTimeoutMs: 300 },
      login: { throttle: { stayBelowDirectoryLockout: false } },
    });
    for (const password of ['', '   ', '\t\n']) await rejectsLogin(offline.login.login({ username: user(12).uid, password }), 'empty_password');
    // The same app does contact the directory for a real password: it is unreachable.
    await rejectsLogin(offline.login.login({ username: user(12).uid, password: 'x' }), 'directory_unavailable');
  });

  it('treats LDAP filter syntax in usernames as literal text', async () => {
    const carol = user(13);
    for (const username of ['*', '*)(uid=*', 'admin)(|(uid=*', '\\00', '\u0000', `${carol.uid})(uid=*`, `*${carol.uid.slice(1)}`]) {
      await rejectsLogin(app.login.login({ username, password: carol.password }), 'unknown_user');
    }
  });

  it('refuses a ppolicy-locked account even with the right password', async () => {
    const locked = organisation.users.find((candidate) => candidate.locked);
    assert.ok(locked);
    await rejectsLogin(app.login.login({ username: locked.uid, password: locked.password }), 'locked_in_directory');
  });

  it('refuses a ppolicy lockout after failed binds before any bind until it ends, and sync neither disables the account nor ends its sessions', async () => {
    // A policy that locks at the 3rd failure for 3 s, and forgets failures after 3 s.
    const policy = (maxFailure: number, seconds: number) =>
      slapd.ldapmodify(
        `dn: ${slapd.policyDn}\nchangetype: modify\nreplace: pwdMaxFailure\npwdMaxFailure: ${maxFailure}\n-\nreplace: pwdLockoutDuration\npwdLockoutDuration: ${seconds}\n-\nreplace: pwdFailureCountInterval\npwdFailureCountInterval: ${seconds}\n-\n`,
      );
    await policy(3, 3);
    try {
      const locking = await appWith({});
      let binds = 0;
      locking.observe({ directory: (operation) => (binds += operation === 'verify' ? 1 : 0) });
      const owner = user(50);
      const home = '192.0.2.50';
      const session = await locking.login.login({ username: owner.uid, password: owner.password, clientAddress: home });
      // Another application's three wrong passwords lock it (pwdAccountLockedTime: the time of the lock).
      await bindWrongPassword({ url: slapd.url }, owner.dn, 3);
      const { lockedTime } = await ppolicyState({ url: slapd.url, adminDn: slapd.adminDn, adminPassword: slapd.adminPassword }, owner.dn);
      const lockedAt = parseGeneralizedTime(lockedTime ?? '');
      assert.ok(lockedAt !== undefined && lockedTime !== '000001010000Z', `locked after failures: ${String(lockedTime)}`);

      const result = await locking.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'succeeded', result.reason ?? '');
      assert.equal((await locking.store.users.findByUsername(owner.uid))?.isEnabled, true, 'a lockout is not a disable');
      assert.ok(await locking.sessions.validate(session.token), 'the session goes on');

      await rejectsLogin(locking.login.login({ username: owner.uid, password: owner.password, clientAddress: home }), 'locked_in_directory');
      assert.equal(binds, 1, 'refused before any bind');
      // The lock stays on the entry until the next bind; dirbridge lets the owner in once the policy's duration has passed.
      await until(() => (Date.now() > lockedAt + 4_000 ? true : undefined), 15_000, 'the lockout to end', 100);
      assert.ok(await locking.login.login({ username: owner.uid, password: owner.password, clientAddress: home }));
      assert.equal(
        (await ppolicyState({ url: slapd.url, adminDn: slapd.adminDn, adminPassword: slapd.adminPassword }, owner.dn)).lockedTime,
        undefined,
        'the bind cleared it',
      );
    } finally {
      await policy(1000, 0);
    }
  });

  it('keeps the account of a user moved to another OU between two logins', async () => {
    const dave = user(14);
    const first = await app.login.login({ username: dave.uid, password: dave.password });
    await slapd.ldapmodify(`dn: ${dave.dn}\nchangetype: modrdn\nnewrdn: uid=${dave.uid}\ndeleteoldrdn: 1\nnewsuperior: ou=staff,${slapd.baseDn}\n`);
    const second = await app.login.login({ username: dave.uid, password: dave.password });
    assert.equal(second.user.id, first.user.id);
    assert.equal(second.user.dn, `uid=${dave.uid},ou=staff,${slapd.baseDn}`);
    assert.equal(second.isNewUser, false);
  });

  it('refreshes attributes on each login when updateOnLogin is on, and only then', async () => {
    const paul = user(24);
    const first = await app.login.login({ username: paul.uid, password: paul.password });
    await slapd.ldapmodify(`dn: ${paul.dn}\nchangetype: modify\nreplace: mail\nmail: paul.new@example.org\n`);
    const second = await app.login.login({ username: paul.uid, password: paul.password });
    assert.equal(second.user.id, first.user.id);
    assert.equal(second.user.email, 'paul.new@example.org');
    const frozen = await appWith({ login: { updateOnLogin: false } });
    const quinn = user(25);
    await frozen.login.login({ username: quinn.uid, password: quinn.password });
    await slapd.ldapmodify(`dn: ${quinn.dn}\nchangetype: modify\nreplace: mail\nmail: quinn.new@example.org\n`);
    assert.equal((await frozen.login.login({ username: quinn.uid, password: quinn.password })).user.email, quinn.mail);
  });

  it('refuses a username that matches two directory entries instead of guessing', async () => {
    await slapd.ldapadd(
      [`ou=people`, `ou=staff`]
        .map((ou) => `dn: uid=twin,${ou},${slapd.baseDn}\nobjectClass: inetOrgPerson\nuid: twin\ncn: Twin ${ou}\nsn: Twin\nuserPassword: twin-password\n`)
        .join('\n'),
    );
    await rejectsLogin(app.login.login({ username: 'twin', password: 'twin-password' }), 'ambiguous_user');
  });

  it('does not create accounts when createOnFirstLogin is off', async () => {
    const strict = await appWith({ login: { createOnFirstLogin: false } });
    const erin = user(15);
    await rejectsLogin(strict.login.login({ username: erin.uid, password: erin.password }), 'not_provisioned');
    assert.equal(await strict.store.users.findByUsername(erin.uid), undefined);
  });

  it('merges a local account only when mergeExistingUsers allows it', async () => {
    const frank = user(16);
    const separate = await appWith({});
    await createLocalAccount(separate.store, { username: frank.uid, password: 'local-password', actor: 'test' });
    await rejectsLogin(separate.login.login({ username: frank.uid, password: frank.password }), 'wrong_password');
    assert.equal((await separate.login.login({ username: frank.uid, password: 'local-password' })).user.source, 'local');

    const merging = await appWith({ sync: { mergeExistingUsers: { enabled: true, matchBy: 'username' } } });
    const local = await createLocalAccount(merging.store, { username: frank.uid, password: 'local-password', actor: 'test' });
    const merged = await merging.login.login({ username: frank.uid, password: frank.password });
    assert.equal(merged.user.id, local.id, 'the same account, now linked');
    assert.equal(merged.user.source, 'directory');
    assert.ok(merged.user.externalId);
    const audit = await merging.store.audit.list({ limit: 5, offset: 0, userId: local.id, action: 'user.linked' });
    assert.equal(audit.total, 1);
  });

  it('never lets a directory login take over the local administrator', async () => {
    await slapd.ldapadd(
      `dn: uid=admin,ou=people,${slapd.baseDn}\nobjectClass: inetOrgPerson\nuid: admin\ncn: Directory Admin\nsn: Admin\nuserPassword: directory-admin-password\n`,
    );
    const guarded = await appWith({ sync: { mergeExistingUsers: { enabled: true, matchBy: 'username' } } });
    const admin = await createLocalAccount(guarded.store, { username: 'admin', password: 'local-admin-password', isAdmin: true, actor: 'test' });
    await rejectsLogin(guarded.login.login({ username: 'admin', password: 'directory-admin-password' }), 'wrong_password');
    assert.equal((await guarded.login.login({ username: 'admin', password: 'local-admin-password' })).user.id, admin.id);
    const after = await guarded.store.users.get(admin.id);
    assert.equal(after?.source, 'local');
    assert.equal(after?.externalId, null);
    // A sync does not take it over either.
    const result = await guarded.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.ok(result.steps.some((step) => step.kind === 'skipUser' && /administrator/.test(step.reason)));
    assert.equal((await guarded.store.users.get(admin.id))?.externalId, null);
  });

  it('logs a user out once the directory disables them, and refuses their next login', async () => {
    const grace = user(17);
    const session = await app.login.login({ username: grace.uid, password: grace.password });
    assert.ok(await app.sessions.validate(session.token));
    await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    await slapd.ldapmodify(`dn: ${grace.dn}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n`);
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    assert.equal((await app.store.users.findByUsername(grace.uid))?.isEnabled, false);
    assert.ok((await logoutDeactivatedUsers(app.store, app.now)) >= 1);
    assert.equal(await app.sessions.validate(session.token), undefined);
    const revoked = await app.store.audit.list({ limit: 5, offset: 0, userId: session.user.id, action: 'session.revoked' });
    assert.equal(revoked.entries[0]?.actor, 'auto-logout');
    await rejectsLogin(app.login.login({ username: grace.uid, password: grace.password }), 'locked_in_directory');
    // Unlocked in the directory: the directory's own disable is lifted by sync.
    await slapd.ldapmodify(`dn: ${grace.dn}\nchangetype: modify\ndelete: pwdAccountLockedTime\n`);
    await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.ok(await app.login.login({ username: grace.uid, password: grace.password }));
  });

  it('refuses a user an administrator disabled, even with a valid directory password, and sync keeps it disabled', async () => {
    const heidi = user(18);
    const session = await app.login.login({ username: heidi.uid, password: heidi.password });
    await app.accounts.disable(session.user.id, 'admin:test', 'left the project');
    assert.equal(await app.sessions.validate(session.token), undefined, 'disabling ends the sessions');
    await rejectsLogin(app.login.login({ username: heidi.uid, password: heidi.password }), 'disabled_in_dirbridge');
    await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal((await app.store.users.get(session.user.id))?.disabledBy, 'admin');
  });

  it('keeps directory-managed fields read-only and local fields editable', async () => {
    const ivan = user(19);
    const session = await app.login.login({ username: ivan.uid, password: ivan.password });
    await assert.rejects(
      app.accounts.updateProfile(session.user.id, { email: 'mine@example.org', notes: 'x' }, 'admin:test'),
      /email of .* is managed by the directory/,
    );
    await assert.rejects(
      app.accounts.updateProfile(session.user.id, { username: 'renamed' }, 'admin:test'),
      (error: Error & { code?: string }) => error.code === 'users.directory_managed',
    );
    const group = (await app.store.groups.listOfUser(session.user.id))[0];
    assert.ok(group);
    await assert.rejects(app.accounts.setMembership(session.user.id, group.id, false, 'admin:test'), /managed by the directory/);
    const updated = await app.accounts.updateProfile(session.user.id, { notes: 'on leave until May' }, 'admin:test');
    assert.equal(updated.notes, 'on leave until May');
  });

  it('logs out: the token stops working', async () => {
    const judy = user(20);
    const session = await app.login.login({ username: judy.uid, password: judy.password });
    assert.equal(await app.sessions.logout(session.token), true);
    assert.equal(await app.sessions.validate(session.token), undefined);
    assert.equal(await app.sessions.validate('not-a-token'), undefined);
  });

  it('throttles failures per username and per address', async () => {
    const throttled = await appWith({ login: { throttle: { maxFailures: 3, windowSeconds: 60, maxFailuresPerAddress: 3, knownAddressReserve: 0 } } });
    const kim = user(21);
    for (let attempt = 0; attempt < 3; attempt += 1)
      await rejectsLogin(throttled.login.login({ username: kim.uid, password: 'wrong', clientAddress: '198.51.100.7' }), 'wrong_password');
    await rejectsLogin(throttled.login.login({ username: kim.uid, password: kim.password, clientAddress: '203.0.113.9' }), 'throttled');
    const other = user(22);
    await rejectsLogin(throttled.login.login({ username: other.uid, password: other.password, clientAddress: '198.51.100.7' }), 'throttled');
    assert.ok(await throttled.login.login({ username: other.uid, password: other.password, clientAddress: '203.0.113.10' }));
  });

  it('keeps directory connections within the pool under 200 concurrent logins', async () => {
    const bounded = await appWith({ login: { bindPoolSize: 4 } });
    const people = organisation.users.filter((candidate) => !candidate.locked).slice(23, 43);
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, establishedTo(slapd.port));
    }, 2);
    const baseline = establishedTo(slapd.port);
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 200 }, (_, index) => {
          const person = people[index % people.length];
          assert.ok(person);
          return bounded.login.login({ username: person.uid, password: index % 2 === 0 ? person.password : 'wrong' });
        }),
      );
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 100);
    } finally {
      clearInterval(sampler);
    }
    // Four pooled bind connections plus the one lookup connection, over what the other apps hold.
    assert.ok(peak - baseline <= 5, `peak ${peak}, baseline ${baseline}`);
  });
});
