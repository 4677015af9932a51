import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MUST_CHANGE_PASSWORD, PASSWORD_NEVER_CHANGED } from '../mapping/password-change.ts';
import type { MappedUser } from '../mapping/user.ts';
import { changeEventsOf } from './change-events.ts';
import { checkPlan } from './guard.ts';
import { type CurrentUser, type PlanOptions, planSync } from './plan.ts';
import { planPasswordChange } from './plan-password-changes.ts';
import type { DirectorySnapshot } from './snapshot.ts';

const T1 = '2030-01-01T10:00:00.000Z';
const T2 = '2030-02-01T10:00:00.000Z';

describe('planPasswordChange', () => {
  const stored = (passwordChangedAt: string | null | undefined) => ({
    id: 'db-a',
    username: 'anna',
    ...(passwordChangedAt === undefined ? {} : { passwordChangedAt }),
  });
  // [case, seen, stored, setting on, expected kind (or none), reason]
  const table: Array<
    [string, string | null | undefined, string | null | undefined, boolean, 'revokeSessions' | 'recordPasswordChange' | undefined, RegExp | undefined]
  > = [
    ['moved forward', T2, T1, true, 'revokeSessions', /^password changed in the directory$/],
    ['moved forward, setting off', T2, T1, false, 'recordPasswordChange', /sessions kept: sync\.revokeSessionsOnPasswordChange is off/],
    ['unchanged', T1, T1, true, undefined, undefined],
    ['first seen (nothing stored)', T1, null, true, 'recordPasswordChange', /first seen \(2030-01-01T10:00:00\.000Z\); no sessions revoked/],
    ['first seen without a value: never changed', null, null, true, 'recordPasswordChange', /first seen \(never changed\)/],
    ['first change after "never changed"', T1, PASSWORD_NEVER_CHANGED, true, 'revokeSessions', /^password changed in the directory$/],
    ['missing now: never revokes', null, T1, true, undefined, undefined],
    ['missing now after "never changed"', null, PASSWORD_NEVER_CHANGED, true, undefined, undefined],
    [
      'moved back: recorded, sessions kept',
      T1,
      T2,
      true,
      'recordPasswordChange',
      /moved back to 2030-01-01T10:00:00\.000Z \(was 2030-02-01T10:00:00\.000Z\); sessions kept/,
    ],
    ['AD must change at next logon', MUST_CHANGE_PASSWORD, T1, true, 'revokeSessions', /^password changed in the directory \(must change at next logon\)$/],
    ['AD must change, still', MUST_CHANGE_PASSWORD, MUST_CHANGE_PASSWORD, true, undefined, undefined],
    ['AD new password after must change', T2, MUST_CHANGE_PASSWORD, true, 'revokeSessions', /^password changed in the directory$/],
    ['AD must change, first seen', MUST_CHANGE_PASSWORD, null, true, 'recordPasswordChange', /first seen \(must change at next logon\)/],
    ['not read (no attribute asked for)', undefined, T1, true, undefined, undefined],
    ['stored side not loaded', T2, undefined, true, undefined, undefined],
  ];
  for (const [name, seen, before, revokeSessions, kind, reason] of table) {
    it(name, () => {
      const step = planPasswordChange(seen, stored(before), { revokeSessions });
      assert.equal(step?.kind, kind);
      if (step === undefined || reason === undefined) return;
      assert.match(step.reason, reason);
      assert.equal(step.to, seen ?? PASSWORD_NEVER_CHANGED);
      assert.equal(step.from, before);
      assert.equal(step.userId, 'db-a');
    });
  }
});

describe('password changes in the sync plan', () => {
  const options: PlanOptions = {
    importNewUsers: true,
    updateExistingUsers: true,
    mergeExistingUsers: { enabled: true, matchBy: 'username' },
    disableMissingUsers: false,
    activeState: 'both',
    missingGraceRuns: 0,
    syncGroups: false,
    scope: 'all',
  };
  const dirUser = (id: string, passwordChangedAt: string | null): MappedUser => ({
    externalId: id,
    dn: `uid=${id},ou=people,dc=example,dc=org`,
    dnKey: `uid=${id},ou=people,dc=example,dc=org`,
    username: id,
    email: null,
    firstName: '',
    lastName: '',
    displayName: null,
    directoryState: 'active',
    passwordChangedAt,
  });
  const storeUser = (id: string, passwordChangedAt: string | null, overrides: Partial<CurrentUser> = {}): CurrentUser => ({
    id: `db-${id}`,
    username: id,
    email: null,
    firstName: '',
    lastName: '',
    displayName: null,
    source: 'directory',
    externalId: id,
    dn: `uid=${id},ou=people,dc=example,dc=org`,
    isEnabled: true,
    disabledBy: null,
    isAdmin: false,
    missingRuns: 0,
    passwordChangedAt,
    ...overrides,
  });
  const snapshot = (users: MappedUser[]): DirectorySnapshot => ({
    users,
    groups: [],
    skippedUsers: [],
    skippedGroups: [],
    warnings: [],
    serverType: 'openldap',
    uniqueIdAttribute: 'entryUUID',
  });

  it('revokes for users whose time moved, records new times, puts the steps last, and counts the users', () => {
    const users = [dirUser('changed', T2), dirUser('same', T1), dirUser('first', T1), dirUser('renamed-and-changed', T2)];
    const renamed = { ...users[3], username: 'renamed-now' } as MappedUser;
    const current = {
      users: [storeUser('changed', T1), storeUser('same', T1), storeUser('first', null), storeUser('renamed-and-changed', T1)],
      groups: [],
      memberships: [],
    };
    const plan = planSync(snapshot([users[0], users[1], users[2], renamed].filter((user): user is MappedUser => user !== undefined)), current, options);
    const kinds = plan.steps.map((step) => step.kind);
    assert.deepEqual(kinds, ['updateUser', 'revokeSessions', 'recordPasswordChange', 'revokeSessions']);
    assert.deepEqual(
      plan.steps.filter((step) => step.kind === 'revokeSessions').map((step) => [step.username, step.reason]),
      [
        ['changed', 'password changed in the directory'],
        ['renamed-and-changed', 'password changed in the directory'],
      ],
    );
    assert.equal(plan.counts.sessions.usersRevoked, 2);
    assert.equal(plan.counts.users.updated, 1, 'a password change is not a profile update');
    assert.equal(plan.counts.users.unchanged, 3);
    // Not a change-feed event of its own: apply writes session.revoked for each session it ends.
    assert.deepEqual(
      changeEventsOf(plan.steps, current, { actor: 'sync', at: T2 }).map((entry) => entry.action),
      ['user.updated'],
    );
  });

  it('fills the time in on new and linked accounts (never changed when the entry has none), with no step of their own', () => {
    const local = storeUser('merged', null, { source: 'local', externalId: null, dn: null });
    const plan = planSync(
      snapshot([dirUser('new', T1), dirUser('bare', null), dirUser('merged', T2)]),
      { users: [local], groups: [], memberships: [] },
      options,
    );
    const created = plan.steps.filter((step) => step.kind === 'createUser');
    assert.deepEqual(
      created.map((step) => step.kind === 'createUser' && step.fields.passwordChangedAt),
      [T1, PASSWORD_NEVER_CHANGED],
    );
    const linked = plan.steps.find((step) => step.kind === 'linkUser');
    assert.equal(linked?.kind === 'linkUser' && linked.fields.passwordChangedAt, T2);
    assert.deepEqual(
      plan.steps.filter((step) => step.kind === 'revokeSessions' || step.kind === 'recordPasswordChange'),
      [],
    );
  });

  it('plans a login (listed scope) the same way, and follows the setting', () => {
    const current = { users: [storeUser('anna', T1)], groups: [], memberships: [] };
    const login = planSync(snapshot([dirUser('anna', T2)]), current, { ...options, scope: 'listed' });
    assert.deepEqual(
      login.steps.map((step) => step.kind),
      ['revokeSessions'],
    );
    const off = planSync(snapshot([dirUser('anna', T2)]), current, { ...options, revokeSessionsOnPasswordChange: false });
    assert.deepEqual(
      off.steps.map((step) => step.kind),
      ['recordPasswordChange'],
    );
    assert.equal(off.counts.sessions.usersRevoked, 0);
  });

  it("is not held back by the guard, even when every user's password changed at once", () => {
    const count = 500;
    const names = Array.from({ length: count }, (_, index) => `u${index}`);
    const current = { users: names.map((name) => storeUser(name, T1)), groups: [], memberships: [] };
    const read = snapshot(names.map((name) => dirUser(name, T2)));
    const plan = planSync(read, current, options);
    assert.equal(plan.counts.sessions.usersRevoked, count);
    const verdict = checkPlan(read, current, plan, { guard: { maxDisable: { count: 0, percent: 0 }, maxRevoke: { count: 0, percent: 0 } }, syncGroups: false });
    assert.deepEqual(verdict, { isAllowed: true });
  });
});
