import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPlan } from './guard.ts';
import { type CurrentState, type CurrentUser, countSteps, type PlanStep, type SyncPlan } from './plan.ts';
import type { DirectorySnapshot } from './snapshot.ts';

const guard = { maxDisable: { count: 5, percent: 20 }, maxRevoke: { count: 1_000, percent: 25 } };

function users(count: number): CurrentUser[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `u${index}`,
    username: `u${index}`,
    email: null,
    firstName: '',
    lastName: '',
    displayName: null,
    source: 'directory' as const,
    externalId: `e${index}`,
    dn: null,
    isEnabled: true,
    disabledBy: null,
    isAdmin: false,
    missingRuns: 0,
  }));
}

function planDisabling(count: number): SyncPlan {
  const steps: PlanStep[] = Array.from({ length: count }, (_, index) => ({
    kind: 'disableUser' as const,
    userId: `u${index}`,
    username: `u${index}`,
    disabledBy: 'sync' as const,
    reason: 'gone',
  }));
  return { steps, counts: countSteps(steps, 0), warnings: [], seenUserIds: [] };
}

const snapshotWith = (userCount: number, failure?: DirectorySnapshot['failure']): DirectorySnapshot => ({
  users: users(userCount).map((user) => ({
    externalId: user.externalId ?? '',
    dn: 'x',
    dnKey: 'x',
    username: user.username,
    email: null,
    firstName: '',
    lastName: '',
    displayName: null,
    directoryState: 'active' as const,
  })),
  groups: [],
  skippedUsers: [],
  skippedGroups: [],
  warnings: [],
  serverType: 'openldap',
  uniqueIdAttribute: 'entryUUID',
  ...(failure === undefined ? {} : { failure }),
});

const current = (count: number): CurrentState => ({ users: users(count), groups: [], memberships: [] });

describe('checkPlan', () => {
  it('allows a plan within the limits', () => {
    assert.deepEqual(checkPlan(snapshotWith(99), current(100), planDisabling(1), { guard, syncGroups: false }), { isAllowed: true });
  });

  it('refuses an incomplete read, whatever the plan', () => {
    const verdict = checkPlan(
      snapshotWith(10, { code: 'directory.unavailable', message: 'socket closed', phase: 'users', entriesRead: 10 }),
      current(100),
      planDisabling(0),
      { guard, syncGroups: false },
    );
    assert.equal(verdict.isAllowed, false);
    assert.match(verdict.isAllowed ? '' : verdict.reason, /incomplete read of users after 10 entries \(directory.unavailable\)/);
  });

  it('refuses an empty read while the store has directory users', () => {
    const verdict = checkPlan(snapshotWith(0), current(3), planDisabling(0), { guard, syncGroups: false });
    assert.match(verdict.isAllowed ? '' : verdict.reason, /returned no users/);
  });

  it('allows an empty read into an empty store', () => {
    assert.equal(checkPlan(snapshotWith(0), current(0), planDisabling(0), { guard, syncGroups: false }).isAllowed, true);
  });

  it('refuses more disables than the count', () => {
    const verdict = checkPlan(snapshotWith(94), current(100), planDisabling(6), { guard, syncGroups: false });
    assert.match(verdict.isAllowed ? '' : verdict.reason, /disables 6 of 100 .*maxDisable.count \(5\)/);
  });

  it('refuses more disables than the percentage', () => {
    const verdict = checkPlan(snapshotWith(7), current(10), planDisabling(3), { guard, syncGroups: false });
    assert.match(verdict.isAllowed ? '' : verdict.reason, /30.0% is more than guard.maxDisable.percent \(20%\)/);
  });
});

describe('checkPlan: access taken away', () => {
  /** Every user loses a membership, a role, a channel, a team and the admin flag: what a wrong group base DN plans. */
  function planStripping(count: number): SyncPlan {
    const steps: PlanStep[] = Array.from({ length: count }, (_, index): PlanStep[] => [
      { kind: 'removeMembership', userId: `u${index}`, groupId: 'g1', username: `u${index}`, group: 'staff', reason: 'no longer a member of staff' },
      { kind: 'revokeRole', userId: `u${index}`, username: `u${index}`, role: 'developer', reason: 'not in engineering' },
      { kind: 'removeChannelMember', userId: `u${index}`, username: `u${index}`, channelId: 'c1', channel: 'ops', reason: 'not in ops' },
      { kind: 'removeTeamMember', userId: `u${index}`, username: `u${index}`, teamId: 't1', team: 'red', reason: 'not in red' },
      { kind: 'setAdmin', userExternalId: `e${index}`, username: `u${index}`, isAdmin: false, reason: 'not in admins' },
    ]).flat();
    return { steps, counts: countSteps(steps, 0), warnings: [], seenUserIds: [] };
  }
  const limits = { maxDisable: { count: 100, percent: 10 }, maxRevoke: { count: 50, percent: 25 } };

  it('refuses a plan that strips every user, naming what each loses and the setting', () => {
    const verdict = checkPlan(snapshotWith(1000), current(1000), planStripping(1000), { guard: limits, syncGroups: true });
    assert.equal(verdict.isAllowed, false);
    const reason = verdict.isAllowed ? '' : verdict.reason;
    assert.match(reason, /takes access away from 1000 of 1000 directory users/);
    assert.match(reason, /1000 group memberships, 1000 roles, 1000 channel memberships, 1000 team memberships, 1000 administrator flags/);
    assert.match(reason, /more than guard\.maxRevoke\.count \(50\)/);
  });

  it('counts users, not steps: one user losing five things is one user', () => {
    assert.equal(checkPlan(snapshotWith(1000), current(1000), planStripping(50), { guard: limits, syncGroups: true }).isAllowed, true);
    const verdict = checkPlan(snapshotWith(1000), current(1000), planStripping(51), { guard: limits, syncGroups: true });
    assert.match(verdict.isAllowed ? '' : verdict.reason, /51 of 1000/);
  });

  it('refuses beyond the percentage in a small directory', () => {
    const verdict = checkPlan(snapshotWith(20), current(20), planStripping(6), { guard: limits, syncGroups: true });
    assert.match(verdict.isAllowed ? '' : verdict.reason, /30.0% is more than guard\.maxRevoke\.percent \(25%\)/);
  });

  it('counts the members of a deleted group: they lose it without a removeMembership step', () => {
    const steps: PlanStep[] = [{ kind: 'deleteGroup', groupId: 'all-staff', name: 'All Staff', reason: 'no longer found in the directory' }];
    // One of 20 groups goes (5%, within maxDisable), but it held 800 of the 1000 users.
    const groups = Array.from({ length: 20 }, (_, index) => ({
      id: index === 0 ? 'all-staff' : `g${index}`,
      externalId: `ge${index}`,
      dn: null,
      name: `group ${index}`,
      source: 'directory' as const,
    }));
    const snapshot = { ...snapshotWith(1000), groups: [] };
    const state: CurrentState = {
      ...current(1000),
      groups,
      memberships: Array.from({ length: 800 }, (_, index) => ({ userId: `u${index}`, groupId: 'all-staff' })),
    };
    const verdict = checkPlan(snapshot, state, { steps, counts: countSteps(steps, 0), warnings: [], seenUserIds: [] }, { guard: limits, syncGroups: false });
    assert.equal(verdict.isAllowed, false);
    assert.match(verdict.isAllowed ? '' : verdict.reason, /takes access away from 800 of 1000 .*800 memberships of deleted groups/);
  });

  it('does not count what users gain', () => {
    const steps: PlanStep[] = Array.from({ length: 500 }, (_, index): PlanStep[] => [
      { kind: 'grantRole', userExternalId: `e${index}`, username: `u${index}`, role: 'developer', reason: 'in engineering' },
      { kind: 'setAdmin', userExternalId: `e${index}`, username: `u${index}`, isAdmin: true, reason: 'in admins' },
      { kind: 'addMembership', userExternalId: `e${index}`, groupExternalId: 'g', username: `u${index}`, group: 'staff', reason: 'member of staff' },
    ]).flat();
    assert.equal(
      checkPlan(snapshotWith(500), current(500), { steps, counts: countSteps(steps, 0), warnings: [], seenUserIds: [] }, { guard: limits, syncGroups: true })
        .isAllowed,
      true,
    );
  });
});

describe('checkPlan on an incremental run (delta)', () => {
  it('an empty delta is no empty read', () => {
    const verdict = checkPlan(snapshotWith(0), current(3), planDisabling(0), {
      guard,
      syncGroups: true,
      delta: { directoryUsers: 100, enabledDirectoryUsers: 100 },
    });
    assert.deepEqual(verdict, { isAllowed: true });
    const full = checkPlan(snapshotWith(0), current(3), planDisabling(0), { guard, syncGroups: false });
    assert.equal(full.isAllowed, false, 'the same snapshot from a full read is refused');
  });

  it('disabling users the delta says left is still bounded, as a share of every directory user', () => {
    // The delta's state holds only the 3 users it names; the limit is judged against all 100.
    const small = checkPlan(snapshotWith(0), current(3), planDisabling(3), {
      guard,
      syncGroups: false,
      delta: { directoryUsers: 100, enabledDirectoryUsers: 100 },
    });
    assert.deepEqual(small, { isAllowed: true });
    const many = checkPlan(snapshotWith(0), current(6), planDisabling(6), {
      guard,
      syncGroups: false,
      delta: { directoryUsers: 100, enabledDirectoryUsers: 100 },
    });
    assert.equal(many.isAllowed, false);
    assert.match(many.isAllowed ? '' : many.reason, /disables 6 of 100 enabled directory users, more than guard.maxDisable.count \(5\)/);
    const share = checkPlan(snapshotWith(0), current(3), planDisabling(3), {
      guard,
      syncGroups: false,
      delta: { directoryUsers: 10, enabledDirectoryUsers: 10 },
    });
    assert.equal(share.isAllowed, false, '3 of 10 is more than 20%');
  });
});
