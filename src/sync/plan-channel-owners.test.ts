import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChannelRecord, MappingState } from '../model/index.ts';
import { type MappingSettings, mappingSettingsSchema } from '../settings/schema.ts';
import { type CurrentUser, countSteps, type PlanOptions, type PlanStep, planSync } from './plan.ts';
import { accountStatesAfter, type MappedUserWithInput, planChannelOwners } from './plan-mapping.ts';
import type { DirectorySnapshot } from './snapshot.ts';

const mapping = (channelAdmin: string | undefined, overrides: Record<string, unknown> = {}): MappingSettings =>
  mappingSettingsSchema.parse({
    channels: { enabled: true, map: { staff: 'general' }, ...(channelAdmin === undefined ? {} : { channelAdmin }), ...overrides },
  });

const options = (settings: MappingSettings, overrides: Partial<PlanOptions> = {}): PlanOptions => ({
  importNewUsers: true,
  updateExistingUsers: true,
  mergeExistingUsers: { enabled: false, matchBy: 'username' },
  disableMissingUsers: true,
  activeState: 'both',
  missingGraceRuns: 0,
  syncGroups: false,
  scope: 'all',
  mapping: settings,
  ...overrides,
});

const storeUser = (name: string, overrides: Partial<CurrentUser> = {}): CurrentUser => ({
  id: `db-${name}`,
  username: name,
  email: null,
  firstName: '',
  lastName: '',
  displayName: null,
  source: 'directory',
  externalId: name,
  dn: `uid=${name},dc=x`,
  isEnabled: true,
  disabledBy: null,
  isAdmin: false,
  missingRuns: 0,
  ...overrides,
});
const dirUser = (name: string, overrides: Partial<MappedUserWithInput> = {}): MappedUserWithInput => ({
  externalId: name,
  dn: `uid=${name},dc=x`,
  dnKey: `uid=${name},dc=x`,
  username: name,
  email: null,
  firstName: '',
  lastName: '',
  displayName: null,
  directoryState: 'active',
  mapping: { groupNames: [], teamGroupNames: [], customFields: {}, abacAttributes: {} },
  ...overrides,
});
const channel = (name: string, ownerUsername: string | null, source: ChannelRecord['source'] = 'directory'): ChannelRecord => ({
  id: `c-${name}`,
  name,
  ownerUsername,
  source,
  createdAt: '',
});
const state = (channels: ChannelRecord[]): MappingState => ({
  roles: [],
  channels,
  channelMembers: [],
  teams: [],
  teamMembers: [],
  customFields: [],
  abacAttributes: [],
  avatarHashes: [],
});
const snapshot = (users: MappedUserWithInput[]): DirectorySnapshot => ({
  users,
  groups: [],
  skippedUsers: [],
  skippedGroups: [],
  warnings: [],
  serverType: 'openldap',
  uniqueIdAttribute: 'entryUUID',
});
const ownerSteps = (steps: readonly PlanStep[]) =>
  steps.flatMap((step) => (step.kind === 'setChannelOwner' ? [[step.channel, step.previousOwner, step.ownerUsername, step.reason]] : []));

describe('planning channel owners', () => {
  it('reassigns the channels of an owner this plan disables to the Channel Admin, with the reason, and counts them', () => {
    const users = [storeUser('anna.b'), storeUser('rocket.cat', { source: 'local', externalId: null }), storeUser('ben')];
    const plan = planSync(
      snapshot([dirUser('ben')]),
      {
        users,
        groups: [],
        memberships: [],
        mapping: state([channel('general', 'anna.b'), channel('random', 'anna.b', 'local'), channel('ops', 'rocket.cat')]),
      },
      options(mapping('rocket.cat')),
    );
    assert.deepEqual(ownerSteps(plan.steps), [
      ['general', 'anna.b', 'rocket.cat', 'owner anna.b disabled: no longer found in the directory; reassigned to rocket.cat'],
    ]);
    assert.equal(plan.counts.channels.ownerChanged, 1);
    assert.equal(countSteps(plan.steps, 0).channels.ownerChanged, 1);
  });

  it('removes the owner when the Channel Admin is the disabled owner, disabled too, unknown or unset', () => {
    const locked = dirUser('anna.b', { directoryState: 'disabled', directoryStateReason: 'locked in directory (pwdAccountLockedTime)' });
    const current = (users: CurrentUser[]) => ({ users, groups: [], memberships: [], mapping: state([channel('general', 'anna.b')]) });
    const cases: Array<[string | undefined, CurrentUser[], string]> = [
      ['anna.b', [storeUser('anna.b')], 'owner removed (it is the Channel Admin)'],
      [
        'rocket.cat',
        [storeUser('anna.b'), storeUser('rocket.cat', { isEnabled: false, disabledBy: 'admin' })],
        'owner removed (Channel Admin rocket.cat is disabled too)',
      ],
      ['rocket.cat', [storeUser('anna.b')], 'owner removed (Channel Admin rocket.cat is not a known user)'],
      [undefined, [storeUser('anna.b')], 'owner removed (no Channel Admin is set)'],
    ];
    for (const [admin, users, why] of cases) {
      const plan = planSync(snapshot([locked]), current(users), options(mapping(admin)));
      assert.deepEqual(
        ownerSteps(plan.steps),
        [['general', 'anna.b', null, `owner anna.b disabled: locked in directory (pwdAccountLockedTime); ${why}`]],
        String(admin),
      );
    }
  });

  it('reassigns channels of an owner disabled earlier, and follows a changed Channel Admin setting', () => {
    const users = [storeUser('anna.b', { isEnabled: false, disabledBy: 'sync' }), storeUser('old.admin'), storeUser('Rocket.Cat')];
    const channels = [
      channel('a', 'anna.b'),
      channel('b', 'old.admin'),
      channel('c', null),
      channel('d', 'rocket.cat'),
      channel('e', 'someone.gone'),
      channel('f', 'old.admin', 'local'),
    ];
    const steps = planChannelOwners(channels, mapping('rocket.cat').channels, accountStatesAfter(users, []));
    assert.deepEqual(ownerSteps(steps), [
      ['a', 'anna.b', 'rocket.cat', 'owner anna.b is disabled (by sync); reassigned to rocket.cat'],
      ['b', 'old.admin', 'rocket.cat', 'owner old.admin is not the Channel Admin; reassigned to rocket.cat'],
      ['c', null, 'rocket.cat', 'no owner; assigned to Channel Admin rocket.cat'],
      ['e', 'someone.gone', 'rocket.cat', 'owner someone.gone is not the Channel Admin; reassigned to rocket.cat'],
    ]);
  });

  it('leaves owners alone when the Channel Admin is no enabled user, when channel mapping is off, and for a login', () => {
    const users = [storeUser('anna.b'), storeUser('rocket.cat', { isEnabled: false, disabledBy: 'admin' })];
    const channels = [channel('general', 'anna.b'), channel('ops', null)];
    assert.deepEqual(planChannelOwners(channels, mapping('rocket.cat').channels, accountStatesAfter(users, [])), [], 'Channel Admin disabled');
    assert.deepEqual(planChannelOwners(channels, mapping('nobody').channels, accountStatesAfter(users, [])), [], 'Channel Admin unknown');
    const off = mapping('rocket.cat', { enabled: false });
    const disabledOwner = [storeUser('anna.b', { isEnabled: false, disabledBy: 'sync' }), storeUser('rocket.cat')];
    assert.deepEqual(planChannelOwners(channels, off.channels, accountStatesAfter(disabledOwner, [])), [], 'channel mapping off');
    const login = planSync(
      snapshot([dirUser('rocket.cat')]),
      { users: disabledOwner, groups: [], memberships: [], mapping: state(channels) },
      options(mapping('rocket.cat'), { scope: 'listed' }),
    );
    assert.deepEqual(ownerSteps(login.steps), [], 'a login sees one user, so it does not judge ownership');
  });

  it('treats an owner this plan re-enables as enabled, and creates new channels without an owner while the Channel Admin is disabled', () => {
    const users = [storeUser('anna.b', { isEnabled: false, disabledBy: 'sync' }), storeUser('rocket.cat', { isEnabled: false, disabledBy: 'admin' })];
    const back = planSync(
      snapshot([dirUser('anna.b', { mapping: { groupNames: ['staff'], teamGroupNames: [], customFields: {}, abacAttributes: {} } })]),
      { users, groups: [], memberships: [], mapping: state([channel('ops', 'anna.b')]) },
      options(mapping('rocket.cat')),
    );
    assert.deepEqual(ownerSteps(back.steps), [], 'anna.b is enabled again by this plan');
    const created = back.steps.find((step) => step.kind === 'createChannel');
    assert.ok(created?.kind === 'createChannel');
    assert.equal(created.ownerUsername, null);
    assert.equal(created.reason, 'created for group staff; no owner: Channel Admin rocket.cat is disabled (by admin)');
  });

  it('plans nothing once ownership is settled', () => {
    const users = [storeUser('anna.b', { isEnabled: false, disabledBy: 'sync' }), storeUser('rocket.cat')];
    assert.deepEqual(
      planChannelOwners([channel('a', 'rocket.cat'), channel('b', 'ROCKET.CAT')], mapping('rocket.cat').channels, accountStatesAfter(users, [])),
      [],
    );
    const noAdmin = [storeUser('anna.b', { isEnabled: false, disabledBy: 'sync' })];
    assert.deepEqual(planChannelOwners([channel('a', null), channel('b', 'ben')], mapping(undefined).channels, accountStatesAfter(noAdmin, [])), []);
  });
});
