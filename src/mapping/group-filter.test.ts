import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../errors.ts';
import type { AttributeValue, DirectoryEntry } from '../ldap/entry.ts';
import { type Filter, fillFilterTemplate, formatFilter, matchesFilter, parseFilter, parseFilterTemplate } from '../ldap/filter.ts';
import {
  attributesFor,
  candidateReadFilter,
  fastFill,
  GROUP_FILTER_PLACEHOLDERS,
  type GroupEntryIndex,
  inChainQuery,
  indexGroupEntries,
  isLocallyEvaluable,
  matchingEntries,
  memberGroupQuery,
  parseGroupQuery,
  resolvesNesting,
  userGroupNames,
  withMemberUniqueIdentifiers,
} from './group-filter.ts';

/** An entry as `directory/` produces it: attribute names lower-cased. */
const entry = (dn: string, attributes: Record<string, AttributeValue | AttributeValue[]>): DirectoryEntry => ({
  dn,
  attributes: Object.fromEntries(Object.entries(attributes).map(([name, value]) => [name.toLowerCase(), Array.isArray(value) ? value : [value]])),
});

/** The answer `matchingEntries` must give: `matchesFilter` over every entry. */
const bruteForce = (entries: readonly DirectoryEntry[], filter: Filter, dnAttributes?: readonly string[]): DirectoryEntry[] | undefined => {
  const matched: DirectoryEntry[] = [];
  for (const candidate of entries) {
    const result = matchesFilter(candidate, filter, dnAttributes === undefined ? {} : { dnAttributes });
    if (result === undefined) return undefined;
    if (result) matched.push(candidate);
  }
  return matched;
};

/** `userGroupNames` computed the slow way, straight from the seed's description. */
const bruteForceNames = (
  entries: readonly DirectoryEntry[],
  text: string,
  strategy: 'each' | 'once',
  user: { username: string; dn: string },
  groupNames: readonly string[],
  nameAttributes: readonly string[],
): string[] | undefined => {
  const template = parseFilterTemplate(text, GROUP_FILTER_PLACEHOLDERS);
  if (strategy === 'each') {
    const out: string[] = [];
    for (const groupName of groupNames) {
      const matched = bruteForce(entries, fillFilterTemplate(template, { username: user.username, userdn: user.dn, groupName }));
      if (matched === undefined) return undefined;
      if (matched.length > 0 && !out.includes(groupName)) out.push(groupName);
    }
    return out;
  }
  const matched = bruteForce(entries, fillFilterTemplate(template, { username: user.username, userdn: user.dn }));
  if (matched === undefined) return undefined;
  const names = new Set(
    matched.flatMap((found) => nameAttributes.map((attribute) => String(found.attributes[attribute.toLowerCase()]?.[0] ?? '').toLowerCase())),
  );
  return groupNames.filter((name, position) => names.has(name.toLowerCase()) && groupNames.indexOf(name) === position);
};

const SEED_FILTER = '(&(cn=#{groupName})(memberUid=#{username}))';
const DEFAULT_FILTER = '(&(cn=#{groupName})(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username})))';
const IN_CHAIN = '(member:1.2.840.113556.1.4.1941:=#{userdn})';

const directory: DirectoryEntry[] = [
  entry('cn=devs,ou=groups,dc=example', { objectClass: ['top', 'posixGroup'], cn: 'devs', memberUid: ['jo', 'Ann'] }),
  entry('cn=Ops,ou=groups,dc=example', { objectClass: 'posixGroup', cn: 'Ops', ou: 'Operations', memberUid: 'bob' }),
  entry('cn=admins,ou=groups,dc=example', {
    objectClass: 'groupOfNames',
    cn: 'Admins',
    member: ['UID=Jo,OU=People,DC=Example', 'uid=bob,ou=people,dc=example'],
  }),
  entry('cn=support,ou=groups,dc=example', { objectClass: 'groupOfUniqueNames', cn: 'support', uniqueMember: 'cn=Smith\\2C John,ou=people,dc=example' }),
  entry('cn=literal,ou=groups,dc=example', { objectClass: 'posixGroup', cn: 'literal', memberUid: ['a*', '*)(memberUid=*'] }),
  entry('cn=empty,ou=groups,dc=example', { objectClass: 'groupOfNames', cn: 'empty', member: 'cn=nobody' }),
];
const groupIndex = indexGroupEntries(directory);
const ALL_NAMES = ['devs', 'ops', 'admins', 'support', 'literal', 'empty', 'missing'];

const jo = { username: 'jo', dn: 'uid=jo,ou=people,dc=example' };
const bob = { username: 'bob', dn: 'uid=bob,ou=people,dc=example' };
const smith = { username: 'jsmith', dn: 'cn=Smith\\, John,ou=People,dc=Example' };

describe('parseGroupQuery', () => {
  it('accepts the seed example and the default filter with either strategy that fits', () => {
    assert.deepEqual(parseGroupQuery(SEED_FILTER, 'each').template.placeholders, ['groupName', 'username']);
    assert.equal(parseGroupQuery('(&(objectClass=groupOfNames)(member=#{userdn}))', 'once').strategy, 'once');
    assert.equal(parseGroupQuery(DEFAULT_FILTER, 'each').template.text, DEFAULT_FILTER);
  });

  const rejected: { name: string; text: string; strategy: 'each' | 'once'; allowed?: readonly string[]; message: RegExp }[] = [
    { name: '#{groupName} with once', text: SEED_FILTER, strategy: 'once', message: /#\{groupName\}.*"once" strategy/ },
    { name: 'unknown placeholder', text: '(&(cn=#{group})(memberUid=#{username}))', strategy: 'each', message: /unknown placeholder #\{group\}/ },
    {
      name: 'placeholder outside the allowed list',
      text: '(member=#{userdn})',
      strategy: 'once',
      allowed: ['username'],
      message: /unknown placeholder #\{userdn\}/,
    },
    { name: 'placeholder in an attribute name', text: '(#{groupName}=x)', strategy: 'each', message: /placeholders may appear only in assertion values/ },
    { name: 'bad syntax', text: '(&(cn=a)', strategy: 'each', message: /not valid/ },
  ];
  for (const { name, text, strategy, allowed, message } of rejected) {
    it(`rejects ${name} as settings.invalid`, () => {
      assert.throws(
        () => parseGroupQuery(text, strategy, allowed),
        (error: unknown) => isDirbridgeError(error, 'settings.invalid') && message.test(error.message),
      );
    });
  }
});

describe('candidateReadFilter and attributesFor', () => {
  const cases: { text: string; read: string; attributes: string[] }[] = [
    { text: SEED_FILTER, read: '(&(cn=*)(memberUid=*))', attributes: ['cn', 'memberUid'] },
    { text: '(&(objectClass=groupOfNames)(member=#{userdn}))', read: '(&(objectClass=groupOfNames)(member=*))', attributes: ['objectClass', 'member'] },
    { text: DEFAULT_FILTER, read: '(&(cn=*)(|(member=*)(uniqueMember=*)(memberUid=*)))', attributes: ['cn', 'member', 'uniqueMember', 'memberUid'] },
    { text: '(&(cn=a\\2ab\\29)(uniqueMember=#{userdn}))', read: '(&(cn=a\\2ab\\29)(uniqueMember=*))', attributes: ['cn', 'uniqueMember'] },
    { text: '(&(cn=grp-#{groupName}*)(!(memberUid=#{username}))(!(cn=x)))', read: '(&(cn=*)(objectClass=*)(!(cn=x)))', attributes: ['cn', 'memberUid'] },
    {
      text: '(&(ou:dn:=#{groupName})(MemberUid=#{username})(memberuid=x))',
      read: '(&(objectClass=*)(MemberUid=*)(memberuid=x))',
      attributes: ['ou', 'MemberUid'],
    },
    { text: IN_CHAIN, read: '(member=*)', attributes: ['member'] },
    { text: '(&(objectClass=group)(member=*))', read: '(&(objectClass=group)(member=*))', attributes: ['objectClass', 'member'] },
  ];
  for (const { text, read, attributes } of cases) {
    it(`reads ${text} as ${read}`, () => {
      const query = parseGroupQuery(text, 'each');
      assert.equal(formatFilter(candidateReadFilter(query)), read);
      assert.deepEqual(attributesFor(query, []), attributes);
      assert.deepEqual(attributesFor(query, ['CN', 'ou', 'description']), [
        ...attributes,
        ...['CN', 'ou', 'description'].filter((extra) => !attributes.some((a) => a.toLowerCase() === extra.toLowerCase())),
      ]);
    });
  }

  it('is a superset of every filled filter on the fixture', () => {
    for (const text of [SEED_FILTER, DEFAULT_FILTER, '(&(cn=*#{groupName}*)(!(memberUid=#{username})))']) {
      const query = parseGroupQuery(text, 'each');
      const read = new Set(bruteForce(directory, candidateReadFilter(query)));
      for (const user of [jo, bob, smith]) {
        for (const groupName of ALL_NAMES) {
          for (const found of bruteForce(directory, fillFilterTemplate(query.template, { username: user.username, userdn: user.dn, groupName })) ?? []) {
            assert.ok(read.has(found), `${found.dn} matches ${text} but is not read`);
          }
        }
      }
    }
  });
});

describe('isLocallyEvaluable', () => {
  const cases: [string, boolean][] = [
    [SEED_FILTER, true],
    [DEFAULT_FILTER, true],
    ['(&(objectClass=group)(groupType:1.2.840.113556.1.4.803:=2147483648)(member=#{userdn}))', true],
    [IN_CHAIN, false],
    [`(&(objectClass=group)${IN_CHAIN})`, false],
    ['(&(cn=#{groupName})(member:1.2.3.4.5:=#{userdn}))', false],
    ['(&(cn=#{groupName})(ou:dn:=people))', false],
    ['(&(cn=#{groupName})(flags:1.2.840.113556.1.4.803:=#{username}))', false],
  ];
  for (const [text, expected] of cases) {
    it(`${text} → ${expected}`, () => {
      const query = parseGroupQuery(text, 'each');
      assert.equal(isLocallyEvaluable(query), expected);
      if (!expected) assert.equal(userGroupNames(groupIndex, query, jo, ALL_NAMES, ['cn']), undefined);
    });
  }

  it('matchingEntries returns undefined for the AD in-chain rule', () => {
    assert.equal(matchingEntries(groupIndex, parseFilter('(member:1.2.840.113556.1.4.1941:=uid=jo,ou=people,dc=example)')), undefined);
  });
});

describe('inChainQuery', () => {
  const groupSide = (text: string, strategy: 'each' | 'once' = 'each') => {
    const found = inChainQuery(parseGroupQuery(text, strategy));
    if (found === undefined) return undefined;
    const filled = fillFilterTemplate(found.groupSide, found.usesGroupName ? { groupName: 'G*(1)' } : {});
    return { text: formatFilter(filled), usesGroupName: found.usesGroupName };
  };

  it('splits a conjunction holding the in-chain test on member into its group-side conditions (and member=*, which it implies)', () => {
    assert.deepEqual(groupSide(IN_CHAIN, 'once'), { text: '(member=*)', usesGroupName: false });
    assert.deepEqual(groupSide(`(&(cn=#{groupName})${IN_CHAIN})`), { text: '(&(cn=G\\2a\\281\\29)(member=*))', usesGroupName: true });
    assert.deepEqual(groupSide(`(&(objectClass=group)(&(|(cn=#{groupName})(sAMAccountName=#{groupName}))${IN_CHAIN}))`), {
      text: '(&(objectClass=group)(|(cn=G\\2a\\281\\29)(sAMAccountName=G\\2a\\281\\29))(member=*))',
      usesGroupName: true,
    });
    assert.deepEqual(groupSide(`(&(objectClass=group)(!(cn=Cycle*))(MEMBER:1.2.840.113556.1.4.1941:=#{userdn}))`, 'once'), {
      text: '(&(objectClass=group)(!(cn=Cycle*))(member=*))',
      usesGroupName: false,
    });
    assert.deepEqual(groupSide(`(&(cn=Engineering)${IN_CHAIN})`), { text: '(&(cn=Engineering)(member=*))', usesGroupName: false });
  });

  const kept: [string, string][] = [
    ['under OR', `(|(cn=#{groupName})${IN_CHAIN})`],
    ['under NOT', `(&(cn=#{groupName})(!${IN_CHAIN}))`],
    ['another attribute', '(&(cn=#{groupName})(uniqueMember:1.2.840.113556.1.4.1941:=#{userdn}))'],
    ['a value with more than the DN', '(&(cn=#{groupName})(member:1.2.840.113556.1.4.1941:=x#{userdn}))'],
    ['the user name on the group side', `(&(cn=#{groupName})(memberUid=#{username})${IN_CHAIN})`],
    ['the user DN on the group side', `(&(cn=#{groupName})(|(member=#{userdn})(owner=#{userdn}))${IN_CHAIN})`],
    ['a :dn match', '(&(cn=#{groupName})(member:dn:1.2.840.113556.1.4.1941:=#{userdn}))'],
    ['the rule on a literal DN', '(&(cn=#{groupName})(member:1.2.840.113556.1.4.1941:=cn=x,dc=example)(member=#{userdn}))'],
    ['another server-only rule', '(&(cn=#{groupName})(member:1.2.3.4:=#{userdn}))'],
  ];
  for (const [name, text] of kept) {
    it(`keeps the per-user queries for ${name}`, () => {
      assert.equal(groupSide(text), undefined);
    });
  }
});

describe('userGroupNames', () => {
  const cases: {
    name: string;
    text: string;
    strategy: 'each' | 'once';
    user: { username: string; dn: string };
    groupNames?: string[];
    nameAttributes?: string[];
    expected: string[];
  }[] = [
    { name: 'seed example, each', text: SEED_FILTER, strategy: 'each', user: jo, expected: ['devs'] },
    { name: 'seed example, other user', text: SEED_FILTER, strategy: 'each', user: bob, expected: ['ops'] },
    {
      name: 'case-insensitive values, spelling from groupNames',
      text: SEED_FILTER,
      strategy: 'each',
      user: { username: 'ANN', dn: 'x=1' },
      groupNames: ['DEVS', 'Devs', 'ops'],
      expected: ['DEVS', 'Devs'],
    },
    { name: 'case-insensitive attribute names', text: '(&(CN=#{groupName})(MEMBERUID=#{username}))', strategy: 'each', user: jo, expected: ['devs'] },
    {
      name: 'groupOfNames, once, DN spelled differently',
      text: '(&(objectClass=groupOfNames)(member=#{userdn}))',
      strategy: 'once',
      user: jo,
      expected: ['admins'],
    },
    {
      name: 'DN with extra spaces',
      text: '(&(objectClass=GROUPOFNAMES)(member=#{userdn}))',
      strategy: 'once',
      user: { username: 'x', dn: 'uid = JO , ou=people,  dc=example' },
      expected: ['admins'],
    },
    { name: 'uniqueMember with an escaped comma', text: '(uniqueMember=#{userdn})', strategy: 'once', user: smith, expected: ['support'] },
    {
      name: 'uniqueMember, comma as \\2C on both sides',
      text: '(uniqueMember=#{userdn})',
      strategy: 'once',
      user: { username: 'x', dn: 'CN=smith\\2c john,ou=people,dc=example' },
      expected: ['support'],
    },
    { name: 'default filter, each, all three membership kinds', text: DEFAULT_FILTER, strategy: 'each', user: jo, expected: ['devs', 'admins'] },
    { name: 'default filter, each, uniqueMember', text: DEFAULT_FILTER, strategy: 'each', user: smith, expected: ['support'] },
    {
      name: 'once, several name attributes',
      text: '(|(memberUid=#{username})(member=#{userdn}))',
      strategy: 'once',
      user: bob,
      groupNames: ['operations', 'ADMINS', 'devs'],
      nameAttributes: ['cn', 'ou'],
      expected: ['operations', 'ADMINS'],
    },
    { name: 'once, name not mapped', text: '(member=#{userdn})', strategy: 'once', user: bob, groupNames: ['devs'], expected: [] },
    {
      name: 'each without #{groupName}: the same answer for every name',
      text: '(memberUid=#{username})',
      strategy: 'each',
      user: bob,
      groupNames: ['a', 'b'],
      expected: ['a', 'b'],
    },
    {
      name: 'injection: *)(memberUid=* is a literal (only an equal value matches)',
      text: SEED_FILTER,
      strategy: 'each',
      user: { username: '*)(memberUid=*', dn: 'x=1' },
      expected: ['literal'],
    },
    { name: 'injection: a* is not a wildcard', text: SEED_FILTER, strategy: 'each', user: { username: 'a*', dn: 'x=1' }, expected: ['literal'] },
    { name: 'injection: * alone matches nothing', text: SEED_FILTER, strategy: 'each', user: { username: '*', dn: '*' }, expected: [] },
    { name: 'injection in the DN', text: DEFAULT_FILTER, strategy: 'each', user: { username: 'zz', dn: 'uid=jo,ou=people,dc=example)(cn=*' }, expected: [] },
    { name: 'injection in a group name', text: SEED_FILTER, strategy: 'each', user: jo, groupNames: ['*', 'devs)(cn=*', 'd*'], expected: [] },
    {
      name: 'substring template with a user value',
      text: '(&(cn=#{groupName})(memberUid=*#{username}))',
      strategy: 'each',
      user: { username: 'NN', dn: 'x=1' },
      expected: ['devs'],
    },
    { name: 'negation', text: '(&(objectClass=posixGroup)(!(memberUid=#{username})))', strategy: 'once', user: jo, expected: ['ops', 'literal'] },
  ];
  for (const { name, text, strategy, user, groupNames = ALL_NAMES, nameAttributes = ['cn'], expected } of cases) {
    it(name, () => {
      const query = parseGroupQuery(text, strategy);
      assert.deepEqual(userGroupNames(groupIndex, query, user, groupNames, nameAttributes), expected);
      assert.deepEqual(bruteForceNames(directory, text, strategy, user, groupNames, nameAttributes), expected);
    });
  }

  it('uses dnAttributes from the index for DN comparison', () => {
    const entries = [entry('cn=g,dc=x', { cn: 'g', leader: 'UID=Jo, DC=X' })];
    const query = parseGroupQuery('(leader=#{userdn})', 'once');
    const user = { username: 'jo', dn: 'uid=jo,dc=x' };
    assert.deepEqual(userGroupNames(indexGroupEntries(entries), query, user, ['g'], ['cn']), []);
    assert.deepEqual(userGroupNames(indexGroupEntries(entries, { dnAttributes: ['Leader'] }), query, user, ['g'], ['cn']), ['g']);
  });
});

describe('matchingEntries agrees with matchesFilter over every entry', () => {
  const odd: DirectoryEntry[] = [
    ...directory,
    entry('cn=bin,dc=x', { cn: ['bin', Buffer.from([0xff, 0x00, 0x41])], memberUid: Buffer.from('Jo', 'utf8'), member: ['not a dn "at all"', 'cn=A"b'] }),
    entry('cn=dn-less,dc=x', { cn: 'dn-less', member: ['  UID=jo,ou=people,dc=EXAMPLE  ', 'cn=a＂b'] }),
    entry('cn=Same,dc=x', { cn: ['same', 'SAME', '  Same  '], distinguishedName: 'CN=Same,DC=X' }),
    entry('cn=nodn,dc=x', { cn: 'nodn' }),
    entry('cn=uids,dc=x', { cn: 'uids', uniqueMember: ["uid=a,ou=people,dc=example#'0101'B", 'uid=b,ou=people,dc=example', "not a dn#'01'B"] }),
    entry('cn=uid-less,dc=x', { cn: 'uid-less', uniqueMember: ['UID=A,ou=people,dc=example', "uid=a,ou=people,dc=example#'1100'B"] }),
  ];
  const index = indexGroupEntries(odd);
  const filters: Filter[] = [
    parseFilter('(cn=SAME)'),
    parseFilter('(cn=  same )'),
    parseFilter('(cn~=devs)'),
    parseFilter('(cn=\\ff\\00\\41)'),
    parseFilter('(cn=\\ff\\00\\42)'),
    parseFilter('(memberUid=Jo)'),
    parseFilter('(memberUid=jo)'),
    parseFilter('(member=not a dn "at all")'),
    parseFilter('(member=NOT A DN "AT ALL")'),
    parseFilter('(member=cn=a"b)'),
    parseFilter('(member=cn=a＂B)'),
    parseFilter('(member=uid=jo,ou=people,dc=example)'),
    parseFilter('(distinguishedName=cn=nodn,DC=X)'),
    parseFilter('(distinguishedName=cn=same,dc=x)'),
    parseFilter('(&(objectClass=posixGroup)(|(memberUid=jo)(memberUid=bob)))'),
    parseFilter('(|(cn=devs)(cn=ops)(description=x))'),
    parseFilter('(|(cn=devs)(!(cn=ops)))'),
    parseFilter('(&(!(cn=devs))(cn=*))'),
    parseFilter('(&)'),
    parseFilter('(|)'),
    parseFilter('(&(cn=devs)(cn=ops))'),
    parseFilter('(cn=missing)'),
    parseFilter('(flags:1.2.840.113556.1.4.803:=x)'),
    parseFilter("(uniqueMember=uid=a,ou=people,dc=example#'0101'B)"),
    parseFilter("(uniqueMember=UID=A, OU=People,DC=Example#'0101'B)"),
    parseFilter("(uniqueMember=uid=a,ou=people,dc=example#'101'B)"),
    parseFilter('(uniqueMember=uid=a,ou=people,dc=example)'),
    parseFilter('(uniqueMember~=uid=a,ou=people,dc=example)'),
    parseFilter("(uniqueMember=not a dn#'01'B)"),
    parseFilter("(uniqueMember=NOT A DN#'01'B)"),
  ];
  for (const filter of filters) {
    it(formatFilter(filter), () => {
      assert.deepEqual(matchingEntries(index, filter), bruteForce(odd, filter));
    });
  }
});

describe('groups as members: memberGroupQuery', () => {
  const cases: Array<[string, string | undefined]> = [
    [DEFAULT_FILTER, '(&(cn=#{groupName})(|(member=#{userdn})(uniqueMember=#{userdn})))'],
    [SEED_FILTER, undefined],
    ['(|(member=#{userdn})(memberUid=#{username}))', '(member=#{userdn})'],
    ['(&(cn=#{groupName})(member=#{userdn})(!(memberUid=#{username})))', '(&(cn=#{groupName})(member=#{userdn}))'],
    ['(&(cn=#{groupName})(!(&(memberUid=#{username})(cn=x))))', '(cn=#{groupName})'],
    ['(!(memberUid=#{username}))', '(objectClass=*)'],
    ['(&(objectClass=groupOfNames)(member=#{userdn}))', '(&(objectClass=groupOfNames)(member=#{userdn}))'],
  ];
  const text = (query: ReturnType<typeof memberGroupQuery>, values: Record<string, string>) =>
    query === undefined ? undefined : formatFilter(fillFilterTemplate(query.template, values));
  for (const [filter, expected] of cases) {
    it(`${filter} → ${expected ?? 'admits no group'}`, () => {
      const query = memberGroupQuery(parseGroupQuery(filter, filter.includes('#{groupName}') ? 'each' : 'once'));
      const values = { groupName: 'G', userdn: 'cn=child,dc=x' };
      assert.equal(
        text(query, values),
        expected === undefined ? undefined : formatFilter(fillFilterTemplate(parseFilterTemplate(expected, GROUP_FILTER_PLACEHOLDERS), values)),
      );
      if (query !== undefined) assert.equal(query.template.placeholders.includes('username'), false);
    });
  }

  it("is read by the original filter's candidate read", () => {
    for (const [filter] of cases) {
      const query = parseGroupQuery(filter, filter.includes('#{groupName}') ? 'each' : 'once');
      const asGroup = memberGroupQuery(query);
      if (asGroup === undefined) continue;
      const read = matchingEntries(groupIndex, candidateReadFilter(query)) ?? [];
      for (const dn of ['cn=admins,ou=groups,dc=example', 'uid=jo,ou=people,dc=example']) {
        for (const groupName of ALL_NAMES) {
          const matched = bruteForce(directory, fillFilterTemplate(asGroup.template, { groupName, userdn: dn })) ?? [];
          for (const found of matched) assert.ok(read.includes(found), `${filter}: ${found.dn} for ${dn}/${groupName}`);
        }
      }
    }
  });

  it('knows a filter that follows nesting itself', () => {
    assert.equal(resolvesNesting(parseGroupQuery(`(&(cn=#{groupName})${IN_CHAIN})`, 'each')), true);
    assert.equal(resolvesNesting(parseGroupQuery(`(|(memberUid=#{username})(!${IN_CHAIN}))`, 'once')), true);
    assert.equal(resolvesNesting(parseGroupQuery(DEFAULT_FILTER, 'each')), false);
  });
});

describe('withMemberUniqueIdentifiers', () => {
  const dn = 'uid=a,ou=people,dc=example';
  it('widens the uniqueMember assertions that name the member by its DN, and nothing else', () => {
    const filled = fillFilterTemplate(parseFilterTemplate(DEFAULT_FILTER, GROUP_FILTER_PLACEHOLDERS), { groupName: 'g', userdn: dn, username: 'a' });
    assert.equal(withMemberUniqueIdentifiers(filled, dn, []), filled);
    assert.equal(withMemberUniqueIdentifiers(filled, dn, undefined), filled);
    assert.equal(
      formatFilter(withMemberUniqueIdentifiers(filled, dn, ['0101', '1'])),
      "(&(cn=g)(|(member=uid=a,ou=people,dc=example)(|(uniqueMember=uid=a,ou=people,dc=example)(uniqueMember=uid=a,ou=people,dc=example#'0101'B)(uniqueMember=uid=a,ou=people,dc=example#'1'B))(memberUid=a)))",
    );
    const other = parseFilter('(!(uniqueMember=uid=b,ou=people,dc=example))');
    assert.equal(formatFilter(withMemberUniqueIdentifiers(other, dn, ['1'])), '(!(uniqueMember=uid=b,ou=people,dc=example))');
  });

  it("lets userGroupNames find a membership through a value with the user's UID, and only that UID", () => {
    const entries = [
      entry('cn=own,dc=x', { cn: 'own', uniqueMember: `${dn}#'0101'B` }),
      entry('cn=stale,dc=x', { cn: 'stale', uniqueMember: `${dn}#'1100'B` }),
      entry('cn=plain,dc=x', { cn: 'plain', uniqueMember: dn }),
    ];
    const query = parseGroupQuery(DEFAULT_FILTER, 'each');
    const names = ['own', 'stale', 'plain'];
    assert.deepEqual(userGroupNames(indexGroupEntries(entries), query, { username: 'a', dn, uniqueIdentifiers: ['0101'] }, names, ['cn']), ['own', 'plain']);
    assert.deepEqual(userGroupNames(indexGroupEntries(entries), query, { username: 'a', dn }, names, ['cn']), ['plain']);
  });
});

describe('fastFill equals fillFilterTemplate', () => {
  const cases: { text: string; values: Record<string, string> }[] = [
    { text: DEFAULT_FILTER, values: { username: 'jo', userdn: 'uid=jo,dc=x', groupName: 'devs' } },
    { text: '(&(cn=a\\c3\\a9-#{groupName})(x=\\ff))', values: { groupName: 'é' } },
    { text: '(cn=\\ff#{groupName})', values: { groupName: 'x' } },
    { text: '(cn=#{groupName}*)', values: { groupName: '' } },
    { text: '(cn=*#{groupName}*#{username}*)', values: { groupName: '', username: 'u' } },
    { text: '(cn=#{groupName})', values: { groupName: 'lone \ud800 surrogate' } },
    { text: '(&(a>=#{username})(b<=#{username})(c~=#{username})(d:caseExactMatch:=#{username})(!(e=*)))', values: { username: '*)(' } },
  ];
  for (const { text, values } of cases) {
    it(text, () => {
      const template = parseFilterTemplate(text, GROUP_FILTER_PLACEHOLDERS);
      assert.deepEqual(fastFill(template, values), fillFilterTemplate(template, values));
    });
  }
  it('throws on a missing value', () => {
    const template = parseFilterTemplate(SEED_FILTER, GROUP_FILTER_PLACEHOLDERS);
    assert.throws(() => fastFill(template, { username: 'x' }), /no value for placeholder #\{groupName\}/);
  });
});

describe('at scale (timed in bench/group-filter.ts, not here)', () => {
  /** Deterministic pseudo-random numbers (mulberry32). */
  const random = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const USERS = 20_000;
  const GROUPS = 2_000;
  const next = random(42);
  const users = Array.from({ length: USERS }, (_, i) => ({ username: `user${i}`, dn: `uid=user${i},ou=People,dc=example,dc=org` }));
  const members: { member: string[]; memberUid: string[] }[] = Array.from({ length: GROUPS }, () => ({ member: [], memberUid: [] }));
  for (const [i, user] of users.entries()) {
    for (let k = 0; k < 5; k += 1) {
      const group = members[Math.floor(next() * GROUPS)];
      if (group === undefined) continue;
      // Spell the DN differently from the user's own DN; some groups list users by uid instead.
      if (i % 3 === 0) group.memberUid.push(user.username.toUpperCase());
      else group.member.push(`UID=${user.username},OU=people,DC=Example,DC=Org`);
    }
  }
  // Everyone is in the first group: a large group must not make every lookup slow.
  members[0]?.member.push(...users.map((user) => user.dn));
  const entries = members.map((m, g) =>
    entry(`cn=group${g},ou=groups,dc=example,dc=org`, { objectClass: ['top', 'groupOfNames'], cn: `Group${g}`, member: m.member, memberUid: m.memberUid }),
  );
  const groupNames = Array.from({ length: 20 }, (_, k) => `group${k * 97}`);
  const sample = users.filter((_, i) => i % 1000 === 7);

  for (const { text, strategy } of [
    { text: DEFAULT_FILTER, strategy: 'each' as const },
    { text: '(&(objectClass=groupOfNames)(|(member=#{userdn})(memberUid=#{username})))', strategy: 'once' as const },
  ]) {
    it(`${USERS} users × ${groupNames.length} group names × ${GROUPS} groups, ${strategy}`, () => {
      const query = parseGroupQuery(text, strategy);
      const index: GroupEntryIndex = indexGroupEntries(entries);
      const answers = users.map((user) => userGroupNames(index, query, user, groupNames, ['cn']));
      assert.ok(answers.every((answer) => answer?.includes('group0')));
      assert.ok(answers.some((answer) => (answer?.length ?? 0) > 1));
      for (const user of sample) {
        const position = users.indexOf(user);
        assert.deepEqual(answers[position], bruteForceNames(entries, text, strategy, user, groupNames, ['cn']), user.username);
      }
    });
  }
});
