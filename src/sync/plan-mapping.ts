/**
 * The mapping half of a sync plan: roles, channels, teams, custom fields, ABAC attributes and
 * the admin flag, diffed per user against the store. Pure. Each step says which group grants
 * or no longer grants it, e.g. "removed from #support: no longer in techsupport".
 */
import { desiredGrants, grantableNames, type UserMappingInput } from '../mapping/grants.ts';
import type { MappedUser } from '../mapping/user.ts';
import type { ChannelRecord, MappingState } from '../model/index.ts';
import type { MappingSettings } from '../settings/schema.ts';
import type { CurrentUser, PlanStep } from './plan.ts';

/** One mapping change. Users are named by external id, so steps can refer to users created in the same plan. */
export type MappingStep =
  | { kind: 'grantRole'; userExternalId: string; username: string; role: string; reason: string }
  | { kind: 'revokeRole'; userId: string; username: string; role: string; reason: string }
  | { kind: 'createChannel'; name: string; ownerUsername: string | null; reason: string }
  | { kind: 'setChannelOwner'; channelId: string; channel: string; ownerUsername: string | null; previousOwner: string | null; reason: string }
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
  ids: {
    linked: ReadonlyMap<string, string>;
    created: ReadonlySet<string>;
    /** Who owns channels this plan creates (default: the Channel Admin), and why when it is not the Channel Admin. */
    newChannelOwner?: { ownerUsername: string | null; note?: string };
  },
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
    for (const [group, names] of Object.entries(map))
      for (const name of typeof names === 'string' ? [names] : names) groupsOf.set(name.toLowerCase(), [...(groupsOf.get(name.toLowerCase()) ?? []), group]);
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
          if (removableRoles.has(role) && !desired.roles.has(role))
            steps.push({ kind: 'revokeRole', userId, username, role, reason: `removed ${role}: no longer in ${roleGroups(role)}` });
        }
      }
    }

    if (settings.channels.enabled) {
      for (const [channel, groups] of desired.channels) {
        const existing = channelByName.get(channel.toLowerCase());
        if (existing === undefined && !creatingChannels.has(channel.toLowerCase())) {
          creatingChannels.add(channel.toLowerCase());
          const owner = ids.newChannelOwner ?? { ownerUsername: settings.channels.channelAdmin ?? null };
          const note = owner.note === undefined ? '' : `; ${owner.note}`;
          steps.push({ kind: 'createChannel', name: channel, ownerUsername: owner.ownerUsername, reason: `created for group ${groups.join(', ')}${note}` });
        }
        if (existing === undefined || !had.channelIds.has(existing.id)) {
          steps.push({ kind: 'addChannelMember', userExternalId, username, channel, reason: `added to #${channel}: member of ${groups.join(', ')}` });
        }
      }
      if (settings.channels.autoRemove && userId !== undefined) {
        for (const channelId of had.channelIds) {
          const channel = channelById.get(channelId);
          if (channel === undefined || !removableChannels.has(channel.name.toLowerCase()) || hasName(desired.channels, channel.name)) continue;
          steps.push({
            kind: 'removeChannelMember',
            userId,
            username,
            channelId,
            channel: channel.name,
            reason: `removed from #${channel.name}: no longer in ${channelGroups(channel.name)}`,
          });
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
          steps.push({
            kind: 'removeTeamMember',
            userId,
            username,
            teamId,
            team: team.name,
            reason: `removed from team ${team.name}: no longer in ${teamGroups(team.name)}`,
          });
        }
      }
    }

    if (settings.customFields.enabled && !sameRecord(had.customFields, desired.customFields)) {
      steps.push({
        kind: 'setCustomFields',
        userExternalId,
        username,
        fields: desired.customFields,
        reason: `custom fields changed: ${changedKeys(had.customFields, desired.customFields).join(', ')}`,
      });
    }
    if (settings.abac.enabled && !sameRecord(had.abacAttributes, desired.abacAttributes)) {
      steps.push({
        kind: 'setAbacAttributes',
        userExternalId,
        username,
        attributes: desired.abacAttributes,
        reason: `ABAC attributes changed: ${changedKeys(had.abacAttributes, desired.abacAttributes).join(', ')}`,
      });
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

/** Whether a user is enabled once this plan is applied, and if not, why (for a step's reason). */
type AccountState = { isEnabled: true } | { isEnabled: false; why: string };

/**
 * Looks users up by username (case-insensitively) as they will be after the plan's own
 * `disableUser` and `enableUser` steps. Undefined for a name no store user has.
 */
export function accountStatesAfter(users: readonly CurrentUser[], steps: readonly PlanStep[]): (username: string) => AccountState | undefined {
  const byUsername = new Map(users.map((user) => [user.username.toLowerCase(), user]));
  const disabledBy = new Map<string, string>();
  const enabled = new Set<string>();
  for (const step of steps) {
    if (step.kind === 'disableUser') disabledBy.set(step.userId, step.reason);
    else if (step.kind === 'enableUser') enabled.add(step.userId);
  }
  return (username) => {
    const user = byUsername.get(username.toLowerCase());
    if (user === undefined) return undefined;
    const reason = disabledBy.get(user.id);
    if (reason !== undefined) return { isEnabled: false, why: `disabled: ${reason}` };
    if (enabled.has(user.id) || user.isEnabled) return { isEnabled: true };
    return { isEnabled: false, why: user.disabledBy === null ? 'is disabled' : `is disabled (by ${user.disabledBy})` };
  };
}

/** Who owns channels this plan creates: the Channel Admin, unless it is disabled (then nobody). */
export function newChannelOwner(
  settings: MappingSettings['channels'],
  stateOf: (username: string) => AccountState | undefined,
): { ownerUsername: string | null; note?: string } {
  const admin = settings.channelAdmin ?? null;
  const state = admin === null ? undefined : stateOf(admin);
  if (admin === null || state === undefined || state.isEnabled) return { ownerUsername: admin };
  return { ownerUsername: null, note: `no owner: Channel Admin ${admin} ${state.why}` };
}

/**
 * Reassigns directory channels (local ones are never touched) whose owner is disabled (already,
 * or by this plan) to the Channel Admin when that is another enabled user, else removes the
 * owner; and hands every other directory channel not owned by the Channel Admin to it, when the
 * Channel Admin is an enabled user (the setting changed, or the channel had no owner). A
 * Channel Admin that is no store user is assigned only to new channels. Pure.
 */
export function planChannelOwners(
  channels: readonly ChannelRecord[],
  settings: MappingSettings['channels'],
  stateOf: (username: string) => AccountState | undefined,
): MappingStep[] {
  if (!settings.enabled) return [];
  const admin = settings.channelAdmin ?? null;
  const adminState = admin === null ? undefined : stateOf(admin);
  const usableAdmin = adminState?.isEnabled === true ? admin : null;
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  const steps: MappingStep[] = [];
  // By name, so a dry run reads in the order the console lists channels.
  const byName = channels
    .filter((channel) => channel.source === 'directory')
    .sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : a.name.toLowerCase() > b.name.toLowerCase() ? 1 : 0));
  for (const channel of byName) {
    const owner = channel.ownerUsername;
    const ownerState = owner === null ? undefined : stateOf(owner);
    const base = { kind: 'setChannelOwner' as const, channelId: channel.id, channel: channel.name, previousOwner: owner };
    if (owner !== null && ownerState !== undefined && !ownerState.isEnabled) {
      const because = `owner ${owner} ${ownerState.why}`;
      if (usableAdmin !== null && !same(usableAdmin, owner)) {
        steps.push({ ...base, ownerUsername: usableAdmin, reason: `${because}; reassigned to ${usableAdmin}` });
      } else {
        const why =
          admin === null
            ? 'no Channel Admin is set'
            : same(admin, owner)
              ? 'it is the Channel Admin'
              : adminState === undefined
                ? `Channel Admin ${admin} is not a known user`
                : `Channel Admin ${admin} is disabled too`;
        steps.push({ ...base, ownerUsername: null, reason: `${because}; owner removed (${why})` });
      }
      continue;
    }
    if (usableAdmin !== null && (owner === null || !same(owner, usableAdmin))) {
      steps.push({
        ...base,
        ownerUsername: usableAdmin,
        reason: owner === null ? `no owner; assigned to Channel Admin ${usableAdmin}` : `owner ${owner} is not the Channel Admin; reassigned to ${usableAdmin}`,
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
