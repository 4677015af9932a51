/**
 * The guard stands between a plan and the store. It refuses plans built on an incomplete or
 * suspiciously empty read, plans that would disable or delete more than the threshold, and plans
 * that would take access away from more users than the threshold: group memberships, roles,
 * channels, teams and the administrator flag. A wrong group base DN, member attribute or group
 * filter reads as "nobody is in any group", which would otherwise strip every user in one run.
 */
import type { SyncSettings } from '../settings/schema.ts';
import type { CurrentState, PlanStep, SyncPlan } from './plan.ts';
import type { DirectorySnapshot } from './snapshot.ts';

/** The guard's verdict; `reason` says why a plan was refused. */
export type GuardVerdict = { isAllowed: true } | { isAllowed: false; reason: string };

/** Decides whether the plan may be applied. Pure. */
export function checkPlan(
  snapshot: DirectorySnapshot,
  current: CurrentState,
  plan: SyncPlan,
  settings: Pick<SyncSettings, 'guard'> & {
    syncGroups: boolean;
    /**
     * An incremental run's plan: `current` holds only the users it touches, so shares are of these
     * store-wide counts, and a delta with nothing in it is no empty read.
     */
    delta?: { directoryUsers: number; enabledDirectoryUsers: number };
  },
): GuardVerdict {
  if (snapshot.failure !== undefined) {
    const { code, message, phase, entriesRead } = snapshot.failure;
    return refuse(`incomplete read of ${phase} after ${entriesRead} entries (${code}): ${message}`);
  }
  const directoryUsers = current.users.filter((user) => user.source === 'directory' && user.externalId !== null);
  const directoryGroups = current.groups.filter((group) => group.source === 'directory');
  const { delta } = settings;
  if (delta === undefined) {
    if (snapshot.users.length === 0 && snapshot.skippedUsers.length === 0 && directoryUsers.length > 0) {
      return refuse(`the directory returned no users while the store has ${directoryUsers.length} directory users; check users.baseDn and users.filter`);
    }
    if (settings.syncGroups && snapshot.groups.length === 0 && snapshot.skippedGroups.length === 0 && directoryGroups.length > 0) {
      return refuse(`the directory returned no groups while the store has ${directoryGroups.length} directory groups; check groups.baseDn and groups.filter`);
    }
  }
  const directoryUserCount = delta?.directoryUsers ?? directoryUsers.length;
  const { count, percent } = settings.guard.maxDisable;
  const enabledDirectoryUsers = delta?.enabledDirectoryUsers ?? directoryUsers.filter((user) => user.isEnabled).length;
  const disabling = plan.counts.users.disabled;
  const overLimit = exceeds(disabling, enabledDirectoryUsers, count, percent);
  if (overLimit !== undefined) return refuse(`the plan disables ${disabling} of ${enabledDirectoryUsers} enabled directory users, ${overLimit}`);
  const deleting = plan.counts.groups.deleted;
  const groupsOver = exceeds(deleting, directoryGroups.length, count, percent);
  if (groupsOver !== undefined) return refuse(`the plan deletes ${deleting} of ${directoryGroups.length} directory groups, ${groupsOver}`);
  const losing = usersLosingAccess(plan.steps, current);
  const revokeLimit = settings.guard.maxRevoke;
  // Disabled users keep their memberships and may lose them too: the share is of every directory user.
  const revokeOver = exceeds(losing.users, directoryUserCount, revokeLimit.count, revokeLimit.percent, 'guard.maxRevoke');
  if (revokeOver !== undefined) {
    return refuse(
      `the plan takes access away from ${losing.users} of ${directoryUserCount} directory users (${describeLosses(losing.byKind)}), ${revokeOver}; check groups.*, mapping.groupSearch and the group maps`,
    );
  }
  return { isAllowed: true };
}

/**
 * Steps that take something away from a user, and what each takes. Sessions revoked after a
 * password change (`revokeSessions`) are not among them: no account, membership or role is lost,
 * and a directory-wide password reset after a breach must end every session in the run that sees
 * it (`plan-password-changes.ts` says why a clock jump cannot cause one).
 */
const LOSS_KINDS = {
  removeMembership: 'group memberships',
  revokeRole: 'roles',
  removeChannelMember: 'channel memberships',
  removeTeamMember: 'team memberships',
  setAdmin: 'administrator flags',
} as const satisfies Partial<Record<PlanStep['kind'], string>>;

/** How many distinct users lose something, and how many steps of each kind take it. */
function usersLosingAccess(steps: readonly PlanStep[], current: CurrentState): { users: number; byKind: Map<string, number> } {
  const userIdByExternalId = new Map<string, string>();
  for (const user of current.users) if (user.externalId !== null) userIdByExternalId.set(user.externalId, user.id);
  const users = new Set<string>();
  const byKind = new Map<string, number>();
  // A deleted group takes its memberships with it, with no removeMembership step of its own.
  const deletedGroups = new Set(steps.flatMap((step) => (step.kind === 'deleteGroup' ? [step.groupId] : [])));
  if (deletedGroups.size > 0) {
    for (const { userId, groupId } of current.memberships) {
      if (!deletedGroups.has(groupId)) continue;
      users.add(userId);
      byKind.set('memberships of deleted groups', (byKind.get('memberships of deleted groups') ?? 0) + 1);
    }
  }
  for (const step of steps) {
    let userKey: string | undefined;
    switch (step.kind) {
      case 'removeMembership':
      case 'revokeRole':
      case 'removeChannelMember':
      case 'removeTeamMember':
        userKey = step.userId;
        break;
      case 'setAdmin':
        if (!step.isAdmin) userKey = userIdByExternalId.get(step.userExternalId) ?? `external:${step.userExternalId}`;
        break;
      default:
        break;
    }
    if (userKey === undefined) continue;
    users.add(userKey);
    const kind = LOSS_KINDS[step.kind as keyof typeof LOSS_KINDS];
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  }
  return { users: users.size, byKind };
}

function describeLosses(byKind: Map<string, number>): string {
  return [...byKind].map(([kind, count]) => `${count} ${kind}`).join(', ');
}

/** Says which limit `changed` out of `total` exceeds, if any. */
function exceeds(changed: number, total: number, maxCount: number, maxPercent: number, setting = 'guard.maxDisable'): string | undefined {
  if (changed === 0) return undefined;
  if (changed > maxCount) return `more than ${setting}.count (${maxCount})`;
  const share = total === 0 ? 100 : (changed / total) * 100;
  if (share > maxPercent) return `${share.toFixed(1)}% is more than ${setting}.percent (${maxPercent}%)`;
  return undefined;
}

function refuse(reason: string): GuardVerdict {
  return { isAllowed: false, reason };
}
