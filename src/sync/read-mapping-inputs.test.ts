import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MEMORY_BASE_DN, memoryDirectory, randomOrganisation } from '../../test/helpers/memory-directory.ts';
import type { DirectoryConnection } from '../directory/index.ts';
import { DirbridgeError, isDirbridgeError } from '../errors.ts';
import { isDescendantOf, normalizeDn } from '../ldap/dn.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { type Filter, formatFilter, LDAP_MATCHING_RULE_IN_CHAIN, matchesFilter, parseFilter } from '../ldap/filter.ts';
import { type GroupSettings, groupSettingsSchema, mappingSettingsSchema, userSettingsSchema } from '../settings/schema.ts';
import { findUserGroups } from './find-directory-user.ts';
import { readGroupNamesForSync, readGroupNamesForUser, SERVER_QUERY_CONCURRENCY } from './read-mapping-inputs.ts';
import { readSnapshot } from './read-snapshot.ts';

const users = userSettingsSchema.parse({ baseDn: MEMORY_BASE_DN });
const groupsWith = (override: Partial<GroupSettings>): GroupSettings => ({
  ...groupSettingsSchema.parse({ baseDn: `ou=groups,${MEMORY_BASE_DN}` }),
  ...override,
});
const roleMap = Object.fromEntries(Array.from({ length: 12 }, (_, index) => [`g${index * 2}`, `role-${index}`]));

describe('mapped group names: one user (login) agrees with a full sync', () => {
  // [label, groupSearch, seeds]: random organisations per case; the narrower filters run on fewer
  // (the memory directory is slow, and 28 cases × 15 seeds took 9 minutes of CI on two cores).
  const strategies: Array<[string, Record<string, unknown>, number?]> = [
    ['each', {}],
    ['once', { strategy: 'once', userGroupFilter: '(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username}))' }],
    ['each, member only', { userGroupFilter: '(&(cn=#{groupName})(member=#{userdn}))' }],
    // Narrower than groups.memberAttribute: the filter decides, nested or not.
    ['each, uniqueMember only', { userGroupFilter: '(&(cn=#{groupName})(uniqueMember=#{userdn}))' }, 3],
    ['each, groupOfNames only', { userGroupFilter: '(&(cn=#{groupName})(objectClass=groupOfNames)(|(member=#{userdn})(memberUid=#{username})))' }, 3],
    ['each, memberUid only (admits no group)', { userGroupFilter: '(&(cn=#{groupName})(memberUid=#{username}))' }, 2],
    ['once, not memberUid', { strategy: 'once', userGroupFilter: '(&(|(member=#{userdn})(uniqueMember=#{userdn}))(!(memberUid=#{username})))' }, 3],
  ];
  const groupVariants: Array<[string, Partial<GroupSettings>]> = [
    ['nested', { memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true }],
    ['nested, member only', { memberAttribute: ['member'], nestedGroups: true }],
    ['not nested', { memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: false }],
    ['groups off', { enabled: false, nestedGroups: true }],
  ];
  for (const [strategy, groupSearch, seeds = 4] of strategies) {
    for (const [variant, groupOverride] of groupVariants) {
      if (seeds < 4 && groupOverride.enabled === false) continue;
      it(`gives each user the names a full sync gives (${strategy}; ${variant}; teams on)`, async () => {
        const groups = groupsWith(groupOverride);
        const mapping = mappingSettingsSchema.parse({
          groupSearch,
          roles: { enabled: true, autoRemove: true, map: roleMap },
          channels: { enabled: true, map: { g1: 'one', g3: 'three' } },
          teams: { enabled: true, map: { g0: 'Team 0', g5: 'Team 5', g7: 'Team 7' }, userGroupsQuery: '(&(objectClass=groupOfNames)(member=#{userdn}))' },
          adminGroup: 'g9',
        });
        let nestedOnly = 0;
        for (let seed = 1; seed <= seeds; seed += 1) {
          // Even seeds: uniqueMember values with RFC 4517 UIDs.
          const directory = memoryDirectory(randomOrganisation({ seed, uniqueIds: seed % 2 === 0 }));
          const snapshot = await readSnapshot(directory, { directory: { attributesToQuery: [], pageSize: 500 }, users, groups, mapping });
          assert.equal(snapshot.failure, undefined);
          for (const user of snapshot.users) {
            const memberOf = await findUserGroups(directory, groups, user);
            const atLogin = await readGroupNamesForUser(directory, { mapping, users, groups }, user, memberOf);
            const bySync = user.mapping;
            assert.ok(bySync);
            assert.deepEqual([...atLogin.groupNames].sort(), [...bySync.groupNames].sort(), `seed ${seed}, ${user.username}: mapped groups`);
            assert.deepEqual([...atLogin.teamGroupNames].sort(), [...bySync.teamGroupNames].sort(), `seed ${seed}, ${user.username}: team groups`);
            const withoutNesting = await readGroupNamesForUser(directory, { mapping, users, groups: { ...groups, nestedGroups: false } }, user, memberOf);
            if (withoutNesting.groupNames.length < atLogin.groupNames.length) nestedOnly += 1;
          }
        }
        const admitsGroups = !strategy.includes('admits no group');
        if (groups.enabled && groups.nestedGroups && admitsGroups) assert.ok(nestedOnly > 0, 'some users hold mapped groups only through nesting');
        else assert.equal(nestedOnly, 0);
      });
    }
  }
});

describe('the User Group Filter decides mapped groups, nested or not', () => {
  const groups = groupsWith({ memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true });
  const broad = '(&(cn=#{groupName})(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username})))';
  const narrower = [
    '(&(cn=#{groupName})(member=#{userdn}))',
    '(&(cn=#{groupName})(objectClass=groupOfNames)(|(member=#{userdn})(uniqueMember=#{userdn})))',
    '(&(cn=#{groupName})(memberUid=#{username}))',
  ];
  const namesBy = async (filter: string, seed: number) => {
    const directory = memoryDirectory(randomOrganisation({ seed, uniqueIds: seed % 2 === 0 }));
    const mapping = mappingSettingsSchema.parse({ groupSearch: { userGroupFilter: filter }, roles: { enabled: true, autoRemove: true, map: roleMap } });
    const snapshot = await readSnapshot(directory, { directory: { attributesToQuery: [], pageSize: 500 }, users, groups, mapping });
    assert.equal(snapshot.failure, undefined);
    return { snapshot, byUser: new Map(snapshot.users.map((user) => [user.username, new Set(user.mapping?.groupNames ?? [])])) };
  };

  for (const filter of narrower) {
    it(`a narrower filter admits a subset, and revokes even what nesting gave (${filter})`, async () => {
      let revoked = 0;
      let revokedFromMembers = 0;
      for (let seed = 1; seed <= 10; seed += 1) {
        const wide = await namesBy(broad, seed);
        const narrow = await namesBy(filter, seed);
        for (const user of narrow.snapshot.users) {
          const names = narrow.byUser.get(user.username) ?? new Set<string>();
          const before = wide.byUser.get(user.username) ?? new Set<string>();
          for (const name of names) assert.ok(before.has(name), `seed ${seed}: ${user.username} gains ${name} with a narrower filter`);
          for (const name of before) {
            if (names.has(name)) continue;
            revoked += 1;
            // Still a member through groups.memberAttribute (directly or nested): the filter decides anyway.
            if (narrow.snapshot.groups.some((group) => group.name === name && group.memberUserIds.includes(user.externalId))) revokedFromMembers += 1;
          }
        }
      }
      assert.ok(revoked > 0, 'the narrower filter takes some mapped groups away');
      assert.ok(revokedFromMembers > 0, 'including from users the groups still list (directly or through nesting)');
    });
  }
});

/**
 * A directory that evaluates AD's in-chain rule like AD: `(member:1.2.840.113556.1.4.1941:=U)` on
 * a group holds when U is reachable through `member` links, `(memberOf:…:=G)` on any entry when
 * it is reachable from G. Searches are counted, answered asynchronously (so concurrency shows) and
 * can be made to fail.
 */
function inChainDirectory(entries: readonly DirectoryEntry[], serverType: 'active-directory' | 'unknown') {
  const base = memoryDirectory(entries, serverType);
  const members = new Map<string, string[]>();
  for (const found of entries)
    members.set(
      normalizeDn(found.dn),
      (found.attributes['member'] ?? []).map((value) => normalizeDn(String(value))),
    );
  const reachable = (from: string, to: string): boolean => {
    const target = normalizeDn(to);
    const seen = new Set<string>();
    const queue = [...(members.get(normalizeDn(from)) ?? [])];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      if (next === target) return true;
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push(...(members.get(next) ?? []));
    }
    return false;
  };
  const evaluate = (candidate: DirectoryEntry, filter: Filter): boolean => {
    switch (filter.type) {
      case 'and':
        return filter.filters.every((child) => evaluate(candidate, child));
      case 'or':
        return filter.filters.some((child) => evaluate(candidate, child));
      case 'not':
        return !evaluate(candidate, filter.filter);
      case 'extensible':
        if (filter.matchingRule === LDAP_MATCHING_RULE_IN_CHAIN && !filter.dnAttributes) {
          const attribute = filter.attribute?.toLowerCase();
          if (attribute === 'member') return reachable(candidate.dn, String(filter.value));
          if (attribute === 'memberof') return reachable(String(filter.value), candidate.dn);
        }
        return matchesFilter(candidate, filter) === true;
      default:
        return matchesFilter(candidate, filter) === true;
    }
  };
  const state = { searches: [] as string[], inFlight: 0, maxInFlight: 0, failAt: -1 };
  const run = async (request: { baseDn: string; filter: Filter | string }): Promise<DirectoryEntry[]> => {
    const filter = typeof request.filter === 'string' ? parseFilter(request.filter) : request.filter;
    const index = state.searches.push(formatFilter(filter)) - 1;
    state.inFlight += 1;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (index === state.failAt) throw new DirbridgeError('directory.unavailable', `injected fault on search ${index + 1}`);
      return entries.filter((candidate) => isDescendantOf(candidate.dn, request.baseDn, { includeSelf: true }) && evaluate(candidate, filter));
    } finally {
      state.inFlight -= 1;
    }
  };
  const connection: DirectoryConnection = {
    ...base,
    async *searchPages(request) {
      yield await run(request);
    },
    searchAll: (request) => run(request),
  };
  return { connection, state };
}

describe('the in-chain User Group Filter on AD', () => {
  const IN_CHAIN = '(member:1.2.840.113556.1.4.1941:=#{userdn})';
  const names = ['g0', 'g3', 'g5', 'g8', 'g11', 'g17', 'g23', 'missing'];
  const variants: Array<[string, Record<string, unknown>, Record<string, unknown>?]> = [
    ['each, by cn', { userGroupFilter: `(&(cn=#{groupName})${IN_CHAIN})` }],
    ['each, group-side OR', { userGroupFilter: `(&(objectClass=groupOfNames)(|(cn=#{groupName})(cn=x#{groupName}))${IN_CHAIN})` }],
    [
      'once, with teams',
      { strategy: 'once', userGroupFilter: `(&(objectClass=*)${IN_CHAIN})` },
      { enabled: true, map: { g1: 'T1', g2: 'T2' }, userGroupsQuery: IN_CHAIN },
    ],
  ];
  for (const [label, groupSearch, teams] of variants) {
    it(`asks per group with the per-user answers and O(groups) searches (${label})`, async () => {
      const groups = groupsWith({ memberAttribute: ['member'], nestedGroups: false });
      const mapping = mappingSettingsSchema.parse({
        groupSearch,
        roles: { enabled: true, map: Object.fromEntries(names.map((name) => [name, name])) },
        ...(teams === undefined ? {} : { teams }),
      });
      for (let seed = 1; seed <= 8; seed += 1) {
        const entries = randomOrganisation({ seed, users: 40 });
        const snapshot = await readSnapshot(memoryDirectory(entries), { directory: { attributesToQuery: [], pageSize: 500 }, users, groups });
        assert.equal(snapshot.failure, undefined);
        const ask = async (serverType: 'active-directory' | 'unknown') => {
          const fake = inChainDirectory(entries, serverType);
          const warnings: string[] = [];
          const result = await readGroupNamesForSync(fake.connection, { mapping, users, groups }, snapshot.users, snapshot.groups, (message) =>
            warnings.push(message),
          );
          return { result, warnings, state: fake.state };
        };
        const perGroup = await ask('active-directory');
        const perUser = await ask('unknown');
        let members = 0;
        for (const user of snapshot.users) {
          for (const key of teams === undefined ? (['groupNames'] as const) : (['groupNames', 'teamGroupNames'] as const)) {
            const byGroup = perGroup.result[key].get(user.externalId);
            assert.ok(byGroup, `${user.username} has an answer`);
            assert.deepEqual([...byGroup].sort(), [...(perUser.result[key].get(user.externalId) ?? [])].sort(), `seed ${seed}, ${user.username}, ${key}`);
            members += byGroup.length;
          }
        }
        assert.ok(members > 0);
        assert.deepEqual(perGroup.warnings, []);
        assert.ok(perUser.warnings.length > 0 && perUser.warnings.every((warning) => warning.includes('cannot be evaluated locally')));
        // Group side: at most one search per mapped name; members: one per group entry found (≤ one per name here).
        assert.ok(perGroup.state.searches.length <= 2 * (names.length + 2), `seed ${seed}: ${perGroup.state.searches.length} searches`);
        assert.ok(perGroup.state.maxInFlight <= SERVER_QUERY_CONCURRENCY);
        assert.ok(perUser.state.searches.length >= snapshot.users.length);
        assert.ok(
          perUser.state.maxInFlight > 1 && perUser.state.maxInFlight <= SERVER_QUERY_CONCURRENCY,
          `per-user queries run a few at a time (${perUser.state.maxInFlight})`,
        );
      }
    });
  }

  for (const serverType of ['active-directory', 'unknown'] as const) {
    for (const failAt of [0, 3, 12]) {
      it(`a fault fails the whole read (${serverType === 'active-directory' ? 'per group' : 'per user'}, search ${failAt + 1}) and leaves nothing running`, async () => {
        const entries = randomOrganisation({ seed: 3, users: 40 });
        const groups = groupsWith({ memberAttribute: ['member'], nestedGroups: false });
        const snapshot = await readSnapshot(memoryDirectory(entries), { directory: { attributesToQuery: [], pageSize: 500 }, users, groups });
        const mapping = mappingSettingsSchema.parse({
          groupSearch: { userGroupFilter: `(&(cn=#{groupName})${IN_CHAIN})` },
          roles: { enabled: true, map: Object.fromEntries(names.map((name) => [name, name])) },
        });
        const fake = inChainDirectory(entries, serverType);
        fake.state.failAt = failAt;
        await assert.rejects(
          readGroupNamesForSync(fake.connection, { mapping, users, groups }, snapshot.users, snapshot.groups, () => {}),
          (error: unknown) => isDirbridgeError(error, 'directory.unavailable'),
        );
        assert.equal(fake.state.inFlight, 0);
        assert.ok(fake.state.searches.length > failAt);
      });
    }
  }
});
