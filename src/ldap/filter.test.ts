import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../errors.ts';
import type { DirectoryEntry } from './entry.ts';
import {
  and,
  contains,
  endsWith,
  eq,
  escapeFilterValue,
  extensible,
  type Filter,
  fillFilterTemplate,
  formatFilter,
  LDAP_MATCHING_RULE_IN_CHAIN,
  matchesFilter,
  needsServerEvaluation,
  not,
  or,
  parseFilter,
  parseFilterTemplate,
  present,
  startsWith,
} from './filter.ts';

const isInvalidFilter = (error: unknown): boolean => isDirbridgeError(error, 'directory.invalid_filter');

describe('escapeFilterValue', () => {
  const cases: Array<[string | Buffer, string]> = [
    ['plain', 'plain'],
    ['*', '\\2a'],
    ['*)(uid=*', '\\2a\\29\\28uid=\\2a'],
    ['admin)(|(uid=*', 'admin\\29\\28|\\28uid=\\2a'],
    ['a\\b', 'a\\5cb'],
    ['nul\u0000', 'nul\\00'],
    ['René', 'René'],
    [Buffer.from([0x10, 0x32, 0xff]), '\\10\\32\\ff'],
    [Buffer.from('abc'), '\\61\\62\\63'],
  ];
  for (const [value, expected] of cases) it(`escapes ${JSON.stringify(value)}`, () => assert.equal(escapeFilterValue(value), expected));
});

describe('builders and formatFilter', () => {
  const cases: Array<[Filter, string]> = [
    [and(eq('uid', 'jdoe'), present('mail')), '(&(uid=jdoe)(mail=*))'],
    [or(eq('cn', 'a'), not(eq('cn', 'b'))), '(|(cn=a)(!(cn=b)))'],
    [eq('uid', '*'), '(uid=\\2a)'],
    [eq('uid', '*)(uid=*'), '(uid=\\2a\\29\\28uid=\\2a)'],
    [eq('uid', 'admin)(|(uid=*'), '(uid=admin\\29\\28|\\28uid=\\2a)'],
    [eq('uid', 'x\u0000'), '(uid=x\\00)'],
    [startsWith('cn', 'Jo*'), '(cn=Jo\\2a*)'],
    [endsWith('cn', 'son'), '(cn=*son)'],
    [contains('cn', '(x)'), '(cn=*\\28x\\29*)'],
    [contains('cn', ''), '(cn=*)'],
    [eq('objectGUID', Buffer.from([0x10, 0xff])), '(objectGUID=\\10\\ff)'],
    [extensible({ attribute: 'memberOf', matchingRule: LDAP_MATCHING_RULE_IN_CHAIN, value: 'cn=g,dc=e' }), '(memberOf:1.2.840.113556.1.4.1941:=cn=g,dc=e)'],
    [extensible({ matchingRule: '2.5.13.2', dnAttributes: true, value: 'x' }), '(:dn:2.5.13.2:=x)'],
    [and(), '(&)'],
  ];
  for (const [filter, text] of cases) {
    it(`formats ${text}`, () => {
      assert.equal(formatFilter(filter), text);
      assert.deepEqual(parseFilter(text), filter, 'parse(format(f)) round-trips');
    });
  }
  it('rejects attribute descriptions that are not names', () => {
    assert.throws(() => eq('uid=x)(cn', 'v'), isInvalidFilter);
    assert.throws(() => present('*'), isInvalidFilter);
    assert.throws(() => extensible({ value: 'x' }), isInvalidFilter);
  });
});

describe('parseFilter', () => {
  const cases: Array<[string, Filter]> = [
    ['(uid=jdoe)', { type: 'equality', attribute: 'uid', value: 'jdoe' }],
    ['uid=jdoe', { type: 'equality', attribute: 'uid', value: 'jdoe' }],
    ['(cn=*)', { type: 'present', attribute: 'cn' }],
    ['(cn=)', { type: 'equality', attribute: 'cn', value: '' }],
    ['(cn=a*b*c)', { type: 'substrings', attribute: 'cn', initial: 'a', any: ['b'], final: 'c' }],
    ['(cn=*b*)', { type: 'substrings', attribute: 'cn', any: ['b'] }],
    ['(cn=\\2a)', { type: 'equality', attribute: 'cn', value: '*' }],
    ['(cn=Ren\\c3\\a9)', { type: 'equality', attribute: 'cn', value: 'René' }],
    ['(cn=René)', { type: 'equality', attribute: 'cn', value: 'René' }],
    ['(objectGUID=\\10\\32\\ff)', { type: 'equality', attribute: 'objectGUID', value: Buffer.from([0x10, 0x32, 0xff]) }],
    ['(cn=\\00)', { type: 'equality', attribute: 'cn', value: '\u0000' }],
    ['(uidNumber>=1000)', { type: 'greaterOrEqual', attribute: 'uidNumber', value: '1000' }],
    ['(uidNumber<=1000)', { type: 'lessOrEqual', attribute: 'uidNumber', value: '1000' }],
    ['(cn~=jon)', { type: 'approx', attribute: 'cn', value: 'jon' }],
    ['(cn;lang-en=x)', { type: 'equality', attribute: 'cn;lang-en', value: 'x' }],
    ['(2.5.4.3=x)', { type: 'equality', attribute: '2.5.4.3', value: 'x' }],
    ['(cn:caseExactMatch:=Fred)', { type: 'extensible', attribute: 'cn', matchingRule: 'caseExactMatch', dnAttributes: false, value: 'Fred' }],
    ['(cn:dn:2.4.6.8.10:=Dino)', { type: 'extensible', attribute: 'cn', matchingRule: '2.4.6.8.10', dnAttributes: true, value: 'Dino' }],
    ['(o:dn:=Ace)', { type: 'extensible', attribute: 'o', dnAttributes: true, value: 'Ace' }],
    ['(cn:=x)', { type: 'extensible', attribute: 'cn', dnAttributes: false, value: 'x' }],
    ['(:1.2.3:=x)', { type: 'extensible', matchingRule: '1.2.3', dnAttributes: false, value: 'x' }],
    [
      '(userAccountControl:1.2.840.113556.1.4.803:=2)',
      { type: 'extensible', attribute: 'userAccountControl', matchingRule: '1.2.840.113556.1.4.803', dnAttributes: false, value: '2' },
    ],
    [
      ' (& (a=1) (|(b=2)) (!(c=3)) ) ',
      {
        type: 'and',
        filters: [
          { type: 'equality', attribute: 'a', value: '1' },
          { type: 'or', filters: [{ type: 'equality', attribute: 'b', value: '2' }] },
          { type: 'not', filter: { type: 'equality', attribute: 'c', value: '3' } },
        ],
      },
    ],
    ['(|)', { type: 'or', filters: [] }],
    ['(cn=#{name})', { type: 'equality', attribute: 'cn', value: '#{name}' }],
  ];
  for (const [text, expected] of cases) it(`parses ${text}`, () => assert.deepEqual(parseFilter(text), expected));

  const invalid: Array<[string, number]> = [
    ['', 0],
    ['(uid=a', 6],
    ['(uid=a))', 7],
    ['((uid=a)', 1],
    ['(uid=a(b)', 6],
    ['(uid=\\2)', 5],
    ['(uid=\\zz)', 5],
    ['(=a)', 1],
    ['(uid~a)', 4],
    ['(cn=a**b)', 8],
    ['(&(a=1)x)', 7],
    ['(!(a=1)(b=2))', 7],
    ['(:=x)', 1],
    ['(u id=x)', 2],
    ['(uid=a)(uid=b)', 7],
    ['(uid=a\u0000)', 6],
  ];
  for (const [text, position] of invalid) {
    it(`rejects ${JSON.stringify(text)} at position ${position}`, () => {
      assert.throws(
        () => parseFilter(text),
        (error: unknown) =>
          isInvalidFilter(error) && isDirbridgeError(error) && error.details['position'] === position && error.message.includes(`position ${position}`),
      );
    });
  }
});

describe('filter templates', () => {
  const template = parseFilterTemplate('(&(objectClass=person)(|(uid=#{username})(mail=#{username}))(cn=#{prefix}*))', ['username', 'prefix']);

  it('lists the placeholders it uses', () => assert.deepEqual(template.placeholders, ['username', 'prefix']));

  const injections: Array<[string, string]> = [
    ['jdoe', '(&(objectClass=person)(|(uid=jdoe)(mail=jdoe))(cn=J*))'],
    ['*', '(&(objectClass=person)(|(uid=\\2a)(mail=\\2a))(cn=J*))'],
    ['*)(uid=*', '(&(objectClass=person)(|(uid=\\2a\\29\\28uid=\\2a)(mail=\\2a\\29\\28uid=\\2a))(cn=J*))'],
    ['admin)(|(uid=*', '(&(objectClass=person)(|(uid=admin\\29\\28|\\28uid=\\2a)(mail=admin\\29\\28|\\28uid=\\2a))(cn=J*))'],
    ['a\u0000b', '(&(objectClass=person)(|(uid=a\\00b)(mail=a\\00b))(cn=J*))'],
    ['\\2a', '(&(objectClass=person)(|(uid=\\5c2a)(mail=\\5c2a))(cn=J*))'],
    ['#{prefix}', '(&(objectClass=person)(|(uid=#{prefix})(mail=#{prefix}))(cn=J*))'],
  ];
  for (const [username, expected] of injections) {
    it(`substitutes ${JSON.stringify(username)} as data`, () => {
      const filter = fillFilterTemplate(template, { username, prefix: 'J' });
      assert.equal(formatFilter(filter), expected);
      const eqNode = filter.type === 'and' ? filter.filters[1] : undefined;
      assert.deepEqual(eqNode?.type === 'or' ? eqNode.filters[0] : undefined, { type: 'equality', attribute: 'uid', value: username });
    });
  }

  it('keeps literal parts around a placeholder and escapes inside substrings', () => {
    const t = parseFilterTemplate('(cn=pre-#{x}-\\2a*#{x}*)', ['x']);
    assert.deepEqual(fillFilterTemplate(t, { x: '*' }), { type: 'substrings', attribute: 'cn', initial: 'pre-*-*', any: ['*'] });
  });
  it('drops empty substring pieces, never widening an equality', () => {
    const t = parseFilterTemplate('(cn=#{x}*)', ['x']);
    assert.deepEqual(fillFilterTemplate(t, { x: '' }), { type: 'present', attribute: 'cn' });
    const e = parseFilterTemplate('(uid=#{x})', ['x']);
    assert.deepEqual(fillFilterTemplate(e, { x: '' }), { type: 'equality', attribute: 'uid', value: '' });
  });
  it('rejects unknown placeholders, placeholders outside values and missing values', () => {
    assert.throws(() => parseFilterTemplate('(uid=#{user})', ['username']), isInvalidFilter);
    assert.throws(() => parseFilterTemplate('(#{attr}=x)', ['attr']), /only in assertion values/);
    assert.throws(() => parseFilterTemplate('(uid=#{username)', ['username']), isInvalidFilter);
    assert.throws(() => parseFilterTemplate('(uid=#x)', ['username']), /literal # as \\23/);
    assert.throws(() => fillFilterTemplate(template, { username: 'x' }), /no value for placeholder #\{prefix\}/);
    assert.throws(() => fillFilterTemplate(parseFilterTemplate('(uid=#{toString})', ['toString']), {}), isInvalidFilter);
  });
  it('accepts a literal # written as \\23', () => {
    assert.deepEqual(fillFilterTemplate(parseFilterTemplate('(cn=\\23#{x})', ['x']), { x: '1' }), { type: 'equality', attribute: 'cn', value: '#1' });
  });
});

describe('matchesFilter', () => {
  const guid = Buffer.from([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
  const entry: DirectoryEntry = {
    dn: 'uid=jdoe,ou=People,dc=example,dc=com',
    attributes: {
      objectclass: ['top', 'inetOrgPerson'],
      uid: ['jdoe'],
      cn: ['John  Doe'],
      mail: ['John.Doe@Example.com'],
      uidnumber: ['1500'],
      memberof: ['CN=Admins,OU=Groups,DC=Example,DC=com'],
      useraccountcontrol: ['514'],
      objectguid: [guid],
      owner: ['cn=Smith\\, John,dc=example,dc=com'],
    },
  };
  const cases: Array<[string, boolean | undefined]> = [
    ['(uid=JDOE)', true],
    ['(objectClass=INETORGPERSON)', true],
    ['(objectClass=*)', true],
    ['(cn=john doe)', true],
    ['(mail=*@example.com)', true],
    ['(mail=john*doe*)', true],
    ['(mail=john*example*doe*)', false],
    ['(cn=J*n*Doe)', true],
    ['(cn=John*hn D*)', false],
    ['(sn=*)', false],
    ['(!(sn=x))', true],
    ['(memberOf=cn=admins,ou=groups,dc=example,dc=com)', true],
    ['(memberOf=cn=admins , ou=groups,dc=example,dc=com)', true],
    ['(owner=CN=smith\\5c, john,DC=example,DC=com)', true],
    ['(memberOf=cn=users,ou=groups,dc=example,dc=com)', false],
    ['(distinguishedName=UID=JDOE,OU=People,DC=example,DC=com)', true],
    ['(uidNumber>=1000)', true],
    ['(uidNumber>=20000)', false],
    ['(uidNumber<=1500)', true],
    ['(userAccountControl:1.2.840.113556.1.4.803:=2)', true],
    ['(!(userAccountControl:1.2.840.113556.1.4.803:=2))', false],
    ['(userAccountControl:1.2.840.113556.1.4.804:=3)', true],
    ['(uid:caseExactMatch:=JDOE)', false],
    ['(uid:caseExactMatch:=jdoe)', true],
    ['(uid:2.5.13.2:=JDOE)', true],
    ['(objectGUID=\\10\\32\\54\\76\\98\\ba\\dc\\fe\\01\\23\\45\\67\\89\\ab\\cd\\ef)', true],
    ['(objectGUID=\\10\\32)', false],
    ['(memberOf:1.2.840.113556.1.4.1941:=cn=admins,ou=groups,dc=example,dc=com)', undefined],
    ['(cn:1.2.3.4:=x)', undefined],
    ['(ou:dn:=People)', undefined],
    ['(&(uid=jdoe)(memberOf:1.2.840.113556.1.4.1941:=cn=x))', undefined],
    ['(&(uid=other)(memberOf:1.2.840.113556.1.4.1941:=cn=x))', false],
    ['(|(uid=jdoe)(memberOf:1.2.840.113556.1.4.1941:=cn=x))', true],
    ['(|(uid=other)(memberOf:1.2.840.113556.1.4.1941:=cn=x))', undefined],
    ['(!(memberOf:1.2.840.113556.1.4.1941:=cn=x))', undefined],
    ['(&)', true],
    ['(|)', false],
  ];
  for (const [text, expected] of cases) it(`${text} → ${String(expected)}`, () => assert.equal(matchesFilter(entry, parseFilter(text)), expected));

  it('compares caller-supplied DN attributes as DNs', () => {
    const e: DirectoryEntry = { dn: 'cn=x', attributes: { sponsor: ['CN=A,DC=E'] } };
    assert.equal(matchesFilter(e, eq('sponsor', 'cn=a, dc=e')), false);
    assert.equal(matchesFilter(e, eq('sponsor', 'cn=a, dc=e'), { dnAttributes: ['Sponsor'] }), true);
  });
  it('needsServerEvaluation', () => {
    assert.equal(needsServerEvaluation(parseFilter('(&(uid=a)(userAccountControl:1.2.840.113556.1.4.803:=2))')), false);
    assert.equal(needsServerEvaluation(parseFilter('(|(uid=a)(memberOf:1.2.840.113556.1.4.1941:=cn=x))')), true);
  });
});
