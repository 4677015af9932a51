import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { entry } from '../../test/helpers/memory-directory.ts';
import { matchesFilter, parseFilter } from './filter.ts';
import { memberKey, parseBitString, splitUniqueMember, uniqueIdentifiersOf, uniqueMemberEquals, uniqueMemberKey, uniqueMemberValue } from './unique-member.ts';

const A = 'uid=a,ou=people,dc=example,dc=org';

describe('uniqueMember values (RFC 4517 Name And Optional UID)', () => {
  it('splits the UID after the last unescaped #, and only a bit string', () => {
    assert.deepEqual(splitUniqueMember(`${A}#'0101'B`), { dn: A, uid: '0101' });
    assert.deepEqual(splitUniqueMember(`${A}#''B`), { dn: A, uid: '' });
    assert.deepEqual(splitUniqueMember(A), { dn: A });
    assert.deepEqual(splitUniqueMember(`${A}#'0121'B`), { dn: `${A}#'0121'B` });
    assert.deepEqual(splitUniqueMember(`cn=x\\#'01'B,dc=org`), { dn: `cn=x\\#'01'B,dc=org` });
    assert.deepEqual(splitUniqueMember(`cn=x\\#'01'B`), { dn: `cn=x\\#'01'B` });
    assert.deepEqual(splitUniqueMember(`cn=x\\\\#'01'B`), { dn: 'cn=x\\\\', uid: '01' });
  });

  it('parses bit strings and builds values', () => {
    assert.equal(parseBitString("'0101'B"), '0101');
    assert.equal(parseBitString(" '1'B "), '1');
    assert.equal(parseBitString("'0102'B"), undefined);
    assert.equal(parseBitString('0101'), undefined);
    assert.equal(uniqueMemberValue(A, '0101'), `${A}#'0101'B`);
    assert.throws(() => uniqueMemberValue(A, "1'B)(uid=*"), /not a bit string/);
  });

  it('matches like slapd 2.5 and 389-DS 2.3 (measured): DN by RFC 4514, UIDs both absent or equal', () => {
    assert.equal(uniqueMemberEquals(A, 'UID=A, OU=People,DC=example,DC=org'), true);
    assert.equal(uniqueMemberEquals(`${A}#'0101'B`, `UID=A,OU=People,DC=Example,DC=Org#'0101'B`), true);
    assert.equal(uniqueMemberEquals(`${A}#'0101'B`, A), false);
    assert.equal(uniqueMemberEquals(`${A}#'0101'B`, `${A}#'101'B`), false);
    assert.equal(uniqueMemberEquals(`${A}#'0101'B`, `${A}#'1100'B`), false);
    assert.equal(uniqueMemberKey(`UID=A, OU=People,DC=example,DC=org#'0101'B`), memberKey(A, '0101'));
    assert.notEqual(uniqueMemberKey(`${A}#'0101'B`), uniqueMemberKey(A));
  });

  it("reads an entry's unique identifiers, ignoring what is not a bit string", () => {
    assert.deepEqual(uniqueIdentifiersOf(entry(A, { x500UniqueIdentifier: ["'0101'B", "'0101'B", "'11'B", 'junk', Buffer.from([1])] })), ['0101', '11']);
    assert.deepEqual(uniqueIdentifiersOf(entry(A, {})), []);
  });

  it("gives matchesFilter the servers' answers, equality and approximate", () => {
    const groups = {
      plain: entry('cn=plain,dc=org', { uniqueMember: [A] }),
      withUid: entry('cn=withuid,dc=org', { uniqueMember: [`${A}#'0101'B`] }),
      otherUid: entry('cn=otheruid,dc=org', { uniqueMember: [`${A}#'1100'B`] }),
      both: entry('cn=both,dc=org', { uniqueMember: [A, `${A}#'0101'B`] }),
    };
    const matching = (filter: string) =>
      Object.entries(groups)
        .filter(([, group]) => matchesFilter(group, parseFilter(filter)) === true)
        .map(([name]) => name);
    // The table measured on slapd 2.5.13 and 389-DS 2.3.1, with and without an equality index on uniqueMember.
    assert.deepEqual(matching(`(uniqueMember=${A})`), ['plain', 'both']);
    assert.deepEqual(matching(`(uniqueMember=UID=A, OU=People,DC=example,DC=org)`), ['plain', 'both']);
    assert.deepEqual(matching(`(uniqueMember=${A}#'0101'B)`), ['withUid', 'both']);
    assert.deepEqual(matching(`(uniqueMember=${A}#'101'B)`), []);
    assert.deepEqual(matching(`(uniqueMember=${A}#'1100'B)`), ['otherUid']);
    assert.deepEqual(matching(`(uniqueMember~=${A})`), ['plain', 'withUid', 'otherUid', 'both']);
    assert.deepEqual(matching(`(uniqueMember:uniqueMemberMatch:=${A})`), ['plain', 'both']);
    // member is DN syntax: a `#'…'B` tail is part of its DN there.
    assert.equal(matchesFilter(entry('cn=g,dc=org', { member: [`${A}#'0101'B`] }), parseFilter(`(member=${A})`)), false);
  });
});
