import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatFilter, parseFilter } from '../../ldap/filter.ts';
import { dirSyncFilterOf, filterAttributes } from './dirsync-feed.ts';

describe('dirSyncFilterOf', () => {
  it('keeps only the top-level objectClass conditions, which hold for an object for life and for its tombstone', () => {
    const cases: Array<[string, string]> = [
      ['(&(objectClass=user)(objectCategory=person)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))', '(objectClass=user)'],
      ['(objectClass=group)', '(objectClass=group)'],
      ['(&(objectClass=top)(objectClass=group)(cn=app-*))', '(&(objectClass=top)(objectClass=group))'],
      ['(|(objectClass=user)(objectClass=contact))', '(objectClass=*)'],
      ['(&(objectCategory=person)(mail=*))', '(objectClass=*)'],
      ['(!(objectClass=computer))', '(objectClass=*)'],
    ];
    for (const [query, expected] of cases) assert.equal(formatFilter(dirSyncFilterOf(query)), expected, query);
  });
});

describe('filterAttributes', () => {
  it('lists the attributes a filter tests, lower-cased', () => {
    assert.deepEqual(
      [...(filterAttributes(parseFilter('(&(objectClass=group)(|(cn=a*)(!(Member=*)))(userAccountControl:1.2.840.113556.1.4.803:=2))')) ?? [])].sort(),
      ['cn', 'member', 'objectclass', 'useraccountcontrol'],
    );
  });
  it('is undefined for a filter that matches DN components, which a rename or a move can change', () => {
    assert.equal(filterAttributes(parseFilter('(&(objectClass=user)(ou:dn:=People))')), undefined);
    assert.equal(filterAttributes(parseFilter('(:1.2.3:=x)')), undefined);
  });
});
