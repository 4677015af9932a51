import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { fromFileTime, fromGeneralizedTime, MUST_CHANGE_PASSWORD, PASSWORD_CHANGE_ATTRIBUTES, readPasswordChangedAt } from './password-change.ts';
import { mapUserEntry, userAttributesToRequest } from './user.ts';

const entry = (attributes: Record<string, string[]>): DirectoryEntry => ({
  dn: 'uid=a,ou=people,dc=example,dc=org',
  attributes: { entryuuid: ['u-1'], uid: ['a'], ...attributes },
});

describe('password change time', () => {
  const generalized: Array<[string, string | null]> = [
    ['20240501120000Z', '2024-05-01T12:00:00.000Z'],
    ['20240501120000.5Z', '2024-05-01T12:00:00.500Z'],
    ['20240501120000.123456Z', '2024-05-01T12:00:00.123Z'],
    ['202405011200Z', '2024-05-01T12:00:00.000Z'],
    ['2024050112Z', '2024-05-01T12:00:00.000Z'],
    ['2024050112.5Z', '2024-05-01T12:30:00.000Z'],
    ['202405011200.5Z', '2024-05-01T12:00:30.000Z'],
    ['20240501140000+0200', '2024-05-01T12:00:00.000Z'],
    ['20240501070000-05', '2024-05-01T12:00:00.000Z'],
    [' 20240501120000Z ', '2024-05-01T12:00:00.000Z'],
    ['20240501120000', null],
    ['99991231230000-0500', null],
    ['16010101000000Z', null],
    ['00010101000000Z', null],
    ['20241301120000Z', null],
    ['20240501250000Z', null],
    ['2024-05-01T12:00:00Z', null],
    ['yesterday', null],
    ['', null],
  ];
  for (const [text, expected] of generalized)
    it(`GeneralizedTime ${JSON.stringify(text)} → ${expected}`, () => assert.equal(fromGeneralizedTime(text), expected));

  const filetimes: Array<[string, string | null]> = [
    ['133589952000000000', '2024-05-01T00:00:00.000Z'],
    ['133589952001234567', '2024-05-01T00:00:00.123Z'],
    ['116444736000000000', '1970-01-01T00:00:00.000Z'],
    ['0', MUST_CHANGE_PASSWORD],
    ['9223372036854775807', null],
    ['-1', null],
    ['12.5', null],
    ['', null],
  ];
  for (const [text, expected] of filetimes) it(`FILETIME ${JSON.stringify(text)} → ${expected}`, () => assert.equal(fromFileTime(text), expected));

  const entries: Array<[string, Record<string, string[]>, string | null]> = [
    ['OpenLDAP pwdChangedTime', { pwdchangedtime: ['20240501120000Z'] }, '2024-05-01T12:00:00.000Z'],
    ['389-DS pwdUpdateTime', { pwdupdatetime: ['20240601120000Z'] }, '2024-06-01T12:00:00.000Z'],
    ['the later of pwdChangedTime and pwdUpdateTime', { pwdchangedtime: ['20240501120000Z'], pwdupdatetime: ['20240601120000Z'] }, '2024-06-01T12:00:00.000Z'],
    ['AD pwdLastSet', { pwdlastset: ['133589952000000000'] }, '2024-05-01T00:00:00.000Z'],
    ['AD pwdLastSet 0: must change at next logon', { pwdlastset: ['0'] }, MUST_CHANGE_PASSWORD],
    ['no attribute at all', {}, null],
    ['an empty value', { pwdchangedtime: [''] }, null],
    ['a value that does not parse', { pwdchangedtime: ['soon'] }, null],
  ];
  for (const [name, attributes, expected] of entries) it(`reads ${name}`, () => assert.equal(readPasswordChangedAt(entry(attributes)), expected));

  it('is requested by name and mapped onto the user', () => {
    const settings = {
      baseDn: 'dc=example,dc=org',
      scope: 'sub',
      filter: '(uid=*)',
      uniqueIdAttribute: 'auto',
      usernameAttribute: ['uid'],
      emailAttribute: 'mail',
      firstNameAttribute: 'givenName',
      lastNameAttribute: 'sn',
      displayNameAttribute: 'displayName',
    } as const;
    const requested = userAttributesToRequest({ ...settings, usernameAttribute: ['uid'] }, 'entryUUID');
    for (const attribute of PASSWORD_CHANGE_ATTRIBUTES) assert.ok(requested.includes(attribute), attribute);
    const mapped = mapUserEntry(entry({ pwdchangedtime: ['20240501120000Z'] }), { ...settings, usernameAttribute: ['uid'] }, 'entryUUID');
    assert.ok('user' in mapped);
    assert.equal(mapped.user.passwordChangedAt, '2024-05-01T12:00:00.000Z');
    const without = mapUserEntry(entry({}), { ...settings, usernameAttribute: ['uid'] }, 'entryUUID');
    assert.ok('user' in without);
    assert.equal(without.user.passwordChangedAt, null);
  });
});
