import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changeEventsOf } from './change-events.ts';
import type { CurrentState, PlanStep } from './plan.ts';

const user = (id: string, username: string) => ({ id, username, externalId: `ext-${id}` }) as unknown as CurrentState['users'][number];
const group = (id: string, name: string) => ({ id, name, externalId: `gext-${id}` }) as unknown as CurrentState['groups'][number];

describe('change events of a plan', () => {
  const current: CurrentState = { users: [user('u1', 'anna'), user('u2', 'bob')], groups: [group('g1', 'staff'), group('g2', 'ops')], memberships: [] };
  const at = '2030-01-01T00:00:00.000Z';

  it('gives one membership entry per existing user with names added and removed, and one update entry', () => {
    const steps = [
      { kind: 'addMembership', userExternalId: 'ext-u1', groupExternalId: 'gext-g2', reason: 'member of ops' },
      { kind: 'createGroup', externalId: 'gext-new', name: 'new-group', dn: 'cn=new-group', reason: 'new' },
      { kind: 'addMembership', userExternalId: 'ext-u1', groupExternalId: 'gext-new', reason: 'member of new-group' },
      { kind: 'removeMembership', userId: 'u1', groupId: 'g1', reason: 'no longer a member of staff' },
      { kind: 'grantRole', userExternalId: 'ext-u1', username: 'anna', role: 'support', reason: 'granted' },
      { kind: 'removeChannelMember', userId: 'u2', username: 'bob', channelId: 'c1', channel: 'general', reason: 'removed' },
      { kind: 'updateUser', userId: 'u2', username: 'bob', changes: { email: 'b@x' }, reason: 'email changed' },
      { kind: 'setCustomFields', userExternalId: 'ext-u2', username: 'bob', fields: {}, reason: 'custom fields changed: department' },
    ] as unknown as PlanStep[];
    const entries = changeEventsOf(steps, current, { actor: 'sync', at });
    assert.deepEqual(
      entries.map((entry) => [entry.action, entry.subject, entry.reason]),
      [
        ['membership.changed', 'anna', 'groups +2 −1, roles +1'],
        ['membership.changed', 'bob', 'channels −1'],
        ['user.updated', 'bob', 'email changed; custom fields changed: department'],
      ],
    );
    assert.deepEqual(entries[0]?.details, { groups: { added: ['new-group', 'ops'], removed: ['staff'] }, roles: { added: ['support'], removed: [] } });
    assert.ok(entries.every((entry) => entry.actor === 'sync' && entry.at === at));
  });

  it('says nothing about users created in the same run: their user.created entry covers them', () => {
    const steps = [
      { kind: 'createUser', externalId: 'ext-new', fields: { username: 'carl' }, isEnabled: true, reason: 'new' },
      { kind: 'addMembership', userExternalId: 'ext-new', groupExternalId: 'gext-g1', reason: 'member of staff' },
      { kind: 'grantRole', userExternalId: 'ext-new', username: 'carl', role: 'support', reason: 'granted' },
    ] as unknown as PlanStep[];
    assert.deepEqual(changeEventsOf(steps, current, { actor: 'sync', at }), []);
  });
});
