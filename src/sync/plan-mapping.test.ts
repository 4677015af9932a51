import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { UserMappingInput } from '../mapping/grants.ts';
import type { MappingState } from '../model/index.ts';
import { mappingSettingsSchema } from '../settings/schema.ts';
import type { CurrentUser } from './plan.ts';
import { type MappedUserWithInput, planMappings } from './plan-mapping.ts';

const settings = mappingSettingsSchema.parse({
  roles: { enabled: true, autoRemove: true, map: { 'rocket-admin': 'admin', manager: ['leader', 'moderator'], 'team-leads': 'leader' } },
  channels: { enabled: true, autoRemove: true, channelAdmin: 'rocket.cat', map: { employee: 'general', techsupport: ['helpdesk', 'support'] } },
  teams: { enabled: true, map: { 'ldap-team-1': 'TeamA' } },
  customFields: { enabled: true, map: { departmentNumber: 'department' } },
  abac: { enabled: true, map: { ou: 'unit' } },
  adminGroup: 'rocket-admin',
});

const input = (overrides: Partial<UserMappingInput> = {}): UserMappingInput => ({
  groupNames: [],
  teamGroupNames: [],
  customFields: {},
  abacAttributes: {},
  ...overrides,
});
const user = (id: string, mapping: UserMappingInput): MappedUserWithInput => ({
  externalId: id,
  dn: `uid=${id},dc=x`,
  dnKey: `uid=${id},dc=x`,
  username: id,
  email: null,
  firstName: '',
  lastName: '',
  displayName: null,
  directoryState: 'active',
  mapping,
});
const storeUser = (id: string, isAdmin = false): CurrentUser => ({
  id: `db-${id}`,
  username: id,
  email: null,
  firstName: '',
  lastName: '',
  displayName: null,
  source: 'directory',
  externalId: id,
  dn: null,
  isEnabled: true,
  disabledBy: null,
  isAdmin,
  missingRuns: 0,
});
const empty: MappingState = { roles: [], channels: [], channelMembers: [], teams: [], teamMembers: [], customFields: [], abacAttributes: [], avatarHashes: [] };
const reasons = (steps: ReturnType<typeof planMappings>) => steps.map((step) => `${step.kind}: ${step.reason}`);

describe('planMappings', () => {
  it('grants overlapping roles once each, creates missing channels owned by the channel admin, and says why', () => {
    const steps = planMappings(
      [
        user(
          'a',
          input({
            groupNames: ['manager', 'team-leads', 'techsupport'],
            teamGroupNames: ['ldap-team-1'],
            customFields: { department: 'R&D' },
            abacAttributes: { unit: ['north', 'south'] },
          }),
        ),
      ],
      { users: [], mapping: empty },
      settings,
      { linked: new Map(), created: new Set(['a']) },
    );
    assert.deepEqual(reasons(steps), [
      'grantRole: granted leader: member of manager, team-leads',
      'grantRole: granted moderator: member of manager',
      'createChannel: created for group techsupport',
      'addChannelMember: added to #helpdesk: member of techsupport',
      'createChannel: created for group techsupport',
      'addChannelMember: added to #support: member of techsupport',
      'createTeam: created for team group ldap-team-1',
      'addTeamMember: added to team TeamA: member of ldap-team-1',
      'setCustomFields: custom fields changed: department',
      'setAbacAttributes: ABAC attributes changed: unit',
    ]);
    const channel = steps.find((step) => step.kind === 'createChannel');
    assert.ok(channel?.kind === 'createChannel' && channel.ownerUsername === 'rocket.cat');
    const abac = steps.find((step) => step.kind === 'setAbacAttributes');
    assert.deepEqual(abac?.kind === 'setAbacAttributes' ? abac.attributes : undefined, { unit: ['north', 'south'] }, 'every value kept');
  });

  it('auto-removes only mapped roles and channels, and only when asked', () => {
    const state: MappingState = {
      ...empty,
      roles: [
        { userId: 'db-a', role: 'moderator' },
        { userId: 'db-a', role: 'user' },
      ],
      channels: [
        { id: 'c1', name: 'support', ownerUsername: null, source: 'directory', createdAt: '' },
        { id: 'c2', name: 'random', ownerUsername: null, source: 'local', createdAt: '' },
      ],
      channelMembers: [
        { channelId: 'c1', userId: 'db-a' },
        { channelId: 'c2', userId: 'db-a' },
      ],
    };
    const ids = { linked: new Map([['a', 'db-a']]), created: new Set<string>() };
    assert.deepEqual(reasons(planMappings([user('a', input())], { users: [storeUser('a')], mapping: state }, settings, ids)), [
      'revokeRole: removed moderator: no longer in manager',
      'removeChannelMember: removed from #support: no longer in techsupport',
    ]);
    const keep = mappingSettingsSchema.parse({
      ...settings,
      roles: { ...settings.roles, autoRemove: false },
      channels: { ...settings.channels, autoRemove: false },
    });
    assert.deepEqual(planMappings([user('a', input())], { users: [storeUser('a')], mapping: state }, keep, ids), []);
  });

  it('grants and takes away the admin flag with the admin group', () => {
    const ids = { linked: new Map([['a', 'db-a']]), created: new Set<string>() };
    assert.deepEqual(
      reasons(planMappings([user('a', input({ groupNames: ['Rocket-Admin'] }))], { users: [storeUser('a')], mapping: empty }, settings, ids)).filter((line) =>
        line.startsWith('setAdmin'),
      ),
      ['setAdmin: administrator: member of rocket-admin'],
    );
    assert.deepEqual(reasons(planMappings([user('a', input())], { users: [storeUser('a', true)], mapping: empty }, settings, ids)), [
      'setAdmin: no longer an administrator: not in rocket-admin',
    ]);
  });

  it('plans nothing for a user in sync, and nothing for users the plan skipped', () => {
    const state: MappingState = { ...empty, roles: [{ userId: 'db-a', role: 'admin' }], customFields: [{ userId: 'db-a', fields: { department: 'R&D' } }] };
    const synced = user('a', input({ groupNames: ['rocket-admin'], customFields: { department: 'R&D' } }));
    assert.deepEqual(
      planMappings([synced], { users: [storeUser('a', true)], mapping: state }, settings, { linked: new Map([['a', 'db-a']]), created: new Set() }),
      [],
    );
    assert.deepEqual(
      planMappings([user('b', input({ groupNames: ['manager'] }))], { users: [], mapping: empty }, settings, { linked: new Map(), created: new Set() }),
      [],
    );
  });
});
