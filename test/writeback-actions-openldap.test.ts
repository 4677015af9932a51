/**
 * Two-way sync against real slapd, through the write-back service the CLI and the admin API call:
 * each change is made in dirbridge, then read back from the server (as the rootdn), and the next
 * sync neither echoes nor undoes it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { DirbridgeError } from '../src/errors.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { bindsToSlapd, readAttribute, slapdDirectorySettings } from './helpers/directory.ts';
import { settingsFor } from './helpers/harness.ts';
import { rejectsWithCode } from './helpers/rejects.ts';
import { assertConflictsSettledByAuthority, assertWriteWaitsWhileUnreachable } from './helpers/writeback.ts';

describe('write-back actions: OpenLDAP', () => {
  let slapd: Slapd;
  const cleanups: Array<() => Promise<void>> = [];
  const people = () => `ou=people,${slapd.baseDn}`;
  const groupsDn = () => `ou=groups,${slapd.baseDn}`;

  before(async () => {
    slapd = await startSlapd();
    await slapd.ldapadd(
      [
        `dn: uid=wa-bob,${people()}`,
        'objectClass: inetOrgPerson',
        'uid: wa-bob',
        'cn: Bob Stone',
        'sn: Stone',
        'givenName: Bob',
        'mail: bob@example.test',
        'userPassword: bob-initial-1',
        '',
        `dn: uid=wa-carol,${people()}`,
        'objectClass: inetOrgPerson',
        'uid: wa-carol',
        'cn: Carol Reed',
        'sn: Reed',
        'givenName: Carol',
        'mail: carol@example.test',
        '',
        `dn: cn=wa-team,${groupsDn()}`,
        'objectClass: groupOfNames',
        'cn: wa-team',
        `member: uid=wa-carol,${people()}`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
  });

  /** An app in writable mode over a fresh store, synced once. */
  async function writableApp(writeBack: Record<string, unknown> = {}): Promise<App> {
    const made = await settingsFor({
      directory: { ...slapdDirectorySettings(slapd, { bindDn: slapd.writerDn, bindPassword: slapd.writerPassword }) },
      users: { baseDn: people() },
      groups: { baseDn: groupsDn() },
      sync: { guard: { maxDisable: { count: 10, percent: 100 } } },
      writeBack: { enabled: true, mode: 'writable', usersDn: people(), groupsDn: groupsDn(), passwords: true, ...writeBack },
    });
    const app = await openApp(made.settings);
    cleanups.push(made.cleanup, () => app.close());
    const synced = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(synced.status, 'succeeded');
    return app;
  }

  const read = (dn: string, attribute: string) => readAttribute(slapd, dn, attribute);

  const binds = (dn: string, password: string) => bindsToSlapd(slapd, dn, password);

  /** The steps a sync would make now, as "kind subject" lines (a dry run). */
  async function syncPlan(app: App): Promise<string[]> {
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    return (result.steps ?? []).filter((step) => step.kind !== 'markPresent').map((step) => `${step.kind} ${step.reason}`);
  }

  it('creates a user with a password, which logs in; the next sync links it without a duplicate or an echo', async () => {
    const app = await writableApp();
    const created = await app.writeBack.users.create(
      { username: 'wa-dana', email: 'dana@example.test', firstName: 'Dana', lastName: 'Hill', groups: ['wa-team'], password: 'dana-Secret-1' },
      { actor: 'admin:test' },
    );
    assert.equal(created.outcome, 'written', created.message);
    const dn = `uid=wa-dana,${people()}`;
    assert.deepEqual(await read(dn, 'mail'), ['dana@example.test']);
    assert.deepEqual(await read(dn, 'sn'), ['Hill']);
    assert.deepEqual(
      (await read(`cn=wa-team,${groupsDn()}`, 'member'))?.sort(),
      [dn, `uid=wa-carol,${people()}`].sort(),
      'one value added; the other member untouched',
    );
    assert.equal(await binds(dn, 'dana-Secret-1'), true);
    const login = await app.login.login({ username: 'wa-dana', password: 'dana-Secret-1', via: 'cli' });
    assert.equal(login.isNewUser, false, 'the account write-back created is the one that logs in');
    assert.equal(login.user.id, created.user?.id);
    assert.notEqual(login.user.externalId, null, 'linked to its entry');
    assert.deepEqual(await syncPlan(app), [], 'the next sync has nothing to change');
    const users = await app.store.users.list({ search: 'wa-dana', limit: 10, offset: 0 });
    assert.equal(users.total, 1);
  });

  it('updates attributes with the least change and the next sync does not echo them', async () => {
    const app = await writableApp();
    const dry = await app.writeBack.users.update('wa-bob', { email: 'bob@new.example', displayName: 'Bobby' }, { actor: 'admin:test', isDryRun: true });
    assert.equal(dry.outcome, 'planned');
    assert.deepEqual(await read(`uid=wa-bob,${people()}`, 'mail'), ['bob@example.test'], 'a dry run writes nothing');
    const result = await app.writeBack.users.update('wa-bob', { email: 'bob@new.example', displayName: 'Bobby' }, { actor: 'admin:test' });
    assert.equal(result.outcome, 'written', result.message);
    assert.deepEqual(await read(`uid=wa-bob,${people()}`, 'mail'), ['bob@new.example']);
    assert.deepEqual(await read(`uid=wa-bob,${people()}`, 'displayName'), ['Bobby']);
    assert.deepEqual(await read(`uid=wa-bob,${people()}`, 'cn'), ['Bob Stone'], 'unwritten attributes untouched');
    assert.equal(result.user?.email, 'bob@new.example');
    assert.deepEqual(await syncPlan(app), [], 'no echo');
  });

  it('renames and moves a user; the group that lists it follows its DN', async () => {
    const app = await writableApp();
    const renamed = await app.writeBack.users.rename('wa-carol', 'wa-caroline', { actor: 'admin:test' });
    assert.equal(renamed.outcome, 'written', renamed.message);
    const newDn = `uid=wa-caroline,${people()}`;
    assert.equal(await read(`uid=wa-carol,${people()}`, 'uid'), undefined);
    assert.deepEqual(await read(newDn, 'uid'), ['wa-caroline']);
    assert.ok((await read(`cn=wa-team,${groupsDn()}`, 'member'))?.includes(newDn));
    assert.equal(renamed.user?.dn, newDn);
    const moved = await app.writeBack.users.move('wa-caroline', `ou=staff,${slapd.baseDn}`, { actor: 'admin:test' }).catch((error: unknown) => error);
    // ou=staff is outside users.baseDn (ou=people): the next sync would lose the user, so it is refused.
    assert.ok(moved instanceof DirbridgeError && moved.code === 'writeback.invalid', String(moved));
    assert.deepEqual(await syncPlan(app), []);
  });

  it('disables and enables the directory account (pwdAccountLockedTime), never deleting it', async () => {
    const app = await writableApp();
    const dn = `uid=wa-bob,${people()}`;
    const disabled = await app.writeBack.users.setEnabled('wa-bob', false, { actor: 'admin:test' });
    assert.equal(disabled.outcome, 'written', disabled.message);
    assert.deepEqual(await read(dn, 'pwdAccountLockedTime'), ['000001010000Z']);
    assert.equal(disabled.user?.isEnabled, false);
    const enabled = await app.writeBack.users.setEnabled('wa-bob', true, { actor: 'admin:test' });
    assert.equal(enabled.outcome, 'written', enabled.message);
    assert.deepEqual(await read(dn, 'pwdAccountLockedTime'), []);
    assert.equal(enabled.user?.isEnabled, true);
  });

  it('deletes under each policy: disable, keep and delete', async () => {
    for (const policy of ['disable', 'keep', 'delete'] as const) {
      const name = `wa-del-${policy}`;
      const dn = `uid=${name},${people()}`;
      await slapd.ldapadd([`dn: ${dn}`, 'objectClass: inetOrgPerson', `uid: ${name}`, `cn: ${name}`, 'sn: Del', ''].join('\n'));
      await slapd.ldapmodify([`dn: cn=wa-team,${groupsDn()}`, 'changetype: modify', 'add: member', `member: ${dn}`, ''].join('\n'));
      const app = await writableApp({ deletion: { users: policy } });
      const result = await app.writeBack.users.delete(name, { actor: 'admin:test' });
      assert.notEqual(result.outcome, 'failed', result.message);
      if (policy === 'delete') {
        assert.equal(await read(dn, 'uid'), undefined, 'deleted');
        assert.equal((await read(`cn=wa-team,${groupsDn()}`, 'member'))?.includes(dn), false, 'and taken out of its group');
        assert.equal(await app.store.users.findByUsername(name), undefined);
      } else {
        assert.deepEqual(await read(dn, 'uid'), [name], `${policy}: the entry stays`);
        assert.deepEqual(await read(dn, 'pwdAccountLockedTime'), policy === 'disable' ? ['000001010000Z'] : []);
        assert.equal((await app.store.users.findByUsername(name))?.isEnabled, false, 'dirbridge keeps the account, disabled');
      }
    }
  });

  it('creates a group with the placeholder, adds and removes members one value at a time, and keeps it empty', async () => {
    const app = await writableApp();
    const created = await app.writeBack.groups.create('wa-new', { actor: 'admin:test' });
    assert.equal(created.outcome, 'written', created.message);
    const dn = `cn=wa-new,${groupsDn()}`;
    assert.deepEqual(await read(dn, 'member'), ['cn=dirbridge-placeholder']);
    await app.writeBack.groups.setMember('wa-new', 'wa-bob', true, { actor: 'admin:test' });
    assert.ok((await read(dn, 'member'))?.includes(`uid=wa-bob,${people()}`));
    assert.equal((await read(dn, 'member'))?.includes('cn=dirbridge-placeholder'), false, 'the placeholder leaves with the first member');
    const removed = await app.writeBack.groups.setMember('wa-new', 'wa-bob', false, { actor: 'admin:test' });
    assert.equal(removed.outcome, 'written', removed.message);
    assert.deepEqual(await read(dn, 'member'), ['cn=dirbridge-placeholder'], 'the last member leaves; the group is kept with the placeholder');
    const linked = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.deepEqual(
      linked.steps.map((step) => step.kind),
      ['updateGroup'],
      'the next sync only links the new group to its entry',
    );
    assert.deepEqual(await syncPlan(app), [], 'no echo');
    assert.equal((await app.store.groups.list({ search: 'wa-new', limit: 10, offset: 0 })).total, 1, 'no duplicate');
  });

  it('resets a password: the new one binds, the old does not; a password the policy refuses names the rule', async () => {
    const app = await writableApp();
    const dn = `uid=wa-bob,${people()}`;
    await rejectsWithCode(app.writeBack.users.setPassword('wa-bob', 'short', { actor: 'admin:test' }), 'directory.password_policy');
    assert.equal(await binds(dn, 'bob-initial-1'), true, 'a refused reset changes nothing');
    const reset = await app.writeBack.users.setPassword('wa-bob', 'bob-Reset-22', { actor: 'admin:test' });
    assert.equal(reset.outcome, 'written');
    assert.equal(await binds(dn, 'bob-Reset-22'), true);
    assert.equal(await binds(dn, 'bob-initial-1'), false);
    const bob = await app.store.users.findByUsername('wa-bob');
    assert.ok(bob);
    await app.writeBack.users.changeOwnPassword(bob, { oldPassword: 'bob-Reset-22', newPassword: 'bob-Own-333' });
    assert.equal(await binds(dn, 'bob-Own-333'), true);
    await rejectsWithCode(
      app.writeBack.users.changeOwnPassword(bob, { oldPassword: 'not-it-at-all', newPassword: 'bob-Own-4444' }),
      'auth.invalid_credentials',
    );
  });

  it('settles a conflict by the authority: the directory keeps its value, or dirbridge writes its own; both are recorded; no echo', async () => {
    const dn = `uid=wa-bob,${people()}`;
    const setInDirectory = (value: string) => slapd.ldapmodify([`dn: ${dn}`, 'changetype: modify', 'replace: givenName', `givenName: ${value}`, ''].join('\n'));
    await assertConflictsSettledByAuthority({ appWith: writableApp, username: 'wa-bob', dn, setInDirectory, read, syncPlan });
  });

  it('keeps a change made while slapd is down pending with its error, and writes it once slapd is back', async () => {
    const app = await writableApp();
    await assertWriteWaitsWhileUnreachable(app, {
      username: 'wa-bob',
      dn: `uid=wa-bob,${people()}`,
      cutOff: () => slapd.kill('SIGSTOP'),
      restore: () => slapd.kill('SIGCONT'),
      read,
      syncPlan: () => syncPlan(app),
    });
  });
});
