/**
 * Two-way sync against a real Samba AD DC over LDAPS, through the write-back service the CLI and
 * the admin API call (the OpenLDAP file is the model): each change is made in dirbridge, then read
 * back from the DC as Administrator, and the next sync neither echoes nor undoes it. AD's own:
 * users are named by cn with sAMAccountName and userPrincipalName following the username, a new
 * account is enabled (userAccountControl 512) only once its password is set, a disable is bit 2
 * of userAccountControl with the other bits kept, passwords are unicodePwd (an administrator's
 * replace, a user's delete-old/add-new) checked by the domain's policy, AD keeps linked member
 * values itself and empty groups need no placeholder. One DC for the file (the Samba lock makes
 * these files run one at a time), so few tests, each checking several things.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { openDirectory } from '../src/directory/index.ts';
import { DirbridgeError } from '../src/errors.ts';
import { normalizeDn } from '../src/ldap/dn.ts';
import { type DirectorySettings, directorySettingsSchema } from '../src/settings/schema.ts';
import { AD_UPN_SUFFIX, adGroupDn, adUser, type SambaDc, sambaUnavailableReason, startSambaDc } from './fixtures/samba.ts';
import { adSettingsDocument, merge, settingsFor } from './helpers/harness.ts';
import { rejectsWithCode } from './helpers/rejects.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { startTcpGate } from './helpers/tcp-gate.ts';
import { assertConflictsSettledByAuthority, assertWriteWaitsWhileUnreachable } from './helpers/writeback.ts';

/** Passwords the domain's policy takes: upper and lower case, digits or symbols, no part of the account's name. */
const password = (n: number): string => `Zq!Vw-Kp#${String.fromCharCode(97 + n)}x`;
/** userAccountControl: NORMAL_ACCOUNT, ACCOUNTDISABLE, DONT_EXPIRE_PASSWORD (standing for "another bit someone set"). */
const NORMAL = 0x200;
const DISABLED = 0x2;
const DONT_EXPIRE = 0x10000;

describe('write-back actions: Active Directory (Samba)', { skip: skipUnlessCi(sambaUnavailableReason()) }, () => {
  let dc: SambaDc;
  let writer: { dn: string; password: string };
  const cleanups: Array<() => Promise<void>> = [];
  const people = () => dc.ous.people;
  const sorted = (values: readonly string[] | undefined) => (values ?? []).map(normalizeDn).sort();

  before(async () => {
    dc = await startSambaDc();
    writer = await dc.addWriter();
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await dc?.stop();
  });

  function directorySettings(bindDn: string, bindPassword: string): DirectorySettings {
    return directorySettingsSchema.parse({
      urls: [dc.ldapsUrl],
      tls: { caFile: dc.caFile },
      bindDn,
      bindPassword,
      connectTimeoutMs: 2_000,
      operationTimeoutMs: 10_000,
    });
  }

  /** An app in writable mode, bound as the writer (Domain Admins) over LDAPS, over a fresh store, synced once. */
  async function writableApp(writeBack: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}): Promise<App> {
    const made = await settingsFor(
      merge(merge(adSettingsDocument(dc, writer), overrides), {
        sync: { guard: { maxDisable: { count: 10, percent: 100 } } },
        login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
        writeBack: { enabled: true, mode: 'writable', usersDn: people(), groupsDn: dc.ous.groups, passwords: true, ...writeBack },
      }),
    );
    const app = await openApp(made.settings);
    cleanups.push(made.cleanup, () => app.close());
    const synced = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(synced.status, 'succeeded', synced.reason ?? '');
    return app;
  }

  /** An attribute's values as Administrator reads them; undefined when the entry is gone. */
  async function read(dn: string, attribute: string): Promise<string[] | undefined> {
    await using directory = await openDirectory(directorySettings(dc.adminDn, dc.adminPassword));
    try {
      const [entry] = await directory.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: [attribute], maxEntries: 1 });
      if (entry === undefined) return undefined;
      return (entry.attributes[attribute.toLowerCase()] ?? []).map(String);
    } catch (error) {
      if (error instanceof DirbridgeError && error.code === 'directory.no_such_object') return undefined;
      throw error;
    }
  }

  const uac = async (dn: string): Promise<number> => Number((await read(dn, 'userAccountControl'))?.[0]);

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

  it('creates a user with a password (sAMAccountName, userPrincipalName, enabled once the password is set) that logs in as the same account, then renames it (cn, sAMAccountName and userPrincipalName follow) and moves it', async () => {
    const app = await writableApp();
    const backend = adGroupDn('Backend');
    const backendBefore = sorted(await read(backend, 'member'));
    const created = await app.writeBack.users.create(
      { username: 'wa-dana', email: 'dana@example.test', firstName: 'Dana', lastName: 'Hill', groups: ['Backend'], password: password(1) },
      { actor: 'admin:test' },
    );
    assert.equal(created.outcome, 'written', created.message);
    assert.deepEqual(
      created.steps.map((step) => `${step.kind} ${step.status}`),
      ['createUser done', 'addMember done', 'setPassword done', 'enableUser done'],
    );
    const dn = `CN=wa-dana,${people()}`;
    assert.deepEqual(await read(dn, 'sAMAccountName'), ['wa-dana']);
    assert.deepEqual(await read(dn, 'userPrincipalName'), [`wa-dana@${AD_UPN_SUFFIX}`]);
    assert.equal(await uac(dn), NORMAL, 'a normal account, enabled once its password is set');
    assert.deepEqual(await read(dn, 'mail'), ['dana@example.test']);
    assert.deepEqual(await read(dn, 'givenName'), ['Dana']);
    assert.deepEqual(await read(dn, 'sn'), ['Hill']);
    assert.deepEqual(sorted(await read(backend, 'member')), [...backendBefore, normalizeDn(dn)].sort(), 'one value added; the other members untouched');
    assert.equal(await binds(dn, password(1)), true);
    const login = await app.login.login({ username: 'wa-dana', password: password(1), via: 'cli' });
    assert.equal(login.isNewUser, false, 'the account write-back created is the one that logs in');
    assert.equal(login.user.id, created.user?.id);
    assert.notEqual(login.user.externalId, null, 'linked to its entry');
    assert.deepEqual(await syncPlan(app), [], 'the next sync has nothing to change');
    assert.equal((await app.store.users.list({ search: 'wa-dana', limit: 10, offset: 0 })).total, 1, 'no duplicate');

    const renamed = await app.writeBack.users.rename('wa-dana', 'wa-dane', { actor: 'admin:test' });
    assert.equal(renamed.outcome, 'written', renamed.message);
    const newDn = `CN=wa-dane,${people()}`;
    assert.equal(await read(dn, 'cn'), undefined, 'the old DN is gone');
    assert.deepEqual(await read(newDn, 'cn'), ['wa-dane'], 'the entry was renamed (modify DN)');
    assert.deepEqual(await read(newDn, 'sAMAccountName'), ['wa-dane']);
    assert.deepEqual(await read(newDn, 'userPrincipalName'), [`wa-dane@${AD_UPN_SUFFIX}`]);
    assert.equal(await uac(newDn), NORMAL);
    assert.ok(sorted(await read(backend, 'member')).includes(normalizeDn(newDn)), "AD keeps the group's linked value on the renamed entry");
    assert.equal(normalizeDn(renamed.user?.dn ?? ''), normalizeDn(newDn));
    assert.equal(
      (await app.login.login({ username: 'wa-dane', password: password(1), via: 'cli' })).user.id,
      created.user?.id,
      'the new name logs in as the same account',
    );
    assert.deepEqual(await syncPlan(app), [], 'no echo of the rename');

    // A move under another OU: AD keeps the group's linked value on the moved entry.
    const moved = await app.writeBack.users.move('wa-dane', dc.ous.staff, { actor: 'admin:test' });
    assert.equal(moved.outcome, 'written', moved.message);
    const movedDn = `CN=wa-dane,${dc.ous.staff}`;
    assert.equal(await read(newDn, 'cn'), undefined);
    assert.deepEqual(await read(movedDn, 'sAMAccountName'), ['wa-dane']);
    assert.ok(sorted(await read(backend, 'member')).includes(normalizeDn(movedDn)));
    assert.deepEqual(await syncPlan(app), [], 'no echo of the move');

    // A user whose cn is not the username keeps its DN: only sAMAccountName and userPrincipalName follow.
    const erin = adUser('erin');
    const erinRenamed = await app.writeBack.users.rename('erin', 'erin.e', { actor: 'admin:test' });
    assert.equal(erinRenamed.outcome, 'written', erinRenamed.message);
    assert.deepEqual(await read(erin.dn, 'cn'), ['Erin Evans'], 'no modify DN');
    assert.deepEqual(await read(erin.dn, 'sAMAccountName'), ['erin.e']);
    assert.deepEqual(await read(erin.dn, 'userPrincipalName'), [`erin.e@${AD_UPN_SUFFIX}`]);
    assert.deepEqual(await syncPlan(app), [], 'no echo');
    assert.equal((await app.writeBack.users.rename('erin.e', 'erin', { actor: 'admin:test' })).outcome, 'written');
  });

  it('updates attributes with the least change; disables and enables by bit 2 of userAccountControl with the other bits kept', async () => {
    const bob = adUser('bob');
    await dc.adModify(`dn: ${bob.dn}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: ${NORMAL | DONT_EXPIRE}\n-\n`);
    const app = await writableApp();
    const updated = await app.writeBack.users.update('bob', { email: 'bob@new.example', displayName: 'Bobby' }, { actor: 'admin:test' });
    assert.equal(updated.outcome, 'written', updated.message);
    assert.equal(updated.steps.length, 1, 'one modify');
    assert.deepEqual(await read(bob.dn, 'mail'), ['bob@new.example']);
    assert.deepEqual(await read(bob.dn, 'displayName'), ['Bobby']);
    assert.deepEqual(await read(bob.dn, 'cn'), ['Bob Brown'], 'unwritten attributes untouched');
    assert.deepEqual(await read(bob.dn, 'givenName'), ['Bob']);
    assert.deepEqual(await read(bob.dn, 'department'), ['Engineering']);
    assert.deepEqual(await read(bob.dn, 'sAMAccountName'), ['bob']);
    assert.equal(updated.user?.email, 'bob@new.example');
    assert.deepEqual(await syncPlan(app), [], 'no echo of the update');

    const disabled = await app.writeBack.users.setEnabled('bob', false, { actor: 'admin:test' });
    assert.equal(disabled.outcome, 'written', disabled.message);
    assert.equal(await uac(bob.dn), NORMAL | DONT_EXPIRE | DISABLED, 'bit 2 set, the others kept');
    assert.equal(disabled.user?.isEnabled, false);
    assert.equal(await binds(bob.dn, bob.password ?? ''), false, 'a disabled account cannot bind');
    assert.deepEqual(await syncPlan(app), [], 'no echo of the disable');
    const enabled = await app.writeBack.users.setEnabled('bob', true, { actor: 'admin:test' });
    assert.equal(enabled.outcome, 'written', enabled.message);
    assert.equal(await uac(bob.dn), NORMAL | DONT_EXPIRE, 'bit 2 cleared, the others kept');
    assert.equal(enabled.user?.isEnabled, true);
    assert.equal(await binds(bob.dn, bob.password ?? ''), true);
    assert.deepEqual(await syncPlan(app), [], 'no echo of the enable');
  });

  it('deletes under the disable and delete policies: the account disabled, or the entry deleted and out of its group (AD removes the linked value)', async () => {
    const [kept, gone] = await dc.adAddUsers([
      { sAMAccountName: 'wa-del-disable', cn: 'wa-del-disable', password: password(2) },
      { sAMAccountName: 'wa-del-delete', cn: 'wa-del-delete', password: password(3) },
    ]);
    assert.ok(kept && gone);
    const group = await dc.createGroup('wa-del-group', [kept.dn, gone.dn, adUser('carol').dn]);
    for (const [policy, user] of [
      ['disable', kept],
      ['delete', gone],
    ] as const) {
      const app = await writableApp({ deletion: { users: policy } });
      const result = await app.writeBack.users.delete(user.sAMAccountName, { actor: 'admin:test' });
      assert.equal(result.outcome, 'written', result.message);
      if (policy === 'delete') {
        assert.equal(await read(user.dn, 'cn'), undefined, 'deleted');
        assert.equal(await app.store.users.findByUsername(user.sAMAccountName), undefined);
      } else {
        assert.deepEqual(await read(user.dn, 'sAMAccountName'), [user.sAMAccountName], 'the entry stays');
        assert.equal(await uac(user.dn), NORMAL | DISABLED, 'disabled in AD');
        assert.equal((await app.store.users.findByUsername(user.sAMAccountName))?.isEnabled, false, 'dirbridge keeps the account, disabled');
      }
      assert.deepEqual(await syncPlan(app), [], `${policy}: no echo`);
    }
    assert.deepEqual(sorted(await read(group.dn, 'member')), sorted([kept.dn, adUser('carol').dn]), 'the deleted user left its group; the others stay');
  });

  it('creates a group (no placeholder: AD keeps empty groups), adds and removes members one value at a time with the other members untouched; renames and deletes it', async () => {
    const app = await writableApp({ deletion: { groups: 'delete' } });
    const created = await app.writeBack.groups.create('wa-new', { actor: 'admin:test' });
    assert.equal(created.outcome, 'written', created.message);
    const dn = adGroupDn('wa-new');
    assert.deepEqual(await read(dn, 'sAMAccountName'), ['wa-new']);
    assert.ok((await read(dn, 'objectClass'))?.map((name) => name.toLowerCase()).includes('group'));
    assert.deepEqual(await read(dn, 'member'), [], 'created empty');
    for (const name of ['alice', 'erin']) {
      const added = await app.writeBack.groups.setMember('wa-new', name, true, { actor: 'admin:test' });
      assert.equal(added.outcome, 'written', added.message);
    }
    assert.deepEqual(sorted(await read(dn, 'member')), sorted([adUser('alice').dn, adUser('erin').dn]));
    const removed = await app.writeBack.groups.setMember('wa-new', 'alice', false, { actor: 'admin:test' });
    assert.equal(removed.outcome, 'written', removed.message);
    assert.deepEqual(sorted(await read(dn, 'member')), sorted([adUser('erin').dn]), 'one value deleted; the other member untouched');
    const last = await app.writeBack.groups.setMember('wa-new', 'erin', false, { actor: 'admin:test' });
    assert.equal(last.outcome, 'written', last.message);
    assert.deepEqual(await read(dn, 'member'), [], 'the last member leaves; the group is kept, empty');

    // A group named with a comma, whose other members stay as they are.
    const sales = adGroupDn('Sales, EMEA');
    const salesBefore = sorted(await read(sales, 'member'));
    assert.equal((await app.writeBack.groups.setMember('Sales, EMEA', 'alice', true, { actor: 'admin:test' })).outcome, 'written');
    assert.deepEqual(sorted(await read(sales, 'member')), [...salesBefore, normalizeDn(adUser('alice').dn)].sort());
    assert.equal((await app.writeBack.groups.setMember('Sales, EMEA', 'alice', false, { actor: 'admin:test' })).outcome, 'written');
    assert.deepEqual(sorted(await read(sales, 'member')), salesBefore);

    const linked = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.deepEqual(
      linked.steps.filter((step) => step.kind !== 'markPresent').map((step) => step.kind),
      ['updateGroup'],
      'the next sync only links the new group to its entry',
    );
    assert.deepEqual(await syncPlan(app), [], 'no echo');
    assert.equal((await app.store.groups.list({ search: 'wa-new', limit: 10, offset: 0 })).total, 1, 'no duplicate');

    // A rename moves the cn and the sAMAccountName that followed it, so the old name is free again.
    const renamed = await app.writeBack.groups.rename('wa-new', 'wa-renamed', { actor: 'admin:test' });
    assert.equal(renamed.outcome, 'written', renamed.message);
    assert.equal(await read(dn, 'cn'), undefined, 'the old DN is gone');
    assert.deepEqual(await read(adGroupDn('wa-renamed'), 'sAMAccountName'), ['wa-renamed']);
    assert.deepEqual(await syncPlan(app), [], 'no echo of the rename');
    const again = await app.writeBack.groups.create('wa-new', { actor: 'admin:test' });
    assert.equal(again.outcome, 'written', again.message);
    const deleted = await app.writeBack.groups.delete('wa-renamed', { actor: 'admin:test' });
    assert.equal(deleted.outcome, 'written', deleted.message);
    assert.equal(await read(adGroupDn('wa-renamed'), 'cn'), undefined, 'deleted under writeBack.deletion.groups delete');
    assert.equal((await app.store.groups.list({ search: 'wa-renamed', limit: 10, offset: 0 })).total, 0);
    // A name sAMAccountName cannot hold is refused before anything changes, naming the rule.
    const refused = await rejectsWithCode(app.writeBack.groups.create('wa, refused', { actor: 'admin:test' }), 'writeback.invalid');
    assert.match(refused.message, /sAMAccountName refuses/);
    assert.equal((await app.store.groups.list({ search: 'wa, refused', limit: 10, offset: 0 })).total, 0, 'nothing saved in dirbridge');
    assert.equal(await read(adGroupDn('wa, refused'), 'cn'), undefined, 'nothing written to AD');
  });

  it('resets a password (replace unicodePwd) and the user changes their own (delete old, add new): the new one binds, the old does not; a password the domain refuses names the rule', async () => {
    const app = await writableApp();
    const judy = adUser('judy');
    const initial = judy.password ?? '';
    const short = await rejectsWithCode(app.writeBack.users.setPassword('judy', 'Zq!1', { actor: 'admin:test' }), 'directory.password_policy');
    assert.equal(short.details['reason'], 'passwordTooShort', short.message);
    assert.match(short.message, /too short/);
    const simple = await rejectsWithCode(app.writeBack.users.setPassword('judy', 'abcdefghijkl', { actor: 'admin:test' }), 'directory.password_policy');
    assert.equal(simple.details['reason'], 'insufficientPasswordQuality', simple.message);
    assert.match(simple.message, /complexity/);
    for (const error of [short, simple])
      assert.equal(/Zq!1|abcdefghijkl/.test(error.message + JSON.stringify(error.details)), false, 'the password is not in the error');
    assert.equal(await binds(judy.dn, initial), true, 'a refused reset changes nothing');

    const reset = await app.writeBack.users.setPassword('judy', password(4), { actor: 'admin:test' });
    assert.equal(reset.outcome, 'written', reset.message);
    assert.equal(await binds(judy.dn, password(4)), true);
    assert.equal(await binds(judy.dn, initial), false);

    const user = await app.store.users.findByUsername('judy');
    assert.ok(user);
    const ownShort = await rejectsWithCode(
      app.writeBack.users.changeOwnPassword(user, { oldPassword: password(4), newPassword: 'Zq!2' }),
      'directory.password_policy',
    );
    assert.equal(ownShort.details['reason'], 'passwordTooShort', ownShort.message);
    await rejectsWithCode(app.writeBack.users.changeOwnPassword(user, { oldPassword: password(9), newPassword: password(5) }), 'auth.invalid_credentials');
    await app.writeBack.users.changeOwnPassword(user, { oldPassword: password(4), newPassword: password(5) });
    assert.equal(await binds(judy.dn, password(5)), true);
    assert.equal(await binds(judy.dn, password(4)), false);
    assert.equal((await app.login.login({ username: 'judy', password: password(5), via: 'cli' })).user.id, user.id);
    assert.deepEqual(await syncPlan(app), [], 'no echo');

    // A new user whose password the domain refuses, and one created without: AD keeps each disabled, and so does dirbridge.
    const refused = await app.writeBack.users.create(
      { username: 'wa-badpw', firstName: 'Bad', lastName: 'Password', password: 'Zq!3' },
      { actor: 'admin:test' },
    );
    assert.equal(refused.outcome, 'failed', refused.message);
    assert.equal(refused.steps.find((step) => step.kind === 'setPassword')?.error?.code, 'directory.password_policy');
    assert.equal(refused.steps.find((step) => step.kind === 'createUser')?.status, 'done', 'the entry exists; only the password was refused');
    const none = await app.writeBack.users.create({ username: 'wa-nopw', firstName: 'No', lastName: 'Password' }, { actor: 'admin:test' });
    assert.equal(none.outcome, 'written', none.message);
    for (const name of ['wa-badpw', 'wa-nopw']) {
      assert.equal(await uac(`CN=${name},${people()}`), NORMAL | DISABLED, `${name}: disabled in AD until a password is set`);
      const record = await app.store.users.findByUsername(name);
      assert.equal(record?.isEnabled, false, `${name}: disabled in dirbridge too`);
      assert.equal(record?.disabledBy, 'directory');
    }
    const linked = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.deepEqual(
      linked.steps
        .filter((step) => step.kind !== 'markPresent')
        .map((step) => step.kind)
        .sort(),
      ['linkUser', 'linkUser'],
      'the next sync only links the two entries',
    );
    assert.deepEqual(await syncPlan(app), [], 'no echo');
    // Once it has a password, an administrator enables it.
    assert.equal((await app.writeBack.users.setPassword('wa-nopw', password(6), { actor: 'admin:test' })).outcome, 'written');
    assert.equal((await app.writeBack.users.setEnabled('wa-nopw', true, { actor: 'admin:test' })).outcome, 'written');
    assert.equal(await uac(`CN=wa-nopw,${people()}`), NORMAL);
    assert.equal((await app.login.login({ username: 'wa-nopw', password: password(6), via: 'cli' })).user.id, none.user?.id);
    assert.deepEqual(await syncPlan(app), [], 'no echo of the enable');
  });

  it('settles a conflict by the authority: the directory keeps its value, or dirbridge writes its own; both are recorded; no echo', async () => {
    const alice = adUser('alice');
    const setInDirectory = (value: string) => dc.adModify(`dn: ${alice.dn}\nchangetype: modify\nreplace: givenName\ngivenName: ${value}\n-\n`);
    await assertConflictsSettledByAuthority({ appWith: writableApp, username: 'alice', dn: alice.dn, setInDirectory, read, syncPlan });
  });

  it('keeps a change made while the DC cannot be reached pending with its error, and writes it once it is back', async () => {
    // Samba serves LDAP from child processes, so the network is cut instead: a gate in front of LDAPS.
    const gate = await startTcpGate({ host: '127.0.0.1', port: 636 });
    cleanups.push(() => gate.stop());
    const app = await writableApp({}, { directory: { urls: [`ldaps://127.0.0.1:${gate.port}`] } });
    await assertWriteWaitsWhileUnreachable(app, {
      username: 'bob',
      dn: adUser('bob').dn,
      cutOff: () => gate.close(),
      restore: () => gate.open(),
      read,
      syncPlan: () => syncPlan(app),
    });
  });
});
