/**
 * Two-way sync against a real 389 Directory Server 2.3, through the write-back service the CLI and
 * the admin API call (the OpenLDAP file is the model): each change is made in dirbridge, then read
 * back from the server as Directory Manager, and the next sync neither echoes nor undoes it.
 * 389-DS's own: users are inetOrgPerson named by uid, an administrator's disable is nsAccountLock,
 * passwords are userPassword writes the server hashes and checks against its policy (switched on
 * here: 8 characters, syntax checks), and groupOfNames may be empty (no placeholder member).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { openDirectory } from '../src/directory/index.ts';
import { DirbridgeError } from '../src/errors.ts';
import { normalizeDn } from '../src/ldap/dn.ts';
import { type DirectorySettings, directorySettingsSchema } from '../src/settings/schema.ts';
import { type Dirsrv, dirsrvUnavailableReason, startDirsrv } from './fixtures/dirsrv.ts';
import { dirsrvTestDirectory } from './helpers/data-fit.ts';
import { settingsFor } from './helpers/harness.ts';
import { rejectsWithCode } from './helpers/rejects.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { assertConflictsSettledByAuthority, assertWriteWaitsWhileUnreachable } from './helpers/writeback.ts';

/** Passwords the policy takes: three character classes, 8+ characters, no token of the entry's values. */
const password = (n: number): string => `Zq!Vw-Kp#${String.fromCharCode(97 + n)}x`;

describe('write-back actions: 389-DS', { skip: skipUnlessCi(dirsrvUnavailableReason()) }, () => {
  let ds: Dirsrv;
  let writer: { dn: string; password: string };
  const cleanups: Array<() => Promise<void>> = [];
  const people = () => `ou=people,${ds.baseDn}`;
  const groupsDn = () => `ou=groups,${ds.baseDn}`;
  const sorted = (values: readonly string[] | undefined) => (values ?? []).map(normalizeDn).sort();
  const classes = (values: readonly string[] | undefined) => (values ?? []).map((value) => value.toLowerCase()).sort();

  before(async () => {
    ds = await startDirsrv({ ldif: dirsrvTestDirectory().ldif, memberOf: true });
    writer = await ds.addWriter();
    // The global password policy, as Directory Manager (which it does not bind): 8 characters and the syntax checks.
    await ds.ldapmodify(
      [
        'dn: cn=config',
        'changetype: modify',
        'replace: passwordCheckSyntax',
        'passwordCheckSyntax: on',
        '-',
        'replace: passwordMinLength',
        'passwordMinLength: 8',
        '-',
        '',
      ].join('\n'),
    );
    await ds.ldapadd(
      [
        `dn: uid=wa-bob,${people()}`,
        'objectClass: inetOrgPerson',
        'uid: wa-bob',
        'cn: Bob Stone',
        'sn: Stone',
        'givenName: Bob',
        'mail: bob@example.test',
        `userPassword: ${password(0)}`,
        '',
        `dn: uid=wa-carol,${people()}`,
        'objectClass: inetOrgPerson',
        'uid: wa-carol',
        'cn: Carol Reed',
        'sn: Reed',
        'givenName: Carol',
        'mail: carol@example.test',
        '',
        `dn: uid=wa-erin,${people()}`,
        'objectClass: inetOrgPerson',
        'uid: wa-erin',
        'cn: Erin Moss',
        'sn: Moss',
        'givenName: Erin',
        '',
        `dn: cn=wa-team,${groupsDn()}`,
        'objectClass: groupOfNames',
        'cn: wa-team',
        `member: uid=wa-carol,${people()}`,
        `member: uid=wa-erin,${people()}`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await ds?.stop();
  });

  function directorySettings(bindDn: string, bindPassword: string): DirectorySettings {
    return directorySettingsSchema.parse({
      urls: [ds.ldapsUrl],
      tls: { caFile: ds.caFile, serverName: ds.tlsServerName },
      bindDn,
      bindPassword,
      connectTimeoutMs: 2_000,
      operationTimeoutMs: 5_000,
    });
  }

  /** An app in writable mode, bound as the writer, over a fresh store, synced once. */
  async function writableApp(writeBack: Record<string, unknown> = {}): Promise<App> {
    const made = await settingsFor({
      directory: { urls: [ds.ldapsUrl], tls: { caFile: ds.caFile, serverName: ds.tlsServerName }, bindDn: writer.dn, bindPassword: writer.password },
      // The dataset's entries without a uid are left out, so a dry run lists only what write-back caused.
      users: { baseDn: people(), filter: '(&(objectClass=inetOrgPerson)(uid=*))', usernameAttribute: ['uid'] },
      groups: { baseDn: groupsDn(), memberAttribute: ['member'] },
      sync: { guard: { maxDisable: { count: 10, percent: 100 } } },
      login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
      writeBack: { enabled: true, mode: 'writable', usersDn: people(), groupsDn: groupsDn(), passwords: true, ...writeBack },
    });
    const app = await openApp(made.settings);
    cleanups.push(made.cleanup, () => app.close());
    const synced = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(synced.status, 'succeeded', synced.reason ?? '');
    return app;
  }

  /** An attribute's values as Directory Manager reads them; undefined when the entry is gone. */
  async function read(dn: string, attribute: string): Promise<string[] | undefined> {
    await using directory = await openDirectory(directorySettings(ds.adminDn, ds.adminPassword));
    try {
      const [entry] = await directory.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: [attribute], maxEntries: 1 });
      // 389-DS answers a paged base search of a missing entry with no entries rather than noSuchObject.
      if (entry === undefined) return undefined;
      return (entry.attributes[attribute.toLowerCase()] ?? []).map(String);
    } catch (error) {
      if (error instanceof DirbridgeError && error.code === 'directory.no_such_object') return undefined;
      throw error;
    }
  }

  async function binds(dn: string, secret: string): Promise<boolean> {
    try {
      await using directory = await openDirectory(directorySettings(dn, secret));
      return directory.url !== '';
    } catch {
      return false;
    }
  }

  /** The steps a sync would make now, as "kind reason" lines (a dry run). */
  async function syncPlan(app: App): Promise<string[]> {
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    return (result.steps ?? []).filter((step) => step.kind !== 'markPresent').map((step) => `${step.kind} ${step.reason}`);
  }

  it('creates an inetOrgPerson by uid with a password, which logs in as the same account; the next sync has nothing to change', async () => {
    const app = await writableApp();
    const created = await app.writeBack.users.create(
      { username: 'wa-dana', email: 'dana@example.test', firstName: 'Dana', lastName: 'Hill', groups: ['wa-team'], password: password(1) },
      { actor: 'admin:test' },
    );
    assert.equal(created.outcome, 'written', created.message);
    const dn = `uid=wa-dana,${people()}`;
    const userClasses = classes(await read(dn, 'objectClass'));
    for (const name of ['inetorgperson', 'organizationalperson', 'person', 'top'])
      assert.ok(userClasses.includes(name), `${name} in ${userClasses.join(', ')}`);
    assert.deepEqual(await read(dn, 'uid'), ['wa-dana']);
    assert.deepEqual(await read(dn, 'mail'), ['dana@example.test']);
    assert.deepEqual(await read(dn, 'sn'), ['Hill']);
    assert.deepEqual(await read(dn, 'givenName'), ['Dana']);
    assert.match((await read(dn, 'userPassword'))?.[0] ?? '', /^\{[A-Z0-9-]+\}/, 'the server stored the password hashed');
    assert.deepEqual(
      sorted(await read(`cn=wa-team,${groupsDn()}`, 'member')),
      sorted([dn, `uid=wa-carol,${people()}`, `uid=wa-erin,${people()}`]),
      'one value added; the other members untouched',
    );
    assert.equal(await binds(dn, password(1)), true);
    const login = await app.login.login({ username: 'wa-dana', password: password(1), via: 'cli' });
    assert.equal(login.isNewUser, false, 'the account write-back created is the one that logs in');
    assert.equal(login.user.id, created.user?.id);
    assert.notEqual(login.user.externalId, null, 'linked to its entry');
    assert.deepEqual(await syncPlan(app), [], 'the next sync has nothing to change');
    assert.equal((await app.store.users.list({ search: 'wa-dana', limit: 10, offset: 0 })).total, 1, 'no duplicate');
  });

  it('updates attributes with the least change, and the next sync does not echo them', async () => {
    const app = await writableApp();
    const dn = `uid=wa-bob,${people()}`;
    const result = await app.writeBack.users.update('wa-bob', { email: 'bob@new.example', displayName: 'Bobby' }, { actor: 'admin:test' });
    assert.equal(result.outcome, 'written', result.message);
    assert.equal(result.steps.length, 1, 'one modify');
    assert.deepEqual(await read(dn, 'mail'), ['bob@new.example']);
    assert.deepEqual(await read(dn, 'displayName'), ['Bobby']);
    assert.deepEqual(await read(dn, 'cn'), ['Bob Stone'], 'unwritten attributes untouched');
    assert.deepEqual(await read(dn, 'givenName'), ['Bob']);
    assert.equal(await binds(dn, password(0)), true, 'the password untouched');
    assert.equal(result.user?.email, 'bob@new.example');
    assert.deepEqual(await syncPlan(app), [], 'no echo');
  });

  it('renames a user (modify DN of its uid); the group that lists it follows its DN; the next sync keeps the account', async () => {
    const app = await writableApp();
    const before = await app.store.users.findByUsername('wa-carol');
    const renamed = await app.writeBack.users.rename('wa-carol', 'wa-caroline', { actor: 'admin:test' });
    assert.equal(renamed.outcome, 'written', renamed.message);
    const newDn = `uid=wa-caroline,${people()}`;
    assert.equal(await read(`uid=wa-carol,${people()}`, 'uid'), undefined, 'the old DN is gone');
    assert.deepEqual(await read(newDn, 'uid'), ['wa-caroline'], 'the old RDN value is not kept');
    assert.deepEqual(await read(newDn, 'sn'), ['Reed']);
    const members = sorted(await read(`cn=wa-team,${groupsDn()}`, 'member'));
    assert.ok(members.includes(normalizeDn(newDn)), 'the group lists the new DN');
    assert.equal(members.includes(normalizeDn(`uid=wa-carol,${people()}`)), false, 'and no longer the old one');
    assert.ok(members.includes(normalizeDn(`uid=wa-erin,${people()}`)), 'the other member kept');
    assert.equal(renamed.user?.dn, newDn);
    assert.equal(renamed.user?.id, before?.id);
    assert.deepEqual(await syncPlan(app), [], 'no echo');
    const back = await app.writeBack.users.rename('wa-caroline', 'wa-carol', { actor: 'admin:test' });
    assert.equal(back.outcome, 'written', back.message);
  });

  it('disables and enables the directory account by nsAccountLock; a disabled account cannot bind', async () => {
    const app = await writableApp();
    const dn = `uid=wa-bob,${people()}`;
    const disabled = await app.writeBack.users.setEnabled('wa-bob', false, { actor: 'admin:test' });
    assert.equal(disabled.outcome, 'written', disabled.message);
    assert.deepEqual(
      (await read(dn, 'nsAccountLock'))?.map((value) => value.toUpperCase()),
      ['TRUE'],
    );
    assert.equal(disabled.user?.isEnabled, false);
    assert.equal(await binds(dn, password(0)), false, '389-DS refuses the inactivated account');
    assert.deepEqual(await syncPlan(app), [], 'the next sync keeps it disabled without another step');
    const enabled = await app.writeBack.users.setEnabled('wa-bob', true, { actor: 'admin:test' });
    assert.equal(enabled.outcome, 'written', enabled.message);
    assert.deepEqual(await read(dn, 'nsAccountLock'), []);
    assert.deepEqual(await read(dn, 'uid'), ['wa-bob'], 'never deleted');
    assert.equal(enabled.user?.isEnabled, true);
    assert.equal(await binds(dn, password(0)), true);
    assert.deepEqual(await syncPlan(app), []);
  });

  it('deletes under each policy: disable, keep and delete', async () => {
    for (const policy of ['disable', 'keep', 'delete'] as const) {
      const name = `wa-del-${policy}`;
      const dn = `uid=${name},${people()}`;
      await ds.ldapadd([`dn: ${dn}`, 'objectClass: inetOrgPerson', `uid: ${name}`, `cn: ${name}`, 'sn: Del', ''].join('\n'));
      await ds.ldapmodify([`dn: cn=wa-team,${groupsDn()}`, 'changetype: modify', 'add: member', `member: ${dn}`, ''].join('\n'));
      const app = await writableApp({ deletion: { users: policy } });
      const result = await app.writeBack.users.delete(name, { actor: 'admin:test' });
      assert.notEqual(result.outcome, 'failed', result.message);
      if (policy === 'delete') {
        assert.equal(await read(dn, 'uid'), undefined, 'deleted');
        const members = sorted(await read(`cn=wa-team,${groupsDn()}`, 'member'));
        assert.equal(members.includes(normalizeDn(dn)), false, 'and taken out of its group');
        assert.equal(members.includes(normalizeDn(`uid=wa-erin,${people()}`)), true, 'the other members kept');
        assert.equal(await app.store.users.findByUsername(name), undefined);
      } else {
        assert.deepEqual(await read(dn, 'uid'), [name], `${policy}: the entry stays`);
        assert.deepEqual(
          (await read(dn, 'nsAccountLock'))?.map((value) => value.toUpperCase()),
          policy === 'disable' ? ['TRUE'] : [],
        );
        assert.equal((await app.store.users.findByUsername(name))?.isEnabled, false, 'dirbridge keeps the account, disabled');
      }
      assert.deepEqual(await syncPlan(app), [], `${policy}: no echo`);
    }
  });

  it('creates a groupOfNames with no member (no placeholder), adds and removes members one value at a time, keeps it empty; renames and deletes it', async () => {
    const app = await writableApp({ deletion: { groups: 'delete' } });
    const created = await app.writeBack.groups.create('wa-new', { actor: 'admin:test' });
    assert.equal(created.outcome, 'written', created.message);
    const dn = `cn=wa-new,${groupsDn()}`;
    assert.deepEqual(classes(await read(dn, 'objectClass')), ['groupofnames', 'top']);
    assert.deepEqual(await read(dn, 'member'), [], 'member is optional on 389-DS: no placeholder');
    for (const name of ['wa-bob', 'wa-erin']) {
      const added = await app.writeBack.groups.setMember('wa-new', name, true, { actor: 'admin:test' });
      assert.equal(added.outcome, 'written', added.message);
    }
    assert.deepEqual(sorted(await read(dn, 'member')), sorted([`uid=wa-bob,${people()}`, `uid=wa-erin,${people()}`]));
    assert.deepEqual((await read(`uid=wa-bob,${people()}`, 'memberOf'))?.map(normalizeDn).includes(normalizeDn(dn)), true, 'the memberOf plugin saw the write');
    const removed = await app.writeBack.groups.setMember('wa-new', 'wa-bob', false, { actor: 'admin:test' });
    assert.equal(removed.outcome, 'written', removed.message);
    assert.deepEqual(sorted(await read(dn, 'member')), sorted([`uid=wa-erin,${people()}`]), 'one value deleted; the other member untouched');
    const last = await app.writeBack.groups.setMember('wa-new', 'wa-erin', false, { actor: 'admin:test' });
    assert.equal(last.outcome, 'written', last.message);
    assert.deepEqual(await read(dn, 'member'), [], 'the last member leaves; the group is kept, empty');
    const linked = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.deepEqual(
      linked.steps.filter((step) => step.kind !== 'markPresent').map((step) => step.kind),
      ['updateGroup'],
      'the next sync only links the new group to its entry',
    );
    assert.deepEqual(await syncPlan(app), [], 'no echo');
    assert.equal((await app.store.groups.list({ search: 'wa-new', limit: 10, offset: 0 })).total, 1, 'no duplicate');

    const renamed = await app.writeBack.groups.rename('wa-new', 'wa-renamed', { actor: 'admin:test' });
    assert.equal(renamed.outcome, 'written', renamed.message);
    assert.equal(await read(dn, 'cn'), undefined, 'the old DN is gone');
    assert.deepEqual(await read(`cn=wa-renamed,${groupsDn()}`, 'cn'), ['wa-renamed'], 'the old RDN value is not kept');
    assert.deepEqual(await syncPlan(app), [], 'no echo of the rename');
    const deleted = await app.writeBack.groups.delete('wa-renamed', { actor: 'admin:test' });
    assert.equal(deleted.outcome, 'written', deleted.message);
    assert.equal(await read(`cn=wa-renamed,${groupsDn()}`, 'cn'), undefined, 'deleted under writeBack.deletion.groups delete');
    assert.equal((await app.store.groups.list({ search: 'wa-renamed', limit: 10, offset: 0 })).total, 0);
    assert.deepEqual(await syncPlan(app), [], 'no echo of the delete');
  });

  it('resets a password (userPassword) and the user changes their own: the new one binds, the old does not; a password the policy refuses names the rule', async () => {
    const app = await writableApp();
    const dn = `uid=wa-bob,${people()}`;
    const short = await rejectsWithCode(app.writeBack.users.setPassword('wa-bob', 'Zq!1', { actor: 'admin:test' }), 'directory.password_policy');
    assert.equal(short.details['reason'], 'passwordTooShort', short.message);
    assert.match(short.message, /too short.*at least 8 characters/);
    assert.equal(short.message.includes('Zq!1'), false, 'the password is not in the error');
    assert.equal(await binds(dn, password(0)), true, 'a refused reset changes nothing');
    const reset = await app.writeBack.users.setPassword('wa-bob', password(2), { actor: 'admin:test' });
    assert.equal(reset.outcome, 'written', reset.message);
    assert.equal(await binds(dn, password(2)), true);
    assert.equal(await binds(dn, password(0)), false);
    const bob = await app.store.users.findByUsername('wa-bob');
    assert.ok(bob);
    const ownShort = await rejectsWithCode(
      app.writeBack.users.changeOwnPassword(bob, { oldPassword: password(2), newPassword: 'Zq!2' }),
      'directory.password_policy',
    );
    assert.equal(ownShort.details['reason'], 'passwordTooShort', ownShort.message);
    await app.writeBack.users.changeOwnPassword(bob, { oldPassword: password(2), newPassword: password(3) });
    assert.equal(await binds(dn, password(3)), true);
    assert.equal(await binds(dn, password(2)), false);
    await rejectsWithCode(app.writeBack.users.changeOwnPassword(bob, { oldPassword: password(9), newPassword: password(4) }), 'auth.invalid_credentials');
    assert.equal((await app.login.login({ username: 'wa-bob', password: password(3), via: 'cli' })).user.id, bob.id);
    assert.deepEqual(await syncPlan(app), [], 'no echo');
    // Back to the password the other tests bind with (Directory Manager is not held to the policy).
    await ds.ldapmodify([`dn: ${dn}`, 'changetype: modify', 'replace: userPassword', `userPassword: ${password(0)}`, ''].join('\n'));
  });

  it('settles a conflict by the authority: the directory keeps its value, or dirbridge writes its own; both are recorded; no echo', async () => {
    const dn = `uid=wa-bob,${people()}`;
    const setInDirectory = (value: string) => ds.ldapmodify([`dn: ${dn}`, 'changetype: modify', 'replace: givenName', `givenName: ${value}`, ''].join('\n'));
    await assertConflictsSettledByAuthority({ appWith: writableApp, username: 'wa-bob', dn, setInDirectory, read, syncPlan });
  });

  it('keeps a change made while the server is down pending with its error, and writes it once it is back', async () => {
    const app = await writableApp();
    await assertWriteWaitsWhileUnreachable(app, {
      username: 'wa-bob',
      dn: `uid=wa-bob,${people()}`,
      cutOff: () => ds.kill('SIGSTOP'),
      restore: () => ds.kill('SIGCONT'),
      read,
      syncPlan: () => syncPlan(app),
    });
  });
});
