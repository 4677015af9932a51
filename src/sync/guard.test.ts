import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPlan } from './guard.ts';
import { countSteps, type CurrentState, type CurrentUser, type PlanStep, type SyncPlan } from './plan.ts';
import type { DirectorySnapshot } from './snapshot.ts';

const guard = { maxDisable: { count: 5, percent: 20 } };

function users(count: number): CurrentUser[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `u${index}`, username: `u${index}`, email: null, firstName: '', lastName: '', displayName: null,
    source: 'directory' as const, externalId: `e${index}`, dn: null, isEnabled: true, disabledBy: null, isAdmin: false, missingRuns: 0,
  }));
}

function planDisabling(count: number): SyncPlan {
  const steps: PlanStep[] = Array.from({ length: count }, (_, index) => ({
    kind: 'disableUser' as const, userId: `u${index}`, username: `u${index}`, disabledBy: 'sync' as const, reason: 'gone',
  }));
  return { steps, counts: countSteps(steps, 0), warnings: [] };
}

const snapshotWith = (userCount: number, failure?: DirectorySnapshot['failure']): DirectorySnapshot => ({
  users: users(userCount).map((user) => ({
    externalId: user.externalId ?? '', dn: 'x', dnKey: 'x', username: user.username, email: null, firstName: '', lastName: '', displayName: null, directoryState: 'active' as const,
  })),
  groups: [], skippedUsers: [], skippedGroups: [], warnings: [], serverType: 'openldap', uniqueIdAttribute: 'entryUUID',
  ...(failure === undefined ? {} : { failure }),
});

const current = (count: number): CurrentState => ({ users: users(count), groups: [], memberships: [] });

describe('checkPlan', () => {
  it('allows a plan within the limits', () => {
    assert.deepEqual(checkPlan(snapshotWith(99), current(100), planDisabling(1), { guard, syncGroups: false }), { isAllowed: true });
  });

  it('refuses an incomplete read, whatever the plan', () => {
    const verdict = checkPlan(snapshotWith(10, { code: 'directory.unavailable', message: 'socket closed', phase: 'users', entriesRead: 10 }), current(100), planDisabling(0), { guard, syncGroups: false });
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
