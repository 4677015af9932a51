/**
 * The write plan: what dirbridge will change in the directory for one administrator's action,
 * one step per LDAP write, each with its reason, plus the conflicts found while planning. A dry
 * run prints it; the guard judges it; apply performs it or keeps it in the outbox.
 */
import { DirbridgeError } from '../errors.ts';
import { type DirectoryChange, dnAfter } from './directory-change.ts';
import type { FieldConflict } from './resolve-conflict.ts';

/** The kinds of write step, named as the audit log and dry runs show them. */
export type WriteStepKind =
  | 'createUser'
  | 'updateUser'
  | 'renameUser'
  | 'moveUser'
  | 'disableUser'
  | 'enableUser'
  | 'deleteUser'
  | 'createGroup'
  | 'renameGroup'
  | 'deleteGroup'
  | 'addMember'
  | 'removeMember'
  | 'followRename';

/** One LDAP write with its reason. */
export interface ChangeStep {
  kind: WriteStepKind;
  /** The user or group name the step is about. */
  subject: string;
  reason: string;
  change: DirectoryChange;
}

/**
 * A password to set on `dn`. The password itself is never part of a plan: it travels beside it,
 * only in memory, and is never kept in the outbox (a write that cannot reach the directory fails).
 */
export interface PasswordStep {
  kind: 'setPassword';
  subject: string;
  reason: string;
  dn: string;
}

export type WriteStep = ChangeStep | PasswordStep;

/** A user field whose conflict left the directory's value standing; the store takes it. */
export interface KeptDirectoryValue {
  subject: string;
  field: string;
  value: string | null;
}

/** Everything one action writes. */
export interface WritePlan {
  steps: WriteStep[];
  conflicts: Array<FieldConflict & { subject: string }>;
  /** Fields where the directory's value won a conflict and dirbridge's store must follow it. */
  keptDirectoryValues: KeptDirectoryValue[];
}

/** A plan that writes nothing. */
export function emptyWritePlan(): WritePlan {
  return { steps: [], conflicts: [], keptDirectoryValues: [] };
}

/** The DN the plan's first add or modify DN leaves its entry at; `fallback` when it has none. */
export function plannedDn(plan: WritePlan, fallback: string): string {
  for (const step of plan.steps) {
    if (step.kind !== 'setPassword' && (step.change.kind === 'add' || step.change.kind === 'modifyDn')) return dnAfter(step.change) ?? fallback;
  }
  return fallback;
}

/**
 * Raised when an action cannot be planned; the message names what is wrong and where. Its code
 * is `writeback.invalid`; `rule` says which check refused it (e.g. `writeback.invalid_username`).
 */
export class WritePlanError extends DirbridgeError {
  readonly rule: string;
  constructor(rule: string, message: string) {
    super('writeback.invalid', message, { details: { rule } });
    this.name = 'WritePlanError';
    this.rule = rule;
  }
}
