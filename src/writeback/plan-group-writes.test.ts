import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeBackSettingsSchema } from '../settings/schema.ts';
import { resolveEntryShape } from './entry-shape.ts';
import { type GroupTarget, planAddMember, planCreateGroup, planDeleteGroup, planRemoveMember, planRenameGroup } from './plan-group-writes.ts';
import { type WritePlan, WritePlanError } from './write-step.ts';

function context(server: string, overrides: Record<string, unknown> = {}) {
  const writeBack = writeBackSettingsSchema.parse({
    enabled: true,
    mode: 'writable',
    usersDn: 'ou=people,dc=example,dc=org',
    groupsDn: 'ou=groups,dc=example,dc=org',
    ...overrides,
  });
  return { shape: resolveEntryShape(writeBack, server), writeBack, groups: { nameAttribute: 'cn' } };
}

const changesOf = (plan: WritePlan) => plan.steps.map((step) => (step.kind === 'setPassword' ? undefined : step.change));
const alice = { dn: 'uid=alice,ou=people,dc=example,dc=org', username: 'alice' };
const bob = { dn: 'uid=bob,ou=people,dc=example,dc=org', username: 'bob' };
const staff = (memberValues: string[], memberAttribute: GroupTarget['memberAttribute'] = 'member'): GroupTarget => ({
  dn: 'cn=staff,ou=groups,dc=example,dc=org',
  name: 'staff',
  memberAttribute,
  memberValues,
});

describe('planCreateGroup', () => {
  it('gives an empty groupOfNames the placeholder on OpenLDAP, whose schema requires a member', () => {
    assert.deepEqual(changesOf(planCreateGroup(context('openldap'), { name: 'staff', members: [] })), [
      {
        kind: 'add',
        dn: 'cn=staff,ou=groups,dc=example,dc=org',
        attributes: { objectClass: ['top', 'groupOfNames'], cn: ['staff'], member: ['cn=dirbridge-placeholder'] },
      },
    ]);
  });

  it('needs no placeholder on 389-DS or AD, and keeps AD sAMAccountName with the name', () => {
    assert.deepEqual(changesOf(planCreateGroup(context('389-ds'), { name: 'staff', members: [] })), [
      { kind: 'add', dn: 'cn=staff,ou=groups,dc=example,dc=org', attributes: { objectClass: ['top', 'groupOfNames'], cn: ['staff'] } },
    ]);
    assert.deepEqual(changesOf(planCreateGroup(context('active-directory'), { name: 'staff', members: [alice] })), [
      {
        kind: 'add',
        dn: 'cn=staff,ou=groups,dc=example,dc=org',
        attributes: { objectClass: ['top', 'group'], cn: ['staff'], sAMAccountName: ['staff'], member: [alice.dn] },
      },
    ]);
  });

  it('refuses on AD a name its sAMAccountName cannot hold, before anything is written; other servers take it', () => {
    for (const name of ['Sales, APAC', 'a+b', 'ends.']) {
      assert.throws(
        () => planCreateGroup(context('active-directory'), { name, members: [] }),
        (error: unknown) => error instanceof WritePlanError && error.rule === 'writeback.invalid_group_name' && /sAMAccountName refuses/.test(error.message),
        name,
      );
    }
    assert.equal(planCreateGroup(context('389-ds'), { name: 'Sales, APAC', members: [] }).steps.length, 1);
  });

  it('lists members by username for a posixGroup-style member attribute', () => {
    const plan = planCreateGroup(context('openldap', { entry: { groupObjectClasses: ['top', 'posixGroup'], groupMemberAttribute: 'memberUid' } }), {
      name: 'staff',
      members: [alice, bob],
    });
    const [add] = changesOf(plan);
    assert.ok(add?.kind === 'add');
    assert.deepEqual(add.attributes['memberUid'], ['alice', 'bob']);
  });
});

describe('planAddMember and planRemoveMember', () => {
  it('adds exactly one value, leaving the other members untouched', () => {
    assert.deepEqual(changesOf(planAddMember(context('openldap'), { group: staff([bob.dn]), user: alice })), [
      { kind: 'modify', dn: 'cn=staff,ou=groups,dc=example,dc=org', changes: [{ kind: 'addValues', attribute: 'member', values: [alice.dn] }] },
    ]);
  });

  it('takes the placeholder out in the same modify as the first real member', () => {
    assert.deepEqual(changesOf(planAddMember(context('openldap'), { group: staff(['CN=dirbridge-placeholder']), user: alice }))[0], {
      kind: 'modify',
      dn: 'cn=staff,ou=groups,dc=example,dc=org',
      changes: [
        { kind: 'addValues', attribute: 'member', values: [alice.dn] },
        { kind: 'deleteValues', attribute: 'member', values: ['CN=dirbridge-placeholder'] },
      ],
    });
  });

  it('writes nothing for a member the group already lists, whatever the DN spelling', () => {
    assert.deepEqual(planAddMember(context('openldap'), { group: staff(['UID=Alice,OU=People,DC=example,DC=org']), user: alice }).steps, []);
  });

  it('removes one value, and puts the placeholder in first when the last member leaves a groupOfNames', () => {
    assert.deepEqual(changesOf(planRemoveMember(context('openldap'), { group: staff([alice.dn, bob.dn]), user: alice }))[0], {
      kind: 'modify',
      dn: 'cn=staff,ou=groups,dc=example,dc=org',
      changes: [{ kind: 'deleteValues', attribute: 'member', values: [alice.dn] }],
    });
    assert.deepEqual(changesOf(planRemoveMember(context('openldap'), { group: staff([alice.dn]), user: alice }))[0], {
      kind: 'modify',
      dn: 'cn=staff,ou=groups,dc=example,dc=org',
      changes: [
        { kind: 'addValues', attribute: 'member', values: ['cn=dirbridge-placeholder'] },
        { kind: 'deleteValues', attribute: 'member', values: [alice.dn] },
      ],
    });
  });

  it('keeps an empty group on 389-DS without a placeholder, and never deletes a group for being empty', () => {
    const plan = planRemoveMember(context('389-ds'), { group: staff([alice.dn]), user: alice });
    assert.deepEqual(
      plan.steps.map((step) => step.kind),
      ['removeMember'],
    );
    assert.deepEqual(changesOf(plan)[0], {
      kind: 'modify',
      dn: 'cn=staff,ou=groups,dc=example,dc=org',
      changes: [{ kind: 'deleteValues', attribute: 'member', values: [alice.dn] }],
    });
  });

  it('removes memberUid values case-insensitively as written in the group', () => {
    assert.deepEqual(changesOf(planRemoveMember(context('openldap'), { group: staff(['ALICE', 'bob'], 'memberUid'), user: alice }))[0], {
      kind: 'modify',
      dn: 'cn=staff,ou=groups,dc=example,dc=org',
      changes: [{ kind: 'deleteValues', attribute: 'memberUid', values: ['ALICE'] }],
    });
  });
});

describe('planRenameGroup and planDeleteGroup', () => {
  it('renames by modify DN', () => {
    assert.deepEqual(changesOf(planRenameGroup(context('openldap'), { dn: 'cn=staff,ou=groups,dc=example,dc=org', name: 'staff', newName: 'crew' })), [
      { kind: 'modifyDn', dn: 'cn=staff,ou=groups,dc=example,dc=org', newRdn: 'cn=crew' },
    ]);
  });

  it('on AD, moves sAMAccountName with the name when it held the old name, after the modify DN and on the new DN', () => {
    const dn = 'CN=Frontend,OU=Groups,DC=example,DC=test';
    assert.deepEqual(changesOf(planRenameGroup(context('active-directory'), { dn, name: 'Frontend', newName: 'Front End', accountName: ['frontend'] })), [
      { kind: 'modifyDn', dn, newRdn: 'CN=Front End' },
      {
        kind: 'modify',
        dn: 'CN=Front End,OU=Groups,DC=example,DC=test',
        changes: [{ kind: 'set', attribute: 'sAMAccountName', from: ['frontend'], to: ['Front End'] }],
      },
    ]);
  });

  it('on AD, leaves a sAMAccountName set apart from the name, and refuses a following one AD cannot hold', () => {
    const dn = 'CN=Sales\\, EMEA,OU=Groups,DC=example,DC=test';
    assert.deepEqual(
      changesOf(planRenameGroup(context('active-directory'), { dn, name: 'Sales, EMEA', newName: 'Sales, APAC', accountName: ['Sales-EMEA'] })),
      [{ kind: 'modifyDn', dn, newRdn: 'CN=Sales\\, APAC' }],
    );
    assert.throws(
      () =>
        planRenameGroup(context('active-directory'), {
          dn: 'CN=Sales,OU=Groups,DC=example,DC=test',
          name: 'Sales',
          newName: 'Sales, APAC',
          accountName: ['Sales'],
        }),
      (error: unknown) => error instanceof WritePlanError && error.rule === 'writeback.invalid_group_name',
    );
  });

  it('keeps the group in the directory by default, and deletes it only under delete', () => {
    const group = { dn: 'cn=staff,ou=groups,dc=example,dc=org', name: 'staff' };
    assert.deepEqual(planDeleteGroup(context('openldap'), group).steps, []);
    assert.deepEqual(changesOf(planDeleteGroup(context('openldap', { deletion: { groups: 'delete' } }), group)), [{ kind: 'delete', dn: group.dn }]);
  });
});
