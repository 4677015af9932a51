/**
 * The guard stands between a plan and the store. It refuses plans built on an incomplete or
 * suspiciously empty read, and plans that would disable or delete more than the threshold.
 */
import type { SyncSettings } from '../settings/schema.ts';
import type { CurrentState, SyncPlan } from './plan.ts';
import type { DirectorySnapshot } from './snapshot.ts';

/** The guard's verdict; `reason` says why a plan was refused. */
export type GuardVerdict = { isAllowed: true } | { isAllowed: false; reason: string };

/** Decides whether the plan may be applied. Pure. */
export function checkPlan(
  snapshot: DirectorySnapshot,
  current: CurrentState,
  plan: SyncPlan,
  settings: Pick<SyncSettings, 'guard'> & { syncGroups: boolean },
): GuardVerdict {
  if (snapshot.failure !== undefined) {
    const { code, message, phase, entriesRead } = snapshot.failure;
    return refuse(`incomplete read of ${phase} after ${entriesRead} entries (${code}): ${message}`);
  }
  const directoryUsers = current.users.filter((user) => user.source === 'directory' && user.externalId !== null);
  if (snapshot.users.length === 0 && snapshot.skippedUsers.length === 0 && directoryUsers.length > 0) {
    return refuse(`the directory returned no users while the store has ${directoryUsers.length} directory users; check users.baseDn and users.filter`);
  }
  const directoryGroups = current.groups.filter((group) => group.source === 'directory');
  if (settings.syncGroups && snapshot.groups.length === 0 && snapshot.skippedGroups.length === 0 && directoryGroups.length > 0) {
    return refuse(`the directory returned no groups while the store has ${directoryGroups.length} directory groups; check groups.baseDn and groups.filter`);
  }
  const { count, percent } = settings.guard.maxDisable;
  const enabledDirectoryUsers = directoryUsers.filter((user) => user.isEnabled).length;
  const disabling = plan.counts.users.disabled;
  const overLimit = exceeds(disabling, enabledDirectoryUsers, count, percent);
  if (overLimit !== undefined) return refuse(`the plan disables ${disabling} of ${enabledDirectoryUsers} enabled directory users, ${overLimit}`);
  const deleting = plan.counts.groups.deleted;
  const groupsOver = exceeds(deleting, directoryGroups.length, count, percent);
  if (groupsOver !== undefined) return refuse(`the plan deletes ${deleting} of ${directoryGroups.length} directory groups, ${groupsOver}`);
  return { isAllowed: true };
}

/** Says which limit `changed` out of `total` exceeds, if any. */
function exceeds(changed: number, total: number, maxCount: number, maxPercent: number): string | undefined {
  if (changed === 0) return undefined;
  if (changed > maxCount) return `more than guard.maxDisable.count (${maxCount})`;
  const share = total === 0 ? 100 : (changed / total) * 100;
  if (share > maxPercent) return `${share.toFixed(1)}% is more than guard.maxDisable.percent (${maxPercent}%)`;
  return undefined;
}

function refuse(reason: string): GuardVerdict {
  return { isAllowed: false, reason };
}
