/**
 * The guard for write plans, as `sync/guard.ts` is for read plans: it refuses a plan before any
 * of it reaches the directory when write-back is not on, when a step would touch an entry outside
 * the subtrees dirbridge reads and writes, or when it would disable or delete more accounts at
 * once than `sync.guard.maxDisable.count` allows. Pure.
 */
import { dnEquals, isDescendantOf } from '../ldap/dn.ts';
import { effectiveWriteBackMode, type WriteBackSettings } from '../settings/schema.ts';
import type { GuardVerdict } from '../sync/guard.ts';
import type { WritePlan } from './write-step.ts';

/** Where dirbridge may write, and how much it may take away at once. */
export interface WriteGuardOptions {
  writeBack: WriteBackSettings;
  /** `users.baseDn`, `groups.baseDn` and the write-back DNs: entries outside them are not dirbridge's. */
  managedBases: readonly string[];
  maxDisable: number;
}

/** Allows the plan, or says why not. */
export function checkWritePlan(plan: WritePlan, options: WriteGuardOptions): GuardVerdict {
  const { writeBack } = options;
  if (effectiveWriteBackMode(writeBack) !== 'writable') {
    return {
      isAllowed: false,
      reason: `write-back is not on (writeBack.enabled ${String(writeBack.enabled)}, writeBack.mode ${writeBack.mode}): dirbridge writes to the directory only in writable mode`,
    };
  }
  for (const step of plan.steps) {
    const dn = step.kind === 'setPassword' ? step.dn : step.change.dn;
    const newParent = step.kind !== 'setPassword' && step.change.kind === 'modifyDn' ? step.change.newParent : undefined;
    for (const target of newParent === undefined ? [dn] : [dn, newParent]) {
      if (!options.managedBases.some((base) => isDescendantOf(target, base, { includeSelf: true }))) {
        return { isAllowed: false, reason: `${target} lies outside the subtrees dirbridge manages (${options.managedBases.join('; ')})` };
      }
    }
    const isStructural = step.kind !== 'setPassword' && (step.change.kind === 'delete' || step.change.kind === 'modifyDn');
    if (isStructural && options.managedBases.some((base) => dnEquals(base, dn))) {
      return { isAllowed: false, reason: `${dn} is a base DN dirbridge reads from; it is never renamed, moved or deleted` };
    }
  }
  const takenAway = plan.steps.filter((step) => step.kind === 'disableUser' || step.kind === 'deleteUser').length;
  if (takenAway > options.maxDisable) {
    return { isAllowed: false, reason: `the plan disables or deletes ${takenAway} accounts, more than sync.guard.maxDisable.count (${options.maxDisable})` };
  }
  return { isAllowed: true };
}
