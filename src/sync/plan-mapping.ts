/**
 * The mapping half of a sync plan: roles, channels, teams, custom fields, ABAC attributes and
 * the admin flag, diffed per user against the store. Pure. Each step says which group grants
 * or no longer grants it, e.g. "removed from #support: no longer in techsupport".
 */
import { desiredGrants, grantableNames, type UserMappingInput } from '../mapping/grants.ts';
import type { MappedUser } from '../mapping/user.ts';
import type { MappingSettings } from '../settings/schema.ts';
import type { MappingState } from '../store/store.ts';
import type { CurrentUser } from './plan.ts';

/** One mapping change. Users are named by external id, so steps can refer to users created in the same plan. */
export type MappingStep =
  | { kind: 'grantRole'; userExternalId: string; username: string; role: string; reason: string }
  | { kind: 'revokeRole'; userId: string; username: string; role: string; reason: string }
  | { kind: 'createChannel'; name: string; ownerUsername: string | null; reason: string }
  | { kind: 'addChannelMember'; userExternalId: string; username: string; channel: string; reason: string }
  | { kind: 'removeChannelMember'; userId: string; username: string; channelId: string; channel: string; reason: string }
  | { kind: 'createTeam'; name: string; reason: string }
  | { kind: 'addTeamMember'; userExternalId: string; username: string; team: string; reason: string }
  | { kind: 'removeTeamMember'; userId: string; username: string; teamId: string; team: string; reason: string }
  | { kind: 'setCustomFields'; userExternalId: string; username: string; fields: Record<string, string>; reason: string }
  | { kind: 'setAbacAttributes'; userExternalId: string; username: string; attributes: Record<string, string[]>; reason: string }
  | { kind: 'setAdmin'; userExternalId: string; username: string; isAdmin: boolean; reason: string };

/** A directory user with what the mapping read for it. */
export type MappedUserWithInput = MappedUser & { mapping?: UserMappingInput };

/** Plans the mapping steps for the users this plan keeps (linked or created). */
export function planMappings(
  users: readonly MappedUserWithInput[],
  current: { users: readonly CurrentUser[]; mapping: MappingState },
  settings: MappingSettings,
  ids: { linked: ReadonlyMap<string, string>; created: ReadonlySet<string> },
): MappingStep[] {
  const steps: MappingStep[] = [];
  const byUser = indexByUser(current.mapping);
  const userById = new Map(current.users.map((user) => [user.id, user]));
  const channelByName = new Map(current.mapping.channels.map((channel) => [channel.name.toLowerCase(), channel]));
  const channelById = new Map(current.mapping.channels.map((channel) => [channel.id, channel]));
  const teamById = new Map(current.mapping.teams.map((team) => [team.id, team]));
  const teamByName = new Map(current.mapping.teams.map((team) => [team.name.toLowerCase(), team]));
  const creatingChannels = new Set<string>();
  const creatingTeams = new Set<string>();
  const removableRoles = grantableNames(settings.roles.map);
  const removableChannels = new Set([...grantableNames(settings.channels.map)].map((name) => name.toLowerCase()));
  const managedTeams = new Set([...grantableNames(settings.teams.map)].map((name) => name.toLowerCase()));
  const reverse = (map: Readonly<Record<string, string | string[]>>) => {
    const groupsOf = new Map<string, string[]>();
    for (const [group, names] of Object.entries(map)) for (const name of typeof names === 'string' ? [names] : names) groupsOf.set(name.toLowerCase(), [...(groupsOf.get(name.toLowerCase()) ?? []), group]);
    return (name: string) => (groupsOf.get(name.toLowerCase()) ?? []).join(' or ');
  };
  const roleGroups = reverse(settings.roles.map);
  const channelGroups = reverse(settings.channels.map);
  const teamGroups = reverse(settings.teams.map);

  for (const user of users) {
    if (user.mapping === undefined) continue;
    const userId = ids.linked.get(user.externalId);
    if (userId === undefined && !ids.created.has(user.externalId)) continue;
    const had = userId === undefined ? emptyHoldings() : (byUser.get(userId) ?? emptyHoldings());
    const desired = desiredGrants(user.mapping, settings);
    const { externalId: userExternalId, username } = user;

    if (settings.roles.enabled) {
      for (const [role, groups] of desired.roles) {
        if (!had.roles.has(role)) steps.push({ kind: 'grantRole', userExternalId, username, role, reason: `granted ${role}: member of ${groups.join(', ')}` });
      }
      if (settings.roles.autoRemove && userId !== undefined) {
        for (const role of had.roles) {
          if (removableRoles.has(role) && !desired.roles.has(role)) steps.push({ kind: 'revokeRole', userId, username, role, reason: `removed ${role}: no longer in ${roleGroups(role)}` });
        }
      }
    }

    if (settings.channels.enabled) {
      for (const [channel, groups] of desired.channels) {
        const existing = channelByName.get(channel.toLowerCase());
        if (existing === undefined && !creatingChannels.has(channel.toLowerCase())) {
          creatingChannels.add(channel.toLowerCase());
          steps.push({ kind: 'createChannel', name: channel, ownerUsername: settings.channels.channelAdmin ?? null, reason: `created for group ${groups.join(', ')}` });
        }
        if (existing === undefined || !had.channelIds.has(existing.id)) {
          steps.push({ kind: 'addChannelMember', userExternalId, username, channel, reason: `added to #${channel}: member of ${groups.join(', ')}` });
        }
      }
      if (settings.channels.autoRemove && userId !== undefined) {
        for (const channelId of had.channelIds) {
          const channel = channelById.get(channelId);
          if (channel === undefined || !removableChannels.has(channel.name.toLowerCase()) || hasName(desired.channels, channel.name)) continue;
          steps.push({ kind: 'removeChannelMember', userId, username, channelId, channel: channel.name, reason: `removed from #${channel.name}: no longer in ${channelGroups(channel.name)}` });
        }
      }
    }

    if (settings.teams.enabled) {
      for (const [team, groups] of desired.teams) {
        const existing = teamByName.get(team.toLowerCase());
        if (existing === undefined && !creatingTeams.has(team.toLowerCase())) {
          creatingTeams.add(team.toLowerCase());
          steps.push({ kind: 'createTeam', name: team, reason: `created for team group ${groups.join(', ')}` });
        }
        if (existing === undefined || !had.teamIds.has(existing.id)) {
          steps.push({ kind: 'addTeamMember', userExternalId, username, team, reason: `added to team ${team}: member of ${groups.join(', ')}` });
        }
      }
      if (userId !== undefined) {
        for (const teamId of had.teamIds) {
          const team = teamById.get(teamId);
          if (team === undefined || !managedTeams.has(team.name.toLowerCase()) || hasName(desired.teams, team.name)) continue;
          steps.push({ kind: 'removeTeamMember', userId, username, teamId, team: team.name, reason: `removed from team ${team.name}: no longer in ${teamGroups(team.name)}` });
        }
      }
    }

    if (settings.customFields.enabled && !sameRecord(had.customFields, desired.customFields)) {
      steps.push({ kind: 'setCustomFields', userExternalId, username, fields: desired.customFields, reason: `custom fields changed: ${changedKeys(had.customFields, desired.customFields).join(', ')}` });
    }
    if (settings.abac.enabled && !sameRecord(had.abacAttributes, desired.abacAttributes)) {
      steps.push({ kind: 'setAbacAttributes', userExternalId, username, attributes: desired.abacAttributes, reason: `ABAC attributes changed: ${changedKeys(had.abacAttributes, desired.abacAttributes).join(', ')}` });
    }
    const isAdminNow = userId === undefined ? false : (userById.get(userId)?.isAdmin ?? false);
    if (desired.isAdmin !== undefined && desired.isAdmin !== isAdminNow) {
      steps.push({
        kind: 'setAdmin',
        userExternalId,
        username,
        isAdmin: desired.isAdmin,
        reason: desired.isAdmin ? `administrator: member of ${settings.adminGroup ?? ''}` : `no longer an administrator: not in ${settings.adminGroup ?? ''}`,
      });
    }
  }
  return steps;
}

interface Holdings {
  roles: Set<string>;
  channelIds: Set<string>;
  teamIds: Set<string>;
  customFields: Record<string, string>;
  abacAttributes: Record<string, string[]>;
}

function emptyHoldings(): Holdings {
  return { roles: new Set(), channelIds: new Set(), teamIds: new Set(), customFields: {}, abacAttributes: {} };
}

function indexByUser(state: MappingState): Map<string, Holdings> {
  const byUser = new Map<string, Holdings>();
  const of = (userId: string) => {
    let holdings = byUser.get(userId);
    if (holdings === undefined) byUser.set(userId, (holdings = emptyHoldings()));
    return holdings;
  };
  for (const { userId, role } of state.roles) of(userId).roles.add(role);
  for (const { userId, channelId } of state.channelMembers) of(userId).channelIds.add(channelId);
  for (const { userId, teamId } of state.teamMembers) of(userId).teamIds.add(teamId);
  for (const { userId, fields } of state.customFields) of(userId).customFields = fields;
  for (const { userId, attributes } of state.abacAttributes) of(userId).abacAttributes = attributes;
  return byUser;
}

function hasName(map: ReadonlyMap<string, unknown>, name: string): boolean {
  for (const key of map.keys()) if (key.toLowerCase() === name.toLowerCase()) return true;
  return false;
}

function sameRecord(a: Readonly<Record<string, string | string[]>>, b: Readonly<Record<string, string | string[]>>): boolean {
  return changedKeys(a, b).length === 0;
}

function changedKeys(a: Readonly<Record<string, string | string[]>>, b: Readonly<Record<string, string | string[]>>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((key) => JSON.stringify(a[key]) !== JSON.stringify(b[key])).sort();
}
