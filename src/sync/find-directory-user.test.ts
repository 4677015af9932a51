import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { entry, MEMORY_BASE_DN, memoryDirectory, randomOrganisation } from '../../test/helpers/memory-directory.ts';
import { isDirbridgeError } from '../errors.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { type GroupSettings, groupSettingsSchema, userSettingsSchema } from '../settings/schema.ts';
import { findDirectoryUser, findUserGroups, MAX_NESTING_LEVELS, PARENT_SEARCH_BATCH, readUserGroups } from './find-directory-user.ts';
import { readSnapshot } from './read-snapshot.ts';

const users = userSettingsSchema.parse({ baseDn: MEMORY_BASE_DN });
const groupsWith = (override: Partial<GroupSettings> = {}): GroupSettings => ({
  ...groupSettingsSchema.parse({ baseDn: `ou=groups,${MEMORY_BASE_DN}` }),
  ...override,
});
const person = (index: number) =>
  entry(`uid=u${index},ou=people,${MEMORY_BASE_DN}`, { objectClass: ['inetOrgPerson'], uid: [`u${index}`], sn: ['U'], entryUUID: [`user-${index}`] });
const groupOf = (name: string, members: string[]) =>
  entry(`cn=${name},ou=groups,${MEMORY_BASE_DN}`, { objectClass: ['groupOfNames'], cn: [name], member: members, entryUUID: [`group-${name}`] });
const dnOf = (name: string) => `cn=${name},ou=groups,${MEMORY_BASE_DN}`;
const user0 = { dn: `uid=u0,ou=people,${MEMORY_BASE_DN}`, username: 'u0' };

/** A chain: u0 in c0, c0 in c1, …, c(length-1) at the top. */
function chain(length: number): DirectoryEntry[] {
  return [person(0), ...Array.from({ length }, (_, index) => groupOf(`c${index}`, [index === 0 ? user0.dn : dnOf(`c${index - 1}`)]))];
}

describe('findUserGroups', () => {
  const variants: Array<[string, Partial<GroupSettings>]> = [
    ['all three attributes, nested', { memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true }],
    ['all three attributes, not nested', { memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: false }],
    ['member only, nested', { memberAttribute: ['member'], nestedGroups: true }],
    ['uniqueMember and memberUid, nested', { memberAttribute: ['uniqueMember', 'memberUid'], nestedGroups: true }],
    ['memberUid only, nested', { memberAttribute: ['memberUid'], nestedGroups: true }],
  ];
  for (const [label, override] of variants) {
    it(`finds exactly the groups a full sync gives each user (${label}; random forests with cycles and outsiders)`, async () => {
      const groups = groupsWith(override);
      for (let seed = 1; seed <= 25; seed += 1) {
        // Even seeds: uniqueMember values with RFC 4517 UIDs (the member's own, stale, or for a member without one).
        const directory = memoryDirectory(randomOrganisation({ seed, uniqueIds: seed % 2 === 0 }));
        const snapshot = await readSnapshot(directory, { directory: { attributesToQuery: [], pageSize: 500 }, users, groups });
        assert.equal(snapshot.failure, undefined);
        for (const user of snapshot.users) {
          const bySync = snapshot.groups
            .filter((group) => group.memberUserIds.includes(user.externalId))
            .map((group) => group.externalId)
            .sort();
          const atLogin = (await findUserGroups(directory, groups, user)).map((group) => group.externalId).sort();
          assert.deepEqual(atLogin, bySync, `seed ${seed}, ${user.username}`);
        }
      }
    });
  }

  it('marks direct groups as direct and the rest as nested, and visits each group of a cycle once', async () => {
    const directory = memoryDirectory([person(0), groupOf('a', [user0.dn, dnOf('b')]), groupOf('b', [dnOf('a')]), groupOf('c', [dnOf('b')])]);
    const found = await findUserGroups(directory, groupsWith({ nestedGroups: true }), user0);
    assert.deepEqual(found.map((group) => `${group.name}${group.isNested ? '*' : ''}`).sort(), ['a', 'b*', 'c*']);
    assert.equal(directory.searches.length, 1 + 3, 'direct, b, c, then an empty level');
  });

  it('costs one search for the direct groups and one per nesting level, whatever the number of groups', async () => {
    const groups = groupsWith({ nestedGroups: true });
    for (const length of [1, 2, 5, 12]) {
      const directory = memoryDirectory(chain(length));
      assert.equal((await findUserGroups(directory, groups, user0)).length, length);
      assert.equal(directory.searches.length, 1 + length, `a chain of ${length}`);
    }
    // 250 direct groups, each in its own parent: the wide levels are split, never one search per group.
    const wide = [
      person(0),
      ...Array.from({ length: 250 }, (_, index) => groupOf(`w${index}`, [user0.dn])),
      ...Array.from({ length: 250 }, (_, index) => groupOf(`p${index}`, [dnOf(`w${index}`)])),
    ];
    const directory = memoryDirectory(wide);
    assert.equal((await findUserGroups(directory, groups, user0)).length, 500);
    const batches = Math.ceil(250 / PARENT_SEARCH_BATCH);
    assert.equal(directory.searches.length, 1 + batches + batches);
    assert.ok(directory.searches.every((search) => search.baseDn === `ou=groups,${MEMORY_BASE_DN}`));
  });

  it('asks once, and does not climb, when nesting is off or only memberUid lists members', async () => {
    for (const override of [{ nestedGroups: false }, { nestedGroups: true, memberAttribute: ['memberUid' as const] }]) {
      const directory = memoryDirectory(chain(4));
      await findUserGroups(directory, groupsWith(override), user0);
      assert.equal(directory.searches.length, 1);
    }
    const disabled = memoryDirectory(chain(4));
    assert.deepEqual(await findUserGroups(disabled, groupsWith({ enabled: false, nestedGroups: true }), user0), []);
    assert.deepEqual(await findUserGroups(disabled, undefined, user0), []);
    assert.equal(disabled.searches.length, 0);
  });

  it('builds every filter from escaped values, never from text', async () => {
    const awkward = { dn: `uid=a\\2Ab(c)\\5C,ou=people,${MEMORY_BASE_DN}`, username: 'a*b(c)\\' };
    const directory = memoryDirectory([groupOf('g', [awkward.dn])]);
    const found = await findUserGroups(directory, groupsWith({ memberAttribute: ['member', 'memberUid'], nestedGroups: true }), awkward);
    assert.deepEqual(
      found.map((group) => group.name),
      ['g'],
    );
    assert.match(directory.searches[0]?.filter ?? '', /\(memberUid=a\\2ab\\28c\\29\\5c\)/i);
  });

  it(`refuses to guess past ${MAX_NESTING_LEVELS} levels, and passes directory faults on`, async () => {
    const groups = groupsWith({ nestedGroups: true });
    assert.equal((await findUserGroups(memoryDirectory(chain(MAX_NESTING_LEVELS)), groups, user0)).length, MAX_NESTING_LEVELS);
    await assert.rejects(findUserGroups(memoryDirectory(chain(MAX_NESTING_LEVELS + 2)), groups, user0), (error) =>
      isDirbridgeError(error, 'directory.size_limit'),
    );
    for (const failing of [0, 1, 2]) {
      const directory = memoryDirectory(chain(3));
      directory.failWhen((_, index) => index === failing);
      await assert.rejects(findUserGroups(directory, groups, user0), (error) => isDirbridgeError(error, 'directory.unavailable'));
    }
  });

  it("asks for a uniqueMember value with the UID of each of the member's unique identifiers, in the same searches", async () => {
    const uniqueGroup = (name: string, members: string[], uids: string[] = []) =>
      entry(dnOf(name), {
        objectClass: ['groupOfUniqueNames'],
        cn: [name],
        uniqueMember: members,
        entryUUID: [`group-${name}`],
        x500UniqueIdentifier: uids.map((uid) => `'${uid}'B`),
      });
    const directory = memoryDirectory([
      uniqueGroup('own', [`${user0.dn}#'0101'B`], ['11']),
      uniqueGroup('stale', [`${user0.dn}#'1100'B`]),
      uniqueGroup('plain', [user0.dn]),
      uniqueGroup('parent', [`${dnOf('own')}#'11'B`]),
      uniqueGroup('stale-parent', [`${dnOf('plain')}#'11'B`]),
    ]);
    const groups = groupsWith({ memberAttribute: ['member', 'uniqueMember'], nestedGroups: true });
    const found = await findUserGroups(directory, groups, { ...user0, uniqueIdentifiers: ['0101'] });
    assert.deepEqual(found.map((group) => `${group.name}${group.isNested ? '*' : ''}`).sort(), ['own', 'parent*', 'plain']);
    assert.equal(directory.searches.length, 3, 'direct, one level up, an empty level');
    assert.match(directory.searches[0]?.filter ?? '', /\(uniqueMember=uid=u0,ou=people,dc=example,dc=org#'0101'B\)/);
    // Without the unique identifier, a value with a UID names someone else (RFC 4517).
    assert.deepEqual(
      (await findUserGroups(directory, groups, user0)).map((group) => group.name),
      ['plain'],
    );
  });

  it('reports the group entries a sync would skip (no name or id), and does not climb through them', async () => {
    const nameless = entry(dnOf('nameless'), { objectClass: ['groupOfNames'], member: [user0.dn], entryUUID: ['group-nameless'] });
    const directory = memoryDirectory([person(0), nameless, groupOf('above', [dnOf('nameless')]), groupOf('a', [user0.dn])]);
    const read = await readUserGroups(directory, groupsWith({ nestedGroups: true }), user0);
    assert.deepEqual(
      read.groups.map((group) => group.name),
      ['a'],
    );
    assert.deepEqual(read.skipped, [
      { dn: dnOf('nameless'), externalId: 'group-nameless', reason: 'has no cn value', setting: 'groups.nameAttribute', missingAttributes: ['cn'] },
    ]);
  });

  it('findDirectoryUser returns the entry with its groups', async () => {
    const directory = memoryDirectory(chain(2));
    const found = await findDirectoryUser(directory, { directory: { attributesToQuery: [] }, users, groups: groupsWith({ nestedGroups: true }) }, 'u0');
    assert.deepEqual(
      found?.groups.map((group) => `${group.name}${group.isNested ? '*' : ''}`),
      ['c0', 'c1*'],
    );
  });
});
