import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeBackSettingsSchema } from '../settings/schema.ts';
import { domainOf, resolveEntryShape } from './entry-shape.ts';

describe('resolveEntryShape', () => {
  const settings = (overrides: Record<string, unknown> = {}) => writeBackSettingsSchema.parse({ usersDn: 'CN=Users,DC=Corp,DC=Example', ...overrides });

  it('takes the preset of the server the RootDSE names, OpenLDAP for an unknown one', () => {
    assert.equal(resolveEntryShape(settings(), 'active-directory').disableMethod, 'userAccountControl');
    assert.equal(resolveEntryShape(settings(), '389-ds').disableMethod, 'nsAccountLock');
    assert.equal(resolveEntryShape(settings(), 'unknown').disableMethod, 'pwdAccountLockedTime');
    assert.equal(resolveEntryShape(settings({ entry: { preset: '389-ds' } }), 'openldap').server, '389-ds');
  });

  it('derives the AD UPN suffix from the users DN unless it is set', () => {
    assert.equal(resolveEntryShape(settings(), 'active-directory').userPrincipalSuffix, 'corp.example');
    assert.equal(resolveEntryShape(settings({ entry: { userPrincipalSuffix: 'example.com' } }), 'active-directory').userPrincipalSuffix, 'example.com');
    assert.equal(resolveEntryShape(settings(), 'openldap').userPrincipalSuffix, undefined);
  });

  it('applies overrides, and knows when a group class needs a member', () => {
    const shape = resolveEntryShape(
      settings({ entry: { userRdnAttribute: 'cn', groupObjectClasses: 'top,groupOfUniqueNames', groupMemberAttribute: 'uniqueMember' } }),
      'openldap',
    );
    assert.equal(shape.userRdnAttribute, 'cn');
    assert.equal(shape.groupMemberAttribute, 'uniqueMember');
    assert.equal(shape.groupNeedsMember, true);
    assert.equal(resolveEntryShape(settings({ entry: { groupObjectClasses: ['posixGroup'] } }), 'openldap').groupNeedsMember, false);
  });
});

describe('domainOf', () => {
  it('joins the domain components', () => {
    assert.equal(domainOf('ou=people,dc=example,dc=org'), 'example.org');
    assert.equal(domainOf('o=example'), undefined);
  });
});

describe('writeBackSettingsSchema', () => {
  it('needs usersDn in writable mode, naming the path', () => {
    const result = writeBackSettingsSchema.safeParse({ enabled: true, mode: 'writable' });
    assert.equal(result.success, false);
    assert.deepEqual(result.error?.issues[0]?.path, ['usersDn']);
  });

  it('defaults to read-only with the directory as authority and disable as the user deletion policy', () => {
    const parsed = writeBackSettingsSchema.parse({});
    assert.equal(parsed.mode, 'readOnly');
    assert.equal(parsed.authority.default, 'directory');
    assert.deepEqual(parsed.deletion, { users: 'disable', groups: 'keep' });
    assert.equal(parsed.passwords, false);
  });
});
