import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResolvedGroup } from '../mapping/memberships.ts';
import type { MappedUser } from '../mapping/user.ts';
import { type CurrentGroup, type CurrentState, type CurrentUser, type PlanOptions, type PlanStep, planSync } from './plan.ts';
import type { DirectorySnapshot } from './snapshot.ts';

const options: PlanOptions = {
  importNewUsers: true,
  updateExistingUsers: true,
  mergeExistingUsers: { enabled: false, matchBy: 'username' },
  disableMissingUsers: true,
  activeState: 'both',
  missingGraceRuns: 0,
  syncGroups: true,
  scope: 'all',
};

function dirUser(id: string, overrides: Partial<MappedUser> = {}): MappedUser {
  return {
    externalId: id,
    dn: `uid=${id},ou=people,dc=example,dc=org`,
    dnKey: `uid=${id},ou=people,dc=example,dc=org`,
    username: id,
    email: `${id}@example.org`,
    firstName: 'First',
    lastName: 'Last',
    displayName: `User ${id}`,
    directoryState: 'active',
    ...overrides,
  };
}

function storeUser(id: string, overrides: Partial<CurrentUser> = {}): CurrentUser {
  return {
    id: `db-${id}`,
    username: id,
    email: `${id}@example.org`,
    firstName: 'First',
    lastName: 'Last',
    displayName: `User ${id}`,
    source: 'directory',
    externalId: id,
    dn: `uid=${id},ou=people,dc=example,dc=org`,
    isEnabled: true,
    disabledBy: null,
    isAdmin: false,
    missingRuns: 0,
    ...overrides,
  };
}

function dirGroup(id: string, members: string[], overrides: Partial<ResolvedGroup> = {}): ResolvedGroup {
  return {
    externalId: id,
    dn: `cn=${id},ou=groups,dc=example,dc=org`,
    dnKey: `cn=${id},ou=groups,dc=example,dc=org`,
    name: id,
    memberDnKeys: [],
    memberUids: [],
    memberUserIds: members,
    ...overrides,
  };
}

function storeGroup(id: string, overrides: Partial<CurrentGroup> = {}): CurrentGroup {
  return { id: `g-${id}`, externalId: id, dn: `cn=${id},ou=groups,dc=example,dc=org`, name: id, source: 'directory', ...overrides };
}

function snapshot(users: MappedUser[], groups: ResolvedGroup[] = []): DirectorySnapshot {
  return { users, groups, skippedUsers: [], skippedGroups: [], warnings: [], serverType: 'openldap', uniqueIdAttribute: 'entryUUID' };
}

function state(users: CurrentUser[], groups: CurrentGroup[] = [], memberships: Array<{ userId: string; groupId: string }> = []): CurrentState {
  return { users, groups, memberships };
}

const kinds = (steps: PlanStep[]) => steps.map((step) => step.kind);

describe('planSync', () => {
  it('creates new users and leaves unchanged ones alone', () => {
    const plan = planSync(snapshot([dirUser('a'), dirUser('b')]), state([storeUser('a')]), options);
    assert.deepEqual(kinds(plan.steps), ['createUser']);
    assert.equal(plan.counts.users.created, 1);
    assert.equal(plan.counts.users.unchanged, 1);
    assert.equal(plan.steps[0]?.reason, 'new in directory');
  });

  it('keeps the account when a user is renamed and moved: same unique id, new DN and username', () => {
    const moved = dirUser('a', { username: 'alice2', dn: 'uid=alice2,ou=staff,dc=example,dc=org' });
    const plan = planSync(snapshot([moved]), state([storeUser('a')]), options);
    assert.deepEqual(kinds(plan.steps), ['updateUser']);
    const step = plan.steps[0];
    assert.ok(step?.kind === 'updateUser');
    assert.equal(step.userId, 'db-a');
    assert.deepEqual(step.changes, { dn: 'uid=alice2,ou=staff,dc=example,dc=org', username: 'alice2' });
    assert.equal(
      step.reason,
      'moved or renamed in directory from uid=a,ou=people,dc=example,dc=org to uid=alice2,ou=staff,dc=example,dc=org; username changed from a to alice2',
    );
  });

  it('lets two users swap usernames', () => {
    const plan = planSync(snapshot([dirUser('a', { username: 'b' }), dirUser('b', { username: 'a' })]), state([storeUser('a'), storeUser('b')]), options);
    const renames = plan.steps.filter((step) => step.kind === 'updateUser' && step.changes.username !== undefined);
    assert.equal(renames.length, 2);
  });

  it('refuses to give one username to two directory entries', () => {
    const plan = planSync(snapshot([dirUser('a', { username: 'dup' }), dirUser('b', { username: 'DUP' })]), state([]), options);
    assert.deepEqual(kinds(plan.steps), ['skipUser', 'skipUser']);
  });

  it('does not import over an unlinked local account unless merging is on', () => {
    const local = storeUser('x', { id: 'local-bob', username: 'bob', source: 'local', externalId: null, dn: null });
    const plan = planSync(snapshot([dirUser('b', { username: 'bob' })]), state([local]), options);
    assert.deepEqual(kinds(plan.steps), ['skipUser']);
    const merged = planSync(snapshot([dirUser('b', { username: 'bob' })]), state([local]), {
      ...options,
      mergeExistingUsers: { enabled: true, matchBy: 'username' },
    });
    assert.deepEqual(kinds(merged.steps), ['linkUser']);
    assert.ok(merged.steps[0]?.kind === 'linkUser' && merged.steps[0].userId === 'local-bob');
  });

  it('merges by email only when exactly one directory entry claims the account', () => {
    const local = storeUser('x', { id: 'local-bob', username: 'bob', email: 'bob@example.org', source: 'local', externalId: null, dn: null });
    const merge = { ...options, mergeExistingUsers: { enabled: true, matchBy: 'email' as const } };
    const one = planSync(snapshot([dirUser('b', { username: 'robert', email: 'BOB@example.org' })]), state([local]), merge);
    assert.deepEqual(kinds(one.steps), ['linkUser']);
    const two = planSync(
      snapshot([dirUser('b', { username: 'robert', email: 'bob@example.org' }), dirUser('c', { username: 'bobby', email: 'bob@example.org' })]),
      state([local]),
      merge,
    );
    assert.deepEqual(kinds(two.steps), ['skipUser', 'skipUser']);
  });

  it('never merges into an administrator', () => {
    const admin = storeUser('x', { id: 'local-admin', username: 'admin', source: 'local', externalId: null, dn: null, isAdmin: true });
    const plan = planSync(snapshot([dirUser('evil', { username: 'admin' })]), state([admin]), {
      ...options,
      mergeExistingUsers: { enabled: true, matchBy: 'username' },
    });
    assert.deepEqual(kinds(plan.steps), ['skipUser']);
    assert.match(plan.steps[0]?.reason ?? '', /administrator/);
  });

  it('disables missing users only when asked, and never local ones', () => {
    const users = [storeUser('a'), storeUser('gone'), storeUser('l', { source: 'local', externalId: null })];
    const plan = planSync(snapshot([dirUser('a')]), state(users), options);
    assert.deepEqual(plan.steps, [
      { kind: 'disableUser', userId: 'db-gone', username: 'gone', disabledBy: 'sync', reason: 'no longer found in the directory' },
    ]);
    assert.deepEqual(planSync(snapshot([dirUser('a')]), state(users), { ...options, disableMissingUsers: false }).steps, []);
  });

  it('skips an entry it could not map, counts it, and does not treat its account as missing', () => {
    const noUsername = {
      dn: 'uid=b,dc=x',
      externalId: 'b',
      reason: 'has no username attribute (uid, cn)',
      setting: 'users.usernameAttribute',
      missingAttributes: ['uid', 'cn'],
    };
    // No unique id: the stored account is the one under that DN (written in another case).
    const noId = {
      dn: 'UID=C, ou=people,dc=example,dc=org',
      reason: 'has no entryUUID value',
      setting: 'users.uniqueIdAttribute',
      missingAttributes: ['entryUUID'],
    };
    const fresh = {
      dn: 'uid=d,ou=people,dc=example,dc=org',
      reason: 'has no entryUUID value',
      setting: 'users.uniqueIdAttribute',
      missingAttributes: ['entryUUID'],
    };
    const snap = { ...snapshot([dirUser('a')]), skippedUsers: [noUsername, noId, fresh] };
    for (const grace of [0, 2]) {
      const plan = planSync(snap, state([storeUser('a'), storeUser('b'), storeUser('c', { missingRuns: 1 })]), { ...options, missingGraceRuns: grace });
      assert.deepEqual(plan.steps, [
        { kind: 'skipUser', externalId: 'b', dn: 'uid=b,dc=x', reason: 'skipped (no uid or cn); b is kept as it is and not counted as missing' },
        {
          kind: 'skipUser',
          externalId: null,
          dn: 'UID=C, ou=people,dc=example,dc=org',
          reason: 'skipped (no entryUUID); c is kept as it is and not counted as missing',
        },
        { kind: 'skipUser', externalId: null, dn: 'uid=d,ou=people,dc=example,dc=org', reason: 'skipped (no entryUUID)' },
      ]);
      assert.equal(plan.counts.users.skipped, 3);
      assert.deepEqual(plan.seenUserIds, ['db-a']);
    }
  });

  it('does not claim a skipped entry keeps an account another entry now carries', () => {
    const moved = dirUser('c', { dn: 'uid=c,ou=staff,dc=example,dc=org' });
    const atOldDn = {
      dn: 'uid=c,ou=people,dc=example,dc=org',
      reason: 'has no entryUUID value',
      setting: 'users.uniqueIdAttribute',
      missingAttributes: ['entryUUID'],
    };
    const plan = planSync({ ...snapshot([moved]), skippedUsers: [atOldDn] }, state([storeUser('c')]), options);
    assert.deepEqual(
      plan.steps.map((step) => `${step.kind}: ${step.reason}`),
      [
        'updateUser: moved or renamed in directory from uid=c,ou=people,dc=example,dc=org to uid=c,ou=staff,dc=example,dc=org',
        'skipUser: skipped (no entryUUID)',
      ],
    );
  });

  it('skips a group entry without a name or id: counted, and its stored group and memberships kept', () => {
    const noName = {
      dn: 'cn=old,ou=groups,dc=example,dc=org',
      externalId: 'old',
      reason: 'has no cn value',
      setting: 'groups.nameAttribute',
      missingAttributes: ['cn'],
    };
    const noId = {
      dn: 'cn=other,ou=groups,dc=example,dc=org',
      reason: 'has no entryUUID value',
      setting: 'groups.uniqueIdAttribute',
      missingAttributes: ['entryUUID'],
    };
    const current = state(
      [storeUser('a')],
      [storeGroup('old'), storeGroup('other'), storeGroup('gone')],
      [
        { userId: 'db-a', groupId: 'g-old' },
        { userId: 'db-a', groupId: 'g-other' },
      ],
    );
    for (const scope of ['all', 'listed'] as const) {
      const plan = planSync({ ...snapshot([dirUser('a')]), skippedGroups: [noName, noId] }, current, { ...options, scope });
      assert.deepEqual(
        plan.steps.map((step) => `${step.kind}: ${step.reason}`),
        [
          'skipGroup: skipped (no cn); the stored group old and its memberships are kept as they are',
          'skipGroup: skipped (no entryUUID); the stored group other and its memberships are kept as they are',
          ...(scope === 'all' ? ['deleteGroup: no longer found in the directory'] : []),
        ],
        scope,
      );
      assert.equal(plan.counts.groups.skipped, 2);
      assert.equal(plan.counts.groups.deleted, scope === 'all' ? 1 : 0);
      assert.equal(plan.counts.memberships.removed, 0);
    }
  });

  it('names the old and the new name in a rename, and the old and new DN in a move', () => {
    const plan = planSync(
      snapshot(
        [dirUser('a', { username: 'anna' })],
        [dirGroup('staff', [], { name: 'Staff', dn: 'cn=Staff,ou=teams,dc=example,dc=org' }), dirGroup('ops', [], { dn: 'cn=ops,ou=teams,dc=example,dc=org' })],
      ),
      state([storeUser('a')], [storeGroup('staff'), storeGroup('ops')]),
      options,
    );
    assert.deepEqual(
      plan.steps.map((step) => `${step.kind}: ${step.reason}`),
      [
        'updateUser: username changed from a to anna',
        'updateGroup: renamed from staff to Staff; moved or renamed in directory from cn=staff,ou=groups,dc=example,dc=org to cn=Staff,ou=teams,dc=example,dc=org',
        'updateGroup: moved or renamed in directory from cn=ops,ou=groups,dc=example,dc=org to cn=ops,ou=teams,dc=example,dc=org',
      ],
    );
  });

  it('lists every existing user the read saw, changed or not, for "Last synced"', () => {
    const plan = planSync(
      snapshot([dirUser('a'), dirUser('b', { email: 'new@example.org' }), dirUser('n')]),
      state([storeUser('a'), storeUser('b'), storeUser('gone')]),
      options,
    );
    assert.deepEqual(plan.seenUserIds, ['db-a', 'db-b']);
  });

  it('follows the directory account state according to activeState', () => {
    const locked = dirUser('a', { directoryState: 'disabled', directoryStateReason: 'locked' });
    assert.deepEqual(kinds(planSync(snapshot([locked]), state([storeUser('a')]), options).steps), ['disableUser']);
    assert.deepEqual(kinds(planSync(snapshot([locked]), state([storeUser('a')]), { ...options, activeState: 'enable' }).steps), []);
    const disabledByDirectory = storeUser('a', { isEnabled: false, disabledBy: 'directory' });
    assert.deepEqual(kinds(planSync(snapshot([dirUser('a')]), state([disabledByDirectory]), options).steps), ['enableUser']);
    assert.deepEqual(kinds(planSync(snapshot([dirUser('a')]), state([disabledByDirectory]), { ...options, activeState: 'disable' }).steps), []);
  });

  it('re-enables a user sync disabled when it comes back, but never one an administrator disabled', () => {
    const bySync = storeUser('a', { isEnabled: false, disabledBy: 'sync' });
    assert.deepEqual(kinds(planSync(snapshot([dirUser('a')]), state([bySync]), { ...options, activeState: 'none' }).steps), ['enableUser']);
    const byAdmin = storeUser('a', { isEnabled: false, disabledBy: 'admin' });
    assert.deepEqual(planSync(snapshot([dirUser('a')]), state([byAdmin]), options).steps, []);
  });

  it('creates a new user disabled when the directory has it disabled', () => {
    const plan = planSync(snapshot([dirUser('a', { directoryState: 'disabled' })]), state([]), options);
    assert.ok(plan.steps[0]?.kind === 'createUser' && plan.steps[0].isEnabled === false);
  });

  it('diffs groups and memberships, with reasons', () => {
    const plan = planSync(
      snapshot([dirUser('a'), dirUser('b'), dirUser('c')], [dirGroup('staff', ['a', 'c'], { name: 'Staff' }), dirGroup('new', ['b'])]),
      state(
        [storeUser('a'), storeUser('b')],
        [storeGroup('staff'), storeGroup('old')],
        [
          { userId: 'db-a', groupId: 'g-staff' },
          { userId: 'db-b', groupId: 'g-staff' },
        ],
      ),
      options,
    );
    const summary = plan.steps.map((step) => `${step.kind}: ${step.reason}`);
    assert.deepEqual(summary, [
      'createUser: new in directory',
      'updateGroup: renamed from staff to Staff',
      'addMembership: member of Staff',
      'removeMembership: no longer a member of Staff',
      'createGroup: new in directory',
      'addMembership: member of new',
      'deleteGroup: no longer found in the directory',
    ]);
    assert.deepEqual(plan.counts.memberships, { added: 2, removed: 1 });
  });

  it('plans no membership for a user it will not create', () => {
    const plan = planSync(snapshot([dirUser('a', { username: 'x' }), dirUser('b', { username: 'x' })], [dirGroup('g', ['a', 'b'])]), state([]), options);
    assert.deepEqual(kinds(plan.steps), ['skipUser', 'skipUser', 'createGroup']);
  });

  it('plans a 100k-user import without exhausting the call stack', () => {
    const users = Array.from({ length: 100_000 }, (_, index) => dirUser(`u${index}`));
    const groups = [
      dirGroup(
        'everyone',
        users.map((user) => user.externalId),
      ),
      dirGroup(
        'half',
        users.filter((_, index) => index % 2 === 0).map((user) => user.externalId),
      ),
    ];
    const plan = planSync(snapshot(users, groups), state([]), options);
    assert.equal(plan.counts.users.created, 100_000);
    assert.equal(plan.counts.memberships.added, 150_000);
  });

  it('gives missing users the configured grace before disabling them, and resets it when they return', () => {
    const grace = { ...options, missingGraceRuns: 2 };
    const first = planSync(snapshot([dirUser('a')]), state([storeUser('a'), storeUser('gone')]), grace);
    assert.deepEqual(
      first.steps.map((step) => [step.kind, step.reason]),
      [['markMissing', 'not found in the directory (1 of 2 runs of grace)']],
    );
    const third = planSync(snapshot([dirUser('a')]), state([storeUser('a'), storeUser('gone', { missingRuns: 2 })]), grace);
    assert.deepEqual(
      third.steps.map((step) => [step.kind, step.reason]),
      [['disableUser', 'no longer found in the directory for 3 runs']],
    );
    const back = planSync(snapshot([dirUser('a'), dirUser('gone')]), state([storeUser('a'), storeUser('gone', { missingRuns: 1 })]), grace);
    assert.deepEqual(kinds(back.steps), ['markPresent']);
  });

  it('judges only the listed users when the snapshot is one login, and deletes nothing', () => {
    const listed = { ...options, scope: 'listed' as const };
    const plan = planSync(
      snapshot([dirUser('a')], [dirGroup('kept', ['a'])]),
      state(
        [storeUser('a'), storeUser('b')],
        [storeGroup('kept'), storeGroup('left'), storeGroup('unrelated')],
        [
          { userId: 'db-a', groupId: 'g-left' },
          { userId: 'db-b', groupId: 'g-left' },
          { userId: 'db-b', groupId: 'g-kept' },
        ],
      ),
      listed,
    );
    assert.deepEqual(
      plan.steps.map((step) => `${step.kind}: ${step.reason}`),
      ['addMembership: member of kept', 'removeMembership: no longer a member of left'],
    );
    assert.ok(plan.steps.every((step) => !('userId' in step) || step.userId === 'db-a'));
  });
});

describe('planSync: records write-back created', () => {
  it('links a user and a group created in the directory by write-back to their entries by DN, without a duplicate', () => {
    const pendingUser = storeUser('nina', { externalId: null, id: 'db-nina' });
    const pendingGroup = storeGroup('crew', { externalId: null, id: 'g-crew' });
    const plan = planSync(
      snapshot(
        [dirUser('nina-uuid', { username: 'nina', dn: 'uid=nina,ou=people,dc=example,dc=org', dnKey: 'uid=nina,ou=people,dc=example,dc=org' })],
        [dirGroup('crew-uuid', ['nina-uuid'], { name: 'crew', dn: 'cn=crew,ou=groups,dc=example,dc=org' })],
      ),
      state([pendingUser], [pendingGroup]),
      options,
    );
    assert.deepEqual(kinds(plan.steps), ['linkUser', 'updateGroup', 'addMembership']);
    const [link, group] = plan.steps;
    assert.equal(link?.kind === 'linkUser' && link.userId, 'db-nina');
    assert.deepEqual(group?.kind === 'updateGroup' && group.changes, { externalId: 'crew-uuid', name: 'crew', dn: 'cn=crew,ou=groups,dc=example,dc=org' });
  });

  it('does not link a local account or a record under another DN', () => {
    const local = storeUser('nina', { externalId: null, source: 'local', dn: null });
    const plan = planSync(snapshot([dirUser('nina-uuid', { username: 'nina' })]), state([local]), options);
    assert.deepEqual(kinds(plan.steps), ['skipUser']);
  });
});

describe('planSync on an incremental run (scope delta)', () => {
  const delta = (deleted: string[]): PlanOptions => ({ ...options, scope: 'delta', deletedUserIds: new Set(deleted) });

  it('disables only the users the delta says left; users it does not hold are still there', () => {
    const plan = planSync(snapshot([dirUser('a')]), state([storeUser('a'), storeUser('b'), storeUser('gone')]), delta(['gone']));
    assert.deepEqual(
      plan.steps.filter((step) => step.kind === 'disableUser').map((step) => (step.kind === 'disableUser' ? step.username : '')),
      ['gone'],
    );
  });

  it('judges memberships of the users it holds only, and deletes groups that left as a full run does', () => {
    const current = state(
      [storeUser('a'), storeUser('b')],
      [storeGroup('staff'), storeGroup('old')],
      [
        { userId: 'db-a', groupId: 'g-staff' },
        { userId: 'db-b', groupId: 'g-staff' },
      ],
    );
    // b is not in the delta: its membership stays; a left staff; the group `old` left the directory.
    const plan = planSync(snapshot([dirUser('a')], [dirGroup('staff', [])]), current, delta([]));
    assert.deepEqual(kinds(plan.steps).sort(), ['deleteGroup', 'removeMembership']);
    const removed = plan.steps.find((step) => step.kind === 'removeMembership');
    assert.equal(removed?.kind === 'removeMembership' ? removed.username : '', 'a');
  });

  it('counts grace runs for users that left, as full runs do', () => {
    const plan = planSync(snapshot([]), state([storeUser('gone')]), { ...delta(['gone']), missingGraceRuns: 2 });
    assert.deepEqual(kinds(plan.steps), ['markMissing']);
  });
});
