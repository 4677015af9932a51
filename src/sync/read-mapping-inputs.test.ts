import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MEMORY_BASE_DN, memoryDirectory, randomOrganisation } from '../../test/helpers/memory-directory.ts';
import { withMemberGroupNames } from '../mapping/grants.ts';
import { groupSettingsSchema, mappingSettingsSchema, userSettingsSchema, type GroupSettings } from '../settings/schema.ts';
import { findUserGroups } from './find-directory-user.ts';
import { readGroupNamesForUser } from './read-mapping-inputs.ts';
import { readSnapshot } from './read-snapshot.ts';

const users = userSettingsSchema.parse({ baseDn: MEMORY_BASE_DN });
const groupsWith = (override: Partial<GroupSettings>): GroupSettings => ({ ...groupSettingsSchema.parse({ baseDn: `ou=groups,${MEMORY_BASE_DN}` }), ...override });
const roleMap = Object.fromEntries(Array.from({ length: 12 }, (_, index) => [`g${index * 2}`, `role-${index}`]));

describe('withMemberGroupNames', () => {
  it('adds the mapped names among the member groups once each, in the map\'s spelling', () => {
    assert.deepEqual(withMemberGroupNames(['Engineering'], ['Engineering', 'Admins', 'ops'], ['engineering', 'ADMINS', 'other', 'admins']), ['Engineering', 'Admins']);
    assert.deepEqual(withMemberGroupNames([], ['a'], []), []);
  });
});

describe('mapped group names: one user (login) agrees with a full sync', () => {
  const strategies: Array<[string, Record<string, unknown>]> = [
    ['each', {}],
    ['once', { strategy: 'once', userGroupFilter: '(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username}))' }],
    ['each, member only', { userGroupFilter: '(&(cn=#{groupName})(member=#{userdn}))' }],
  ];
  const groupVariants: Array<[string, Partial<GroupSettings>]> = [
    ['nested', { memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true }],
    ['nested, member only', { memberAttribute: ['member'], nestedGroups: true }],
    ['not nested', { memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: false }],
    ['groups off', { enabled: false, nestedGroups: true }],
  ];
  for (const [strategy, groupSearch] of strategies) {
    for (const [variant, groupOverride] of groupVariants) {
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
        for (let seed = 1; seed <= 15; seed += 1) {
          const directory = memoryDirectory(randomOrganisation({ seed }));
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
        if (groups.enabled && groups.nestedGroups) assert.ok(nestedOnly > 0, 'some users hold mapped groups only through nesting');
        else assert.equal(nestedOnly, 0);
      });
    }
  }
});
