import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { entry, memoryDirectory } from '../../test/helpers/memory-directory.ts';
import { DirbridgeError } from '../errors.ts';
import { mapGroupEntry } from '../mapping/group.ts';
import { mapUserEntry } from '../mapping/user.ts';
import { groupSettingsSchema, userSettingsSchema } from '../settings/schema.ts';
import {
  createUnlistedMemberCounter,
  noUsersWarning,
  skippedWarnings,
  unlistedMemberAttributes,
  unlistedMemberWarnings,
  unmatchedMemberUidWarning,
} from './data-fit.ts';
import { nameBaseDnSetting, settingsHolding } from './missing-base.ts';
import { readSnapshot } from './read-snapshot.ts';

const users = userSettingsSchema.parse({ baseDn: 'ou=people,dc=x', usernameAttribute: ['uid', 'cn'] });
const groups = groupSettingsSchema.parse({ baseDn: 'ou=groups,dc=x', memberAttribute: ['member'] });

describe('data-fit warnings', () => {
  it('reads the member attributes the settings leave out, and counts groups and values per attribute', () => {
    assert.deepEqual(unlistedMemberAttributes(groups), ['uniqueMember', 'memberUid']);
    assert.deepEqual(unlistedMemberAttributes({ memberAttribute: ['member', 'uniqueMember', 'memberUid'] }), []);
    const counter = createUnlistedMemberCounter(['uniqueMember', 'memberUid']);
    counter.count(entry('cn=a,dc=x', { uniqueMember: ['uid=1,dc=x', 'uid=2,dc=x'], member: ['uid=3,dc=x'] }));
    counter.count(entry('cn=b,dc=x', { uniqueMember: ['uid=1,dc=x'] }));
    counter.count(entry('cn=c,dc=x', { member: ['uid=1,dc=x'] }));
    const counts = counter.result();
    assert.deepEqual(counts, [{ attribute: 'uniqueMember', groups: 2, values: 3 }]);
    assert.deepEqual(unlistedMemberWarnings(counts, groups), [
      'groups.memberAttribute: 2 groups hold 3 uniqueMember values that are ignored, because groups.memberAttribute lists only member; add uniqueMember to groups.memberAttribute to count them',
    ]);
    assert.match(
      unlistedMemberWarnings([{ attribute: 'memberUid', groups: 1, values: 1 }], groups)[0] ?? '',
      /^groups\.memberAttribute: 1 group holds 1 memberUid value that is ignored, .* to count it$/,
    );
  });

  it('summarises skipped entries per setting with the count and a few DNs, never one line each', () => {
    const skipped = Array.from({ length: 1000 }, (_, index) => {
      const mapped = mapUserEntry(entry(`cn=p${index},dc=x`, { entryUUID: [`id-${index}`], sn: ['x'] }), { ...users, usernameAttribute: ['uid'] }, 'entryUUID');
      assert.ok('skipped' in mapped);
      return mapped.skipped;
    });
    const noId = mapUserEntry(entry('uid=n,dc=x', { uid: ['n'] }), users, 'entryUUID');
    assert.ok('skipped' in noId);
    const warnings = skippedWarnings([...skipped, noId.skipped], 'user');
    assert.deepEqual(warnings, [
      'users.usernameAttribute: 1000 user entries were skipped because they have no uid value (cn=p0,dc=x; cn=p1,dc=x; cn=p2,dc=x; 997 more); change users.usernameAttribute to an attribute they have',
      'users.uniqueIdAttribute: 1 user entry was skipped because it has no entryUUID value (uid=n,dc=x); change users.uniqueIdAttribute to an attribute it has',
    ]);
    const group = mapGroupEntry(entry('ou=g,dc=x', { entryUUID: ['g'] }), groups, 'entryUUID');
    assert.ok('skipped' in group);
    assert.deepEqual(skippedWarnings([group.skipped], 'group'), [
      'groups.nameAttribute: 1 group entry was skipped because it has no cn value (ou=g,dc=x); change groups.nameAttribute to an attribute it has',
    ]);
    assert.match(
      skippedWarnings(
        skipped.slice(0, 1).map((one) => ({ ...one, missingAttributes: ['uid', 'cn'] })),
        'user',
      )[0] ?? '',
      /because it has no value in any of uid, cn/,
    );
  });

  it('counts memberUid values that name no user, case-insensitively, with a few examples', () => {
    const people = [{ username: 'Anna' }, { username: 'bob' }];
    assert.equal(unmatchedMemberUidWarning(people, [{ memberUids: ['anna', 'bob'] }], { users }), undefined);
    assert.equal(
      unmatchedMemberUidWarning(people, [{ memberUids: ['anna', 'x1', 'x2'] }, { memberUids: [] }, { memberUids: ['x3', 'x4', 'bob'] }], { users }),
      'groups.memberAttribute: 4 memberUid values in 2 groups match no user\'s username (e.g. "x1", "x2", "x3"); memberUid is compared with the username that users.usernameAttribute (uid, cn) gives, so check users.usernameAttribute, users.baseDn and users.filter',
    );
  });

  it('warns when the user search finds no entry at all, naming filter and base', () => {
    assert.equal(
      noUsersWarning(users),
      'users.filter: (objectClass=inetOrgPerson) matches no entry under ou=people,dc=x (scope sub); check users.filter and users.baseDn',
    );
  });

  it('puts them in the snapshot read, as Test Connection shows them', async () => {
    const directory = memoryDirectory([
      entry('uid=a,ou=people,dc=x', { objectClass: ['inetOrgPerson'], entryUUID: ['1'], uid: ['a'] }),
      entry('cn=nouid,ou=people,dc=x', { objectClass: ['inetOrgPerson'], entryUUID: ['2'], cn: ['nouid'] }),
      entry('cn=u,ou=groups,dc=x', { objectClass: ['groupOfUniqueNames'], entryUUID: ['3'], cn: ['u'], uniqueMember: ['uid=a,ou=people,dc=x'] }),
      entry('cn=p,ou=groups,dc=x', { objectClass: ['posixGroup'], entryUUID: ['4'], cn: ['p'], memberUid: ['a', 'ghost'] }),
    ]);
    const snapshot = await readSnapshot(directory, {
      directory: { attributesToQuery: [], pageSize: 10 },
      users: { ...users, usernameAttribute: ['uid'] },
      groups,
    });
    assert.deepEqual(
      snapshot.skippedUsers.map((skipped) => [skipped.dn, skipped.setting]),
      [['cn=nouid,ou=people,dc=x', 'users.usernameAttribute']],
    );
    const starts = (warnings: string[] | undefined, prefixes: string[]): void => {
      assert.equal(warnings?.length, prefixes.length, warnings?.join('\n'));
      for (const [index, prefix] of prefixes.entries()) assert.ok(warnings?.[index]?.startsWith(prefix), `${warnings?.[index]} starts with ${prefix}`);
    };
    starts(snapshot.dataFitWarnings, [
      'users.usernameAttribute: 1 user entry was skipped because it has no uid value',
      'groups.memberAttribute: 1 group holds 1 uniqueMember value that',
      'groups.memberAttribute: 1 group holds 2 memberUid values that',
    ]);
    assert.ok(snapshot.dataFitWarnings?.every((warning) => snapshot.warnings.includes(warning)));
    assert.deepEqual(snapshot.groups.find((group) => group.name === 'p')?.memberUids, [], 'unlisted values are counted, never kept');
    const withUids = await readSnapshot(directory, {
      directory: { attributesToQuery: [], pageSize: 10 },
      users: { ...users, usernameAttribute: ['uid'] },
      groups: { ...groups, memberAttribute: ['member', 'uniqueMember', 'memberUid'] },
    });
    starts(withUids.dataFitWarnings, [
      'users.usernameAttribute: 1 user entry was skipped because it has no uid value',
      'groups.memberAttribute: 1 memberUid value in 1 group matches no user\'s username (e.g. "ghost")',
    ]);
  });
});

describe('naming the setting of a missing base DN', () => {
  const settings = {
    users: { baseDn: 'ou=People,dc=x' },
    groups: { baseDn: 'ou=groups,dc=x' },
    mapping: { groupSearch: { baseDn: 'ou=groups, dc=x' }, teams: { baseDn: undefined } },
  };
  it('finds every setting holding the DN, compared as DNs', () => {
    assert.deepEqual(settingsHolding('ou=people,DC=x', settings), ['users.baseDn']);
    assert.deepEqual(settingsHolding('ou=groups,dc=x', settings), ['groups.baseDn', 'mapping.groupSearch.baseDn']);
    assert.deepEqual(settingsHolding('ou=teams,dc=x', settings), []);
  });
  it('names them in a no_such_object error that names none, and leaves other errors alone', () => {
    const missing = new DirbridgeError('directory.no_such_object', 'the base DN "ou=groups,dc=x" does not exist', { details: { baseDn: 'ou=groups,dc=x' } });
    const named = nameBaseDnSetting(missing, settings);
    assert.ok(named instanceof DirbridgeError);
    assert.equal(named.code, 'directory.no_such_object');
    assert.equal(named.message, 'groups.baseDn, mapping.groupSearch.baseDn: the base DN "ou=groups,dc=x" does not exist');
    assert.equal(named.cause, missing);
    const already = new DirbridgeError('directory.no_such_object', 'x', { details: { baseDn: 'ou=groups,dc=x', setting: 'groups.baseDn' } });
    assert.equal(nameBaseDnSetting(already, settings), already);
    const other = new DirbridgeError('directory.unavailable', 'down');
    assert.equal(nameBaseDnSetting(other, settings), other);
  });
});
