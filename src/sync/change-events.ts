/**
 * The audit entries a sync writes for users that already existed, so the change feed shows what
 * applications act on: one `membership.changed` entry per user whose groups, roles, channels or
 * teams changed (with the names added and removed), and one `user.updated` entry per user whose
 * profile, custom fields or ABAC attributes changed (the reason lists the fields).
 *
 * A user created in the run gets only its `user.created` entry: its memberships are part of the
 * profile a follower fetches for a new user. One entry per user and run, not per change, keeps
 * the log near the number of people who changed (100k, not 600k, after a first sync).
 *
 * Pure: the caller writes the entries. `apply` writes them before the changes, so a run cut short
 * can repeat an entry (the next run plans and reports the rest again) but never loses one.
 */
import type { NewAuditEntry } from '../model/index.ts';
import type { CurrentState, PlanStep } from './plan.ts';

/** Names added and removed, per kind of membership. */
export interface MembershipChange {
  groups?: { added: string[]; removed: string[] };
  roles?: { added: string[]; removed: string[] };
  channels?: { added: string[]; removed: string[] };
  teams?: { added: string[]; removed: string[] };
}

type Kind = keyof MembershipChange;

/** The entries for users that existed before the run, in username order. */
export function changeEventsOf(steps: readonly PlanStep[], current: CurrentState, options: { actor: string; at: string }): NewAuditEntry[] {
  const userIdByExternal = new Map<string, string>();
  const usernameById = new Map<string, string>();
  for (const user of current.users) {
    usernameById.set(user.id, user.username);
    if (user.externalId !== null) userIdByExternal.set(user.externalId, user.id);
  }
  const groupNameByExternal = new Map<string, string>();
  const groupNameById = new Map<string, string>();
  for (const group of current.groups) {
    groupNameById.set(group.id, group.name);
    if (group.externalId !== null) groupNameByExternal.set(group.externalId, group.name);
  }
  for (const step of steps) if (step.kind === 'createGroup') groupNameByExternal.set(step.externalId, step.name);

  const changes = new Map<string, MembershipChange>();
  const updates = new Map<string, string[]>();
  const note = (userId: string | undefined, kind: Kind, direction: 'added' | 'removed', name: string | undefined) => {
    if (userId === undefined || name === undefined || !usernameById.has(userId)) return;
    const change = changes.get(userId) ?? {};
    const lists = (change[kind] ??= { added: [], removed: [] });
    lists[direction].push(name);
    changes.set(userId, change);
  };
  const updated = (userId: string | undefined, what: string) => {
    if (userId === undefined || !usernameById.has(userId)) return;
    updates.set(userId, [...(updates.get(userId) ?? []), what]);
  };

  for (const step of steps) {
    switch (step.kind) {
      case 'addMembership':
        note(userIdByExternal.get(step.userExternalId), 'groups', 'added', groupNameByExternal.get(step.groupExternalId));
        break;
      case 'removeMembership':
        note(step.userId, 'groups', 'removed', groupNameById.get(step.groupId));
        break;
      case 'grantRole':
        note(userIdByExternal.get(step.userExternalId), 'roles', 'added', step.role);
        break;
      case 'revokeRole':
        note(step.userId, 'roles', 'removed', step.role);
        break;
      case 'addChannelMember':
        note(userIdByExternal.get(step.userExternalId), 'channels', 'added', step.channel);
        break;
      case 'removeChannelMember':
        note(step.userId, 'channels', 'removed', step.channel);
        break;
      case 'addTeamMember':
        note(userIdByExternal.get(step.userExternalId), 'teams', 'added', step.team);
        break;
      case 'removeTeamMember':
        note(step.userId, 'teams', 'removed', step.team);
        break;
      case 'updateUser':
        updated(step.userId, step.reason);
        break;
      case 'setCustomFields':
      case 'setAbacAttributes':
        updated(userIdByExternal.get(step.userExternalId), step.reason);
        break;
      case 'setChannelOwner':
        // Not a change to any user's profile (which lists channel names, not owners): apply audits
        // it as `channel.owner_changed`, which is not a feed action.
        break;
      default:
        break;
    }
  }

  const entries: NewAuditEntry[] = [];
  for (const [userId, reasons] of updates) {
    entries.push({
      actor: options.actor,
      action: 'user.updated',
      userId,
      subject: usernameById.get(userId) ?? null,
      reason: reasons.join('; '),
      at: options.at,
    });
  }
  for (const [userId, change] of changes) {
    for (const lists of Object.values(change)) {
      lists.added.sort();
      lists.removed.sort();
    }
    entries.push({
      actor: options.actor,
      action: 'membership.changed',
      userId,
      subject: usernameById.get(userId) ?? null,
      reason: describe(change),
      details: change as NewAuditEntry['details'],
      at: options.at,
    });
  }
  return entries.sort((a, b) => (a.subject ?? '').localeCompare(b.subject ?? '') || a.action.localeCompare(b.action));
}

/** `groups +2 −1, roles +1`: a one-line summary for the audit view. */
function describe(change: MembershipChange): string {
  return (Object.entries(change) as Array<[Kind, { added: string[]; removed: string[] }]>)
    .map(
      ([kind, { added, removed }]) =>
        `${kind} ${[added.length > 0 ? `+${added.length}` : '', removed.length > 0 ? `−${removed.length}` : ''].filter(Boolean).join(' ')}`,
    )
    .join(', ');
}
