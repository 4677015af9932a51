/**
 * The planner and write-back (issue #10): fields pending writes hold, and unsynced local changes
 * with their conflicts. Pure: plans from hand-made snapshots and store states.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResolvedGroup } from '../mapping/memberships.ts';
import type { MappedUser } from '../mapping/user.ts';
import type { OutboxRecord } from '../model/index.ts';
import { type CurrentState, type CurrentUser, type PlanOptions, type PlanStep, planSync } from './plan.ts';
import { mergeWriteBackStates } from './read-write-back-state.ts';
import type { DirectorySnapshot } from './snapshot.ts';
import { fieldsChangedBy, type OpenStep, withoutHeldChanges, writeBackState } from './write-back-state.ts';

const options: PlanOptions = {
  importNewUsers: true,
  updateExistingUsers: true,
  mergeExistingUsers: { enabled: false, matchBy: 'username' },
  disableMissingUsers: true,
  activeState: 'both',
  missingGraceRuns: 0,
  syncGroups: false,
  scope: 'all',
};

const attributes = {
  usernameAttribute: ['uid', 'cn'],
  emailAttribute: 'mail',
  firstNameAttribute: 'givenName',
  lastNameAttribute: 'sn',
  displayNameAttribute: 'displayName',
};

const DN = 'uid=anna,ou=people,dc=example,dc=org';

function dirUser(overrides: Partial<MappedUser> = {}): MappedUser {
  return {
    externalId: 'ext-anna',
    dn: DN,
    dnKey: DN,
    username: 'anna',
    email: 'anna@example.org',
    firstName: 'Anna',
    lastName: 'Berg',
    displayName: 'Anna Berg',
    directoryState: 'active',
    ...overrides,
  };
}

function storeUser(overrides: Partial<CurrentUser> = {}): CurrentUser {
  return {
    id: 'db-anna',
    username: 'anna',
    email: 'anna@example.org',
    firstName: 'Anna',
    lastName: 'Berg',
    displayName: 'Anna Berg',
    source: 'directory',
    externalId: 'ext-anna',
    dn: DN,
    isEnabled: true,
    disabledBy: null,
    isAdmin: false,
    missingRuns: 0,
    ...overrides,
  };
}

function snapshot(users: MappedUser[], groups: ResolvedGroup[] = []): DirectorySnapshot {
  return { users, groups, skippedUsers: [], skippedGroups: [], warnings: [], serverType: 'openldap', uniqueIdAttribute: 'entryUUID' };
}

const STAFF_DN = 'cn=staff,ou=groups,dc=example,dc=org';

function dirGroup(members: string[], overrides: Partial<ResolvedGroup> = {}): ResolvedGroup {
  return { externalId: 'ext-staff', dn: STAFF_DN, dnKey: STAFF_DN, name: 'staff', memberDnKeys: [], memberUids: [], memberUserIds: members, ...overrides };
}

const storeGroup = { id: 'db-staff', externalId: 'ext-staff', dn: STAFF_DN, name: 'staff', source: 'directory' as const };

/** An open row as the lead's service enqueues it for anna. */
function row(stepKind: OutboxRecord['stepKind'], change: OutboxRecord['change'], objectId = 'db-anna'): OpenStep {
  return { objectKind: 'user', objectId, stepKind, change };
}

const setMail = row('updateUser', {
  kind: 'modify',
  dn: DN,
  changes: [{ kind: 'set', attribute: 'mail', from: ['anna@example.org'], to: ['anna@new.example.org'] }],
});

function withRows(users: CurrentUser[], rows: OpenStep[], groups: CurrentState['groups'] = [], memberships: CurrentState['memberships'] = []): CurrentState {
  return { users, groups, memberships, writeBack: writeBackState(rows, [], attributes) };
}

/** A pending membership change of anna in staff, as planAddMember/planRemoveMember write it. */
function memberRow(kind: 'addMember' | 'removeMember', attribute: 'member' | 'memberUid' = 'member'): OpenStep {
  const value = attribute === 'member' ? 'UID=Anna, ou=People, dc=example, dc=org' : 'ANNA';
  return {
    objectKind: 'group',
    objectId: 'db-staff',
    stepKind: kind,
    change: { kind: 'modify', dn: STAFF_DN, changes: [{ kind: kind === 'addMember' ? 'addValues' : 'deleteValues', attribute, values: [value] }] },
  };
}

function withBaselines(users: CurrentUser[], baselines: Array<{ field: string; values: string[] }>): CurrentState {
  const records = baselines.map((baseline) => ({
    objectKind: 'user' as const,
    objectId: 'db-anna',
    changeMarker: null,
    updatedAt: '2026-12-03T00:00:00.000Z',
    ...baseline,
  }));
  return { users, groups: [], memberships: [], writeBack: writeBackState([], records, attributes) };
}

const ofKind = <K extends PlanStep['kind']>(steps: PlanStep[], kind: K) => steps.filter((step): step is Extract<PlanStep, { kind: K }> => step.kind === kind);

describe('fieldsChangedBy', () => {
  it('names the fields read from the attributes a modify sets, whatever their case', () => {
    const step = row('updateUser', {
      kind: 'modify',
      dn: DN,
      changes: [
        { kind: 'set', attribute: 'MAIL', from: [], to: ['x'] },
        { kind: 'set', attribute: 'sn', from: ['B'], to: ['C'] },
      ],
    });
    assert.deepEqual(fieldsChangedBy(step, attributes).sort(), ['email', 'lastName']);
  });

  it('holds the username and DN of a rename, the DN of a move, the enabled state of a disable', () => {
    assert.deepEqual(fieldsChangedBy(row('renameUser', { kind: 'modifyDn', dn: DN, newRdn: 'uid=anna2' }), attributes).sort(), ['dn', 'username']);
    assert.deepEqual(
      fieldsChangedBy(row('renameUser', { kind: 'modify', dn: DN, changes: [{ kind: 'set', attribute: 'uid', from: ['anna'], to: ['anna2'] }] }), attributes),
      ['username'],
    );
    assert.deepEqual(fieldsChangedBy(row('moveUser', { kind: 'modifyDn', dn: DN, newRdn: 'uid=anna', newParent: 'ou=staff,dc=example,dc=org' }), attributes), [
      'dn',
    ]);
    assert.deepEqual(
      fieldsChangedBy(
        row('disableUser', { kind: 'modify', dn: DN, changes: [{ kind: 'set', attribute: 'pwdAccountLockedTime', from: [], to: ['000001010000Z'] }] }),
        attributes,
      ),
      ['enabled'],
    );
  });

  it('holds nothing for group rows, creates and deletes', () => {
    assert.deepEqual(fieldsChangedBy({ ...setMail, objectKind: 'group' }, attributes), []);
    assert.deepEqual(fieldsChangedBy(row('createUser', { kind: 'add', dn: DN, attributes: { mail: ['x'] } }), attributes), []);
    assert.deepEqual(fieldsChangedBy(row('deleteUser', { kind: 'delete', dn: DN }), attributes), []);
  });
});

describe('planSync with pending write-back', () => {
  it('copies the directory value when no write is pending (as before)', () => {
    const plan = planSync(snapshot([dirUser()]), { users: [storeUser({ email: 'anna@new.example.org' })], groups: [], memberships: [] }, options);
    assert.deepEqual(
      ofKind(plan.steps, 'updateUser').map((step) => step.changes),
      [{ email: 'anna@example.org' }],
    );
  });

  it('keeps the store value a pending set carries, says so, and still takes other fields', () => {
    const local = storeUser({ email: 'anna@new.example.org' });
    const held = planSync(snapshot([dirUser()]), withRows([local], [setMail]), options);
    assert.deepEqual(held.steps, []);
    assert.equal(held.counts.users.unchanged, 1);
    assert.deepEqual(held.warnings, [`user anna keeps its email held by a pending write-back: the directory's value is not copied back until it is delivered`]);

    const alsoRenamed = planSync(snapshot([dirUser({ lastName: 'Lund' })]), withRows([local], [setMail]), options);
    const [update] = ofKind(alsoRenamed.steps, 'updateUser');
    assert.deepEqual(update?.changes, { lastName: 'Lund' });
    assert.equal(update?.reason, 'lastName changed; email held by a pending write-back');
  });

  it('holds a failed row like a pending one, and only for its own user', () => {
    const other = storeUser({ id: 'db-bob', username: 'bob', externalId: 'ext-bob', email: 'bob@local', dn: 'uid=bob,ou=people,dc=example,dc=org' });
    const plan = planSync(
      snapshot([
        dirUser(),
        dirUser({
          externalId: 'ext-bob',
          username: 'bob',
          email: 'bob@example.org',
          dn: 'uid=bob,ou=people,dc=example,dc=org',
          dnKey: 'uid=bob,ou=people,dc=example,dc=org',
        }),
      ]),
      withRows([storeUser({ email: 'anna@new.example.org' }), other], [setMail]),
      options,
    );
    assert.deepEqual(
      ofKind(plan.steps, 'updateUser').map((step) => [step.username, step.changes]),
      [['bob', { email: 'bob@example.org' }]],
    );
  });

  it('keeps a local rename while its rename is pending, and the old name stays taken', () => {
    const renamed = storeUser({ username: 'anna2' });
    const rename = row('renameUser', { kind: 'modifyDn', dn: DN, newRdn: 'uid=anna2' });
    const plan = planSync(snapshot([dirUser()]), withRows([renamed], [rename]), options);
    assert.deepEqual(plan.steps, []);
    assert.match(plan.warnings[0] ?? '', /keeps its username held by a pending write-back/);
    // The name the directory still shows belongs to no one else: a new entry claiming anna2 is not imported over it.
    const claim = planSync(
      snapshot([
        dirUser(),
        dirUser({ externalId: 'ext-new', username: 'anna2', dn: 'uid=anna2,ou=people,dc=example,dc=org', dnKey: 'uid=anna2,ou=people,dc=example,dc=org' }),
      ]),
      withRows([renamed], [rename]),
      options,
    );
    assert.deepEqual(
      claim.steps.map((step) => step.kind),
      ['skipUser'],
    );
  });

  it('keeps a local move while its modify DN is pending', () => {
    const moved = storeUser({ dn: 'uid=anna,ou=staff,dc=example,dc=org' });
    const plan = planSync(
      snapshot([dirUser()]),
      withRows([moved], [row('moveUser', { kind: 'modifyDn', dn: DN, newRdn: 'uid=anna', newParent: 'ou=staff,dc=example,dc=org' })]),
      options,
    );
    assert.deepEqual(plan.steps, []);
    assert.match(plan.warnings[0] ?? '', /keeps its dn held/);
  });

  it('keeps a local enable while it is pending, instead of disabling from the stale directory state', () => {
    const disabledInDirectory = dirUser({ directoryState: 'disabled', directoryStateReason: 'locked in directory' });
    const enable = row('enableUser', {
      kind: 'modify',
      dn: DN,
      changes: [{ kind: 'deleteValues', attribute: 'pwdAccountLockedTime', values: ['000001010000Z'] }],
    });
    const before = planSync(snapshot([disabledInDirectory]), { users: [storeUser()], groups: [], memberships: [] }, options);
    assert.deepEqual(
      before.steps.map((step) => step.kind),
      ['disableUser'],
    );
    const held = planSync(snapshot([disabledInDirectory]), withRows([storeUser()], [enable]), options);
    assert.deepEqual(held.steps, []);
    assert.match(held.warnings[0] ?? '', /keeps its enabled held/);
  });

  it('links a record write-back created keeping the fields a later pending write holds', () => {
    const created = storeUser({ externalId: null, email: 'anna@new.example.org' });
    const plan = planSync(snapshot([dirUser()]), withRows([created], [setMail]), options);
    const [link] = ofKind(plan.steps, 'linkUser');
    assert.equal(link?.fields.email, 'anna@new.example.org');
    assert.equal(link?.fields.lastName, 'Berg');
    assert.match(link?.reason ?? '', /linked to its entry .*; email held by a pending write-back/);
  });

  it('merges two reads: a field held in either stays held', () => {
    const early = writeBackState([setMail], [], attributes);
    const late = writeBackState(
      [row('updateUser', { kind: 'modify', dn: DN, changes: [{ kind: 'set', attribute: 'sn', from: ['Berg'], to: ['Lund'] }] })],
      [],
      attributes,
    );
    assert.deepEqual([...(mergeWriteBackStates(early, late)?.held.get('db-anna') ?? [])].sort(), ['email', 'lastName']);
    assert.equal(mergeWriteBackStates(undefined, late), late);
  });
});

describe('planSync with pending group writes and deletes', () => {
  const groupOptions = { ...options, syncGroups: true };

  it('keeps a membership a pending add carries (by DN, in any spelling, or by memberUid), and removes it without one', () => {
    const member = [{ userId: 'db-anna', groupId: 'db-staff' }];
    const plain = planSync(snapshot([dirUser()], [dirGroup([])]), withRows([storeUser()], [], [storeGroup], member), groupOptions);
    assert.deepEqual(
      plain.steps.map((step) => step.kind),
      ['removeMembership'],
    );
    for (const attribute of ['member', 'memberUid'] as const) {
      const held = planSync(
        snapshot([dirUser()], [dirGroup([])]),
        withRows([storeUser()], [memberRow('addMember', attribute)], [storeGroup], member),
        groupOptions,
      );
      assert.deepEqual(held.steps, [], attribute);
      assert.deepEqual(held.warnings, ['anna stays in staff: a pending write-back adds it to the group']);
    }
  });

  it('does not add back a membership a pending remove takes away', () => {
    const plain = planSync(snapshot([dirUser()], [dirGroup(['ext-anna'])]), withRows([storeUser()], [], [storeGroup]), groupOptions);
    assert.deepEqual(
      plain.steps.map((step) => step.kind),
      ['addMembership'],
    );
    const held = planSync(snapshot([dirUser()], [dirGroup(['ext-anna'])]), withRows([storeUser()], [memberRow('removeMember')], [storeGroup]), groupOptions);
    assert.deepEqual(held.steps, []);
    assert.match(held.warnings[0] ?? '', /anna is not added to staff: a pending write-back removes it/);
  });

  it('keeps a group name a pending rename carries', () => {
    const renamed = { ...storeGroup, name: 'crew' };
    const rename: OpenStep = {
      objectKind: 'group',
      objectId: 'db-staff',
      stepKind: 'renameGroup',
      change: { kind: 'modifyDn', dn: STAFF_DN, newRdn: 'cn=crew' },
    };
    assert.deepEqual(
      planSync(snapshot([], [dirGroup([])]), withRows([], [], [renamed]), groupOptions).steps.map((step) => step.kind),
      ['updateGroup'],
    );
    const held = planSync(snapshot([], [dirGroup([])]), withRows([], [rename], [renamed]), groupOptions);
    assert.deepEqual(held.steps, []);
    assert.match(held.warnings[0] ?? '', /group crew keeps its name held by a pending write-back/);
  });

  it('does not import again a user or group whose delete is pending', () => {
    const deletes: OpenStep[] = [
      { objectKind: 'user', objectId: 'gone-anna', stepKind: 'deleteUser', change: { kind: 'delete', dn: DN } },
      { objectKind: 'group', objectId: 'gone-staff', stepKind: 'deleteGroup', change: { kind: 'delete', dn: STAFF_DN } },
    ];
    const plan = planSync(snapshot([dirUser()], [dirGroup(['ext-anna'])]), withRows([], deletes), groupOptions);
    assert.deepEqual(
      plan.steps.map((step) => step.kind),
      ['skipUser', 'skipGroup'],
    );
    assert.match(plan.steps[0]?.reason ?? '', /deleted in dirbridge, and the delete is pending/);
    assert.equal(plan.counts.users.created, 0);
    assert.equal(plan.counts.memberships.added, 0);
  });
});

describe('planSync in unsynced mode', () => {
  const local = storeUser({ email: 'anna@local.example.org' });
  const baseline = [{ field: 'email', values: ['anna@example.org'] }];

  it('keeps the local value while the directory still holds the baseline', () => {
    const plan = planSync(snapshot([dirUser()]), withBaselines([local], baseline), options);
    assert.deepEqual(plan.steps, []);
    const other = planSync(snapshot([dirUser({ lastName: 'Lund' })]), withBaselines([local], baseline), options);
    const [update] = ofKind(other.steps, 'updateUser');
    assert.deepEqual(update?.changes, { lastName: 'Lund' });
    assert.equal(update?.reason, 'email kept as changed in dirbridge (writeBack.mode unsynced); lastName changed');
  });

  it('gives the field to the directory when it wins a conflict: the store takes its value and the baseline goes', () => {
    const plan = planSync(snapshot([dirUser({ email: 'anna@hr.example.org' })]), withBaselines([local], baseline), options);
    assert.deepEqual(
      ofKind(plan.steps, 'updateUser').map((step) => [step.changes, step.reason]),
      [[{ email: 'anna@hr.example.org' }, 'email changed in the directory too: the directory wins (writeBack.authority)']],
    );
    const [settle] = ofKind(plan.steps, 'settleLocalChange');
    assert.deepEqual(
      {
        outcome: settle?.outcome,
        field: settle?.field,
        directoryValue: settle?.directoryValue,
        dirbridgeValue: settle?.dirbridgeValue,
        baseline: settle?.baseline,
      },
      {
        outcome: 'directoryWins',
        field: 'email',
        directoryValue: 'anna@hr.example.org',
        dirbridgeValue: 'anna@local.example.org',
        baseline: ['anna@example.org'],
      },
    );
  });

  it('keeps the local value when dirbridge has the authority, recording the conflict', () => {
    const plan = planSync(snapshot([dirUser({ email: 'anna@hr.example.org' })]), withBaselines([local], baseline), {
      ...options,
      writeBackAuthority: { default: 'dirbridge', fields: {} },
    });
    assert.deepEqual(ofKind(plan.steps, 'updateUser'), []);
    assert.deepEqual(
      ofKind(plan.steps, 'settleLocalChange').map((step) => [step.outcome, step.directoryValue]),
      [['dirbridgeWins', 'anna@hr.example.org']],
    );
    // A per-field authority overrides the default.
    const perField = planSync(snapshot([dirUser({ email: 'anna@hr.example.org' })]), withBaselines([local], baseline), {
      ...options,
      writeBackAuthority: { default: 'dirbridge', fields: { email: 'directory' } },
    });
    assert.deepEqual(
      ofKind(perField.steps, 'settleLocalChange').map((step) => step.outcome),
      ['directoryWins'],
    );
  });

  it('drops the baseline without a conflict once the directory holds the local value', () => {
    const plan = planSync(snapshot([dirUser({ email: 'anna@local.example.org' })]), withBaselines([local], baseline), options);
    assert.deepEqual(
      plan.steps.map((step) => step.kind),
      ['settleLocalChange'],
    );
    assert.equal(ofKind(plan.steps, 'settleLocalChange')[0]?.outcome, 'settled');
  });

  it('follows the directory when the local value is the baseline again', () => {
    const plan = planSync(snapshot([dirUser({ email: 'anna@hr.example.org' })]), withBaselines([storeUser()], baseline), options);
    assert.deepEqual(
      ofKind(plan.steps, 'updateUser').map((step) => step.changes),
      [{ email: 'anna@hr.example.org' }],
    );
    assert.deepEqual(
      ofKind(plan.steps, 'settleLocalChange').map((step) => step.outcome),
      ['settled'],
    );
  });

  it('reads an empty baseline as an absent value', () => {
    const noName = storeUser({ displayName: 'Anna B.' });
    const plan = planSync(snapshot([dirUser({ displayName: null })]), withBaselines([noName], [{ field: 'displayName', values: [] }]), options);
    assert.deepEqual(plan.steps, []);
  });
});

describe('withoutHeldChanges (apply reads write-back again)', () => {
  const step = {
    kind: 'updateUser' as const,
    userId: 'db-anna',
    username: 'anna',
    changes: { email: 'anna@example.org', lastName: 'Lund', username: 'anna' },
    reason: 'email changed; lastName changed',
  };
  const baseline = [
    { objectKind: 'user' as const, objectId: 'db-anna', field: 'lastName', values: ['Berg'], changeMarker: null, updatedAt: '2026-12-03T00:00:00.000Z' },
  ];

  it('drops fields a row committed after planning holds, and fields changed locally since, keeping the step', () => {
    const rename = row('renameUser', { kind: 'modifyDn', dn: DN, newRdn: 'uid=anna2' });
    const [kept] = withoutHeldChanges([step], writeBackState([setMail, rename], baseline, attributes), new Map());
    assert.deepEqual(kept?.changes, {});
    assert.equal(kept?.userId, 'db-anna');
  });

  it('keeps what the plan settled on purpose, other users, and everything when nothing is held', () => {
    const state = writeBackState([], baseline, attributes);
    assert.deepEqual(withoutHeldChanges([step], state, new Map([['db-anna', new Set(['lastName'])]]))[0]?.changes, step.changes);
    assert.deepEqual(withoutHeldChanges([{ ...step, userId: 'db-bob' }], state, new Map())[0]?.changes, step.changes);
    assert.deepEqual(withoutHeldChanges([step], undefined, new Map()), [step]);
  });
});
