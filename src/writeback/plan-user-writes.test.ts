import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { userSettingsSchema, writeBackSettingsSchema } from '../settings/schema.ts';
import { resolveEntryShape } from './entry-shape.ts';
import { planCreateUser, planDeleteUser, planMoveUser, planRenameUser, planSetEnabled, planUpdateUser, type UserValues } from './plan-user-writes.ts';
import { WritePlanError } from './write-step.ts';

const users = userSettingsSchema.parse({ baseDn: 'ou=people,dc=example,dc=org' });
const adUsers = userSettingsSchema.parse({ baseDn: 'cn=Users,dc=example,dc=test', usernameAttribute: ['sAMAccountName'] });

function context(server: string, overrides: Record<string, unknown> = {}) {
  const writeBack = writeBackSettingsSchema.parse({
    enabled: true,
    mode: 'writable',
    usersDn: server === 'active-directory' ? 'cn=Users,dc=example,dc=test' : 'ou=people,dc=example,dc=org',
    groupsDn: 'ou=groups,dc=example,dc=org',
    ...overrides,
  });
  return { shape: resolveEntryShape(writeBack, server), writeBack, users: server === 'active-directory' ? adUsers : users };
}

const alice: UserValues = { username: 'alice', email: 'alice@example.org', firstName: 'Alice', lastName: 'Liddell', displayName: 'Alice Liddell' };

function entry(dn: string, attributes: Record<string, string[]>): DirectoryEntry {
  return { dn, attributes: Object.fromEntries(Object.entries(attributes).map(([name, values]) => [name.toLowerCase(), values])) };
}

describe('planCreateUser', () => {
  it('adds an inetOrgPerson named by uid on OpenLDAP, with the mapped fields and the cn and sn person requires', () => {
    const plan = planCreateUser(context('openldap'), alice, { hasPassword: false });
    assert.equal(plan.steps.length, 1);
    const [step] = plan.steps;
    assert.ok(step !== undefined && step.kind === 'createUser' && step.change.kind === 'add');
    assert.equal(step.change.dn, 'uid=alice,ou=people,dc=example,dc=org');
    assert.deepEqual(step.change.attributes, {
      objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
      uid: ['alice'],
      mail: ['alice@example.org'],
      givenName: ['Alice'],
      sn: ['Liddell'],
      displayName: ['Alice Liddell'],
      cn: ['Alice Liddell'],
    });
  });

  it('escapes the username in the DN instead of letting it add an RDN', () => {
    const plan = planCreateUser(context('openldap'), { ...alice, username: 'eve,ou=admins' }, { hasPassword: false });
    const [step] = plan.steps;
    assert.ok(step !== undefined && step.kind !== 'setPassword');
    assert.equal(step.change.dn, 'uid=eve\\,ou=admins,ou=people,dc=example,dc=org');
  });

  it('on AD keeps sAMAccountName and userPrincipalName with the username, and enables the account only after its password', () => {
    const plan = planCreateUser(context('active-directory'), alice, { hasPassword: true });
    assert.deepEqual(
      plan.steps.map((step) => step.kind),
      ['createUser', 'setPassword', 'enableUser'],
    );
    const [create, , enable] = plan.steps;
    assert.ok(create !== undefined && create.kind !== 'setPassword' && create.change.kind === 'add');
    assert.equal(create.change.dn, 'cn=alice,cn=Users,dc=example,dc=test');
    assert.deepEqual(create.change.attributes['sAMAccountName'], ['alice']);
    assert.deepEqual(create.change.attributes['userPrincipalName'], ['alice@example.test']);
    assert.deepEqual(create.change.attributes['userAccountControl'], ['514']);
    assert.ok(enable !== undefined && enable.kind !== 'setPassword' && enable.change.kind === 'modify');
    assert.deepEqual(enable.change.changes, [{ kind: 'set', attribute: 'userAccountControl', from: ['514'], to: ['512'] }]);
  });

  it('says on AD that an account created without a password stays disabled', () => {
    const plan = planCreateUser(context('active-directory'), alice, { hasPassword: false });
    assert.match(plan.steps[0]?.reason ?? '', /disabled in Active Directory until a password is set/);
  });

  it('refuses usernames AD cannot hold, naming the rule', () => {
    assert.throws(
      () => planCreateUser(context('active-directory'), { ...alice, username: 'a-very-long-username-x' }, { hasPassword: false }),
      /longer than 20 characters/,
    );
    assert.throws(() => planCreateUser(context('active-directory'), { ...alice, username: 'al@ice' }, { hasPassword: false }), /sAMAccountName refuses/);
    assert.throws(() => planCreateUser(context('openldap'), { ...alice, username: ' alice' }, { hasPassword: false }), WritePlanError);
  });

  it('refuses a written field mapped to the attribute that names the entry', () => {
    const shaped = { ...context('openldap'), users: userSettingsSchema.parse({ baseDn: 'ou=people,dc=example,dc=org', displayNameAttribute: 'uid' }) };
    assert.throws(() => planCreateUser(shaped, alice, { hasPassword: false }), /writeBack\.fields lists displayName, read from uid/);
  });

  it('needs writeBack.usersDn', () => {
    const unset = context('openldap');
    const writeBack = { ...unset.writeBack };
    delete writeBack.usersDn;
    assert.throws(() => planCreateUser({ ...unset, writeBack }, alice, { hasPassword: false }), /writeBack\.usersDn is not set/);
  });
});

describe('planUpdateUser', () => {
  const aliceEntry = entry('uid=alice,ou=people,dc=example,dc=org', {
    uid: ['alice'],
    mail: ['alice@example.org', 'a@example.org'],
    givenName: ['Alice'],
    sn: ['Liddell'],
  });

  it('writes only the changed field and keeps the other values of a multi-valued attribute', () => {
    const plan = planUpdateUser(context('openldap'), { entry: aliceEntry, before: alice, after: { ...alice, email: 'new@example.org' } });
    assert.equal(plan.steps.length, 1);
    const [step] = plan.steps;
    assert.ok(step !== undefined && step.kind !== 'setPassword' && step.change.kind === 'modify');
    assert.deepEqual(step.change.changes, [
      { kind: 'set', attribute: 'mail', from: ['alice@example.org', 'a@example.org'], to: ['new@example.org', 'a@example.org'] },
    ]);
    assert.deepEqual(plan.conflicts, []);
  });

  it('writes nothing for a field that is not written back', () => {
    const plan = planUpdateUser(context('openldap', { fields: ['email'] }), { entry: aliceEntry, before: alice, after: { ...alice, firstName: 'Al' } });
    assert.deepEqual(plan.steps, []);
  });

  it('clears a field by deleting its value', () => {
    const plan = planUpdateUser(context('openldap'), { entry: aliceEntry, before: alice, after: { ...alice, firstName: '' } });
    const [step] = plan.steps;
    assert.ok(step !== undefined && step.kind !== 'setPassword' && step.change.kind === 'modify');
    assert.deepEqual(step.change.changes, [{ kind: 'set', attribute: 'givenName', from: ['Alice'], to: [] }]);
  });

  it('lets the directory win a conflict by default and records dirbridge value as the loser', () => {
    const changed = entry(aliceEntry.dn, { ...Object.fromEntries(Object.entries(aliceEntry.attributes)), givenname: ['Alicia'] });
    const plan = planUpdateUser(context('openldap'), { entry: changed, before: alice, after: { ...alice, firstName: 'Ally' } });
    assert.deepEqual(plan.steps, []);
    assert.deepEqual(plan.conflicts, [
      { subject: 'alice', field: 'firstName', winner: 'directory', directoryValue: 'Alicia', dirbridgeValue: 'Ally', baseline: 'Alice' },
    ]);
    assert.deepEqual(plan.keptDirectoryValues, [{ subject: 'alice', field: 'firstName', value: 'Alicia' }]);
  });

  it('lets dirbridge win where the field authority says so, writing over the directory value it read', () => {
    const changed = entry(aliceEntry.dn, { ...Object.fromEntries(Object.entries(aliceEntry.attributes)), givenname: ['Alicia'] });
    const plan = planUpdateUser(context('openldap', { authority: { fields: { firstName: 'dirbridge' } } }), {
      entry: changed,
      before: alice,
      after: { ...alice, firstName: 'Ally' },
    });
    const [step] = plan.steps;
    assert.ok(step !== undefined && step.kind !== 'setPassword' && step.change.kind === 'modify');
    assert.deepEqual(step.change.changes, [{ kind: 'set', attribute: 'givenName', from: ['Alicia'], to: ['Ally'] }]);
    assert.equal(plan.conflicts[0]?.winner, 'dirbridge');
    assert.equal(plan.conflicts[0]?.directoryValue, 'Alicia');
  });

  it('sees no conflict when the directory already holds the new value', () => {
    const changed = entry(aliceEntry.dn, { ...Object.fromEntries(Object.entries(aliceEntry.attributes)), givenname: ['Ally'] });
    const plan = planUpdateUser(context('openldap'), { entry: changed, before: alice, after: { ...alice, firstName: 'Ally' } });
    assert.deepEqual(plan.steps, []);
    assert.deepEqual(plan.conflicts, []);
  });

  it('judges against a recorded baseline when the store had already changed locally', () => {
    const plan = planUpdateUser(context('openldap'), {
      entry: aliceEntry,
      before: { ...alice, firstName: 'Local' },
      after: { ...alice, firstName: 'Ally' },
      baseline: { firstName: 'Alice' },
    });
    assert.equal(plan.steps.length, 1);
    assert.deepEqual(plan.conflicts, []);
  });
});

describe('planRenameUser', () => {
  it('renames by modify DN where the RDN holds the username, and moves memberUid and member values', () => {
    const aliceEntry = entry('uid=alice,ou=people,dc=example,dc=org', { uid: ['alice'] });
    const plan = planRenameUser(context('openldap'), {
      entry: aliceEntry,
      username: 'alice',
      newUsername: 'alicia',
      groups: [
        { dn: 'cn=staff,ou=groups,dc=example,dc=org', name: 'staff', memberAttribute: 'member', memberValues: [aliceEntry.dn] },
        { dn: 'cn=posix,ou=groups,dc=example,dc=org', name: 'posix', memberAttribute: 'memberUid', memberValues: ['alice'] },
      ],
    });
    const changes = plan.steps.map((step) => (step.kind === 'setPassword' ? undefined : step.change));
    assert.deepEqual(changes, [
      { kind: 'modifyDn', dn: 'uid=alice,ou=people,dc=example,dc=org', newRdn: 'uid=alicia' },
      {
        kind: 'modify',
        dn: 'cn=staff,ou=groups,dc=example,dc=org',
        changes: [{ kind: 'addValues', attribute: 'member', values: ['uid=alicia,ou=people,dc=example,dc=org'] }],
      },
      {
        kind: 'modify',
        dn: 'cn=staff,ou=groups,dc=example,dc=org',
        changes: [{ kind: 'deleteValues', attribute: 'member', values: ['uid=alice,ou=people,dc=example,dc=org'] }],
      },
      { kind: 'modify', dn: 'cn=posix,ou=groups,dc=example,dc=org', changes: [{ kind: 'addValues', attribute: 'memberUid', values: ['alicia'] }] },
      { kind: 'modify', dn: 'cn=posix,ou=groups,dc=example,dc=org', changes: [{ kind: 'deleteValues', attribute: 'memberUid', values: ['alice'] }] },
    ]);
  });

  it('on AD renames the cn and keeps sAMAccountName and the UPN (with its own suffix) in step; AD moves member values itself', () => {
    const entryAd = entry('cn=alice,cn=Users,dc=example,dc=test', { sAMAccountName: ['alice'], userPrincipalName: ['alice@corp.example'] });
    const plan = planRenameUser(context('active-directory'), {
      entry: entryAd,
      username: 'alice',
      newUsername: 'alicia',
      groups: [{ dn: 'cn=staff,cn=Users,dc=example,dc=test', name: 'staff', memberAttribute: 'member', memberValues: [entryAd.dn] }],
    });
    const changes = plan.steps.map((step) => (step.kind === 'setPassword' ? undefined : step.change));
    assert.deepEqual(changes, [
      { kind: 'modifyDn', dn: 'cn=alice,cn=Users,dc=example,dc=test', newRdn: 'cn=alicia' },
      {
        kind: 'modify',
        dn: 'cn=alicia,cn=Users,dc=example,dc=test',
        changes: [
          { kind: 'set', attribute: 'sAMAccountName', from: ['alice'], to: ['alicia'] },
          { kind: 'set', attribute: 'userPrincipalName', from: ['alice@corp.example'], to: ['alicia@corp.example'] },
        ],
      },
    ]);
  });

  it('changes only the username attribute where the RDN names the entry otherwise', () => {
    const named = entry('cn=Alice Liddell,ou=people,dc=example,dc=org', { uid: ['alice'] });
    const plan = planRenameUser(context('openldap'), { entry: named, username: 'alice', newUsername: 'alicia', groups: [] });
    const changes = plan.steps.map((step) => (step.kind === 'setPassword' ? undefined : step.change));
    assert.deepEqual(changes, [{ kind: 'modify', dn: named.dn, changes: [{ kind: 'set', attribute: 'uid', from: ['alice'], to: ['alicia'] }] }]);
  });
});

describe('planMoveUser', () => {
  it('moves with a modify DN keeping the RDN, and moves member values by DN', () => {
    const aliceEntry = entry('uid=alice,ou=people,dc=example,dc=org', { uid: ['alice'] });
    const plan = planMoveUser(context('openldap'), {
      entry: aliceEntry,
      username: 'alice',
      newParent: 'ou=staff,ou=people,dc=example,dc=org',
      groups: [{ dn: 'cn=staff,ou=groups,dc=example,dc=org', name: 'staff', memberAttribute: 'member', memberValues: [aliceEntry.dn] }],
    });
    assert.deepEqual(
      plan.steps.map((step) => step.kind),
      ['moveUser', 'followRename', 'followRename'],
    );
    const [move, add] = plan.steps;
    assert.ok(move !== undefined && move.kind !== 'setPassword' && add !== undefined && add.kind !== 'setPassword');
    assert.deepEqual(move.change, { kind: 'modifyDn', dn: aliceEntry.dn, newRdn: 'uid=alice', newParent: 'ou=staff,ou=people,dc=example,dc=org' });
    assert.deepEqual(add.change, {
      kind: 'modify',
      dn: 'cn=staff,ou=groups,dc=example,dc=org',
      changes: [{ kind: 'addValues', attribute: 'member', values: ['uid=alice,ou=staff,ou=people,dc=example,dc=org'] }],
    });
  });
});

describe('planSetEnabled', () => {
  const reason = 'by an administrator';
  function only(plan: ReturnType<typeof planSetEnabled>) {
    assert.equal(plan.steps.length, 1);
    const [step] = plan.steps;
    assert.ok(step !== undefined && step.kind !== 'setPassword' && step.change.kind === 'modify');
    return step.change.changes;
  }

  it('OpenLDAP: the permanent ppolicy lock, replacing a lockout time, and enabling never clears a lockout', () => {
    const open = entry('uid=a,ou=people,dc=example,dc=org', {});
    assert.deepEqual(only(planSetEnabled(context('openldap'), { entry: open, username: 'a', enabled: false, reason })), [
      { kind: 'set', attribute: 'pwdAccountLockedTime', from: [], to: ['000001010000Z'] },
    ]);
    const lockedOut = entry(open.dn, { pwdAccountLockedTime: ['20261203101500Z'] });
    assert.deepEqual(only(planSetEnabled(context('openldap'), { entry: lockedOut, username: 'a', enabled: false, reason })), [
      { kind: 'set', attribute: 'pwdAccountLockedTime', from: ['20261203101500Z'], to: ['000001010000Z'] },
    ]);
    assert.deepEqual(planSetEnabled(context('openldap'), { entry: lockedOut, username: 'a', enabled: true, reason }).steps, []);
    const disabled = entry(open.dn, { pwdAccountLockedTime: ['000001010000Z'] });
    assert.deepEqual(only(planSetEnabled(context('openldap'), { entry: disabled, username: 'a', enabled: true, reason })), [
      { kind: 'deleteValues', attribute: 'pwdAccountLockedTime', values: ['000001010000Z'] },
    ]);
    assert.deepEqual(planSetEnabled(context('openldap'), { entry: disabled, username: 'a', enabled: false, reason }).steps, []);
  });

  it('AD: bit 2 of userAccountControl, keeping the other bits', () => {
    const flags = entry('cn=a,cn=Users,dc=example,dc=test', { userAccountControl: ['66048'] }); // NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
    assert.deepEqual(only(planSetEnabled(context('active-directory'), { entry: flags, username: 'a', enabled: false, reason })), [
      { kind: 'set', attribute: 'userAccountControl', from: ['66048'], to: ['66050'] },
    ]);
    const disabled = entry(flags.dn, { userAccountControl: ['66050'] });
    assert.deepEqual(only(planSetEnabled(context('active-directory'), { entry: disabled, username: 'a', enabled: true, reason })), [
      { kind: 'set', attribute: 'userAccountControl', from: ['66050'], to: ['66048'] },
    ]);
    assert.throws(
      () => planSetEnabled(context('active-directory'), { entry: entry(flags.dn, {}), username: 'a', enabled: false, reason }),
      /needs read access/,
    );
  });

  it('389-DS: nsAccountLock', () => {
    const open = entry('uid=a,ou=people,dc=example,dc=org', {});
    assert.deepEqual(only(planSetEnabled(context('389-ds'), { entry: open, username: 'a', enabled: false, reason })), [
      { kind: 'set', attribute: 'nsAccountLock', from: [], to: ['TRUE'] },
    ]);
    const locked = entry(open.dn, { nsAccountLock: ['true'] });
    assert.deepEqual(only(planSetEnabled(context('389-ds'), { entry: locked, username: 'a', enabled: true, reason })), [
      { kind: 'set', attribute: 'nsAccountLock', from: ['true'], to: [] },
    ]);
  });
});

describe('planDeleteUser', () => {
  const aliceEntry = entry('uid=alice,ou=people,dc=example,dc=org', { uid: ['alice'] });
  const groups = [{ dn: 'cn=solo,ou=groups,dc=example,dc=org', name: 'solo', memberAttribute: 'member' as const, memberValues: [aliceEntry.dn] }];

  it('disables under the default policy, and never deletes', () => {
    const plan = planDeleteUser(context('openldap'), { entry: aliceEntry, username: 'alice', groups });
    assert.deepEqual(
      plan.steps.map((step) => step.kind),
      ['disableUser'],
    );
  });

  it('keeps the directory entry under keep', () => {
    assert.deepEqual(planDeleteUser(context('openldap', { deletion: { users: 'keep' } }), { entry: aliceEntry, username: 'alice', groups }).steps, []);
  });

  it('deletes under delete, keeping a groupOfNames valid with the placeholder', () => {
    const plan = planDeleteUser(context('openldap', { deletion: { users: 'delete' } }), { entry: aliceEntry, username: 'alice', groups });
    const changes = plan.steps.map((step) => (step.kind === 'setPassword' ? undefined : step.change));
    assert.deepEqual(changes, [
      {
        kind: 'modify',
        dn: 'cn=solo,ou=groups,dc=example,dc=org',
        changes: [
          { kind: 'addValues', attribute: 'member', values: ['cn=dirbridge-placeholder'] },
          { kind: 'deleteValues', attribute: 'member', values: [aliceEntry.dn] },
        ],
      },
      { kind: 'delete', dn: aliceEntry.dn },
    ]);
  });
});
