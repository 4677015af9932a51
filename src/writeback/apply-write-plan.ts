/**
 * The guard→apply half of write-back's pipeline (the actions read and plan; see user-actions.ts).
 * One store transaction holds dirbridge's own change, the plan's steps in the outbox, its
 * conflicts, baselines and audit entry, so the two sides never differ without a visible pending
 * write. The outbox is then delivered at once; what the directory could not take stays pending
 * with its error and is retried.
 *
 * A password is never kept: it is set synchronously, after the steps before it are delivered
 * (a new entry must exist first), and the steps after it (AD's enable) are enqueued only once it
 * is set. When it cannot be set, the action says so and the account stays as the server keeps a
 * new entry without one (AD: disabled).
 */
import type { WritableDirectoryConnection } from '../directory/index.ts';
import { resetPassword } from '../directory/index.ts';
import { DirbridgeError } from '../errors.ts';
import { type NewWriteBackConflict, type OutboxRecord, PRIMARY_DIRECTORY_ID, type WriteBackObjectKind } from '../model/index.ts';
import type { Settings } from '../settings/schema.ts';
import type { Store, StoreWriter } from '../store/store.ts';
import type { NewBaseline } from '../store/writeback-repository.ts';
import { checkWritePlan } from './guard-writes.ts';
import { fieldValues } from './resolve-conflict.ts';
import type { ChangeStep, WritePlan, WriteStep } from './write-step.ts';

/** What write-back actions need from the app. */
export interface WriteBackDeps {
  store: Store;
  /** The settings in force. */
  settings: () => Settings;
  openWritable: () => Promise<WritableDirectoryConnection>;
  /** Delivers due outbox rows now (one instance at a time); never throws for directory faults. */
  deliverNow: () => Promise<unknown>;
  now: () => Date;
}

/** How an action was carried out: written back, kept in dirbridge only in unsynced mode, or local (write-back off or a local record). */
export type WriteMode = 'writable' | 'unsynced' | 'local';

/** Where an action's directory side stands. */
export type WriteOutcome = 'written' | 'pending' | 'failed' | 'local' | 'planned' | 'unchanged';

/** One step as the caller sees it: planned (dry run), done, waiting in the outbox, or failed. */
export interface StepReport {
  kind: WriteStep['kind'];
  subject: string;
  reason: string;
  dn: string;
  status: 'planned' | 'done' | 'pending' | 'failed' | 'not_sent';
  error?: { code: string; message: string };
}

/** The result of a write-back action. */
export interface WriteActionResult {
  /** e.g. `users.update`. */
  action: string;
  mode: WriteMode;
  isDryRun: boolean;
  outcome: WriteOutcome;
  /** One line for people: what happened and where. */
  message: string;
  steps: StepReport[];
  conflicts: Array<{ subject: string; field: string; winner: 'directory' | 'dirbridge'; directoryValue: string | null; dirbridgeValue: string | null }>;
}

/** An action ready to apply: the plan, dirbridge's own change and the record kept of it. */
export interface PlannedAction {
  action: string;
  actor: string;
  isDryRun: boolean;
  plan: WritePlan;
  objectKind: WriteBackObjectKind;
  /** The user or group id; a create's is returned by `local`. */
  objectId?: string;
  /** dirbridge's own change, in the same transaction as the outbox rows; returns the object's id when it creates one. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback may return nothing; with `undefined` every `async () => {}` would be a type error
  local?: (tx: StoreWriter) => Promise<string | void>;
  baselines?: (objectId: string) => NewBaseline[];
  /** The audit entry; `isUser`: it is about the action's own user, else `userId` names the user it concerns, if any. */
  audit: { action: string; subject: string; reason: string; isUser: boolean; userId?: string };
  /** Set synchronously at the plan's `setPassword` step; never stored. */
  password?: string;
}

function dnOf(step: WriteStep): string {
  return step.kind === 'setPassword' ? step.dn : step.change.dn;
}

function report(step: WriteStep, status: StepReport['status'], error?: StepReport['error']): StepReport {
  return { kind: step.kind, subject: step.subject, reason: step.reason, dn: dnOf(step), status, ...(error === undefined ? {} : { error }) };
}

function conflictsOf(plan: WritePlan): WriteActionResult['conflicts'] {
  return plan.conflicts.map((conflict) => ({
    subject: conflict.subject,
    field: conflict.field,
    winner: conflict.winner,
    directoryValue: conflict.directoryValue,
    dirbridgeValue: conflict.dirbridgeValue,
  }));
}

/** The subtrees dirbridge reads and writes; the guard refuses writes anywhere else. */
export function managedBases(settings: Settings): string[] {
  return [settings.users.baseDn, settings.groups?.baseDn, settings.writeBack.usersDn, settings.writeBack.groupsDn].filter(
    (dn): dn is string => dn !== undefined && dn !== '',
  );
}

/** Refuses the plan, naming why, unless write-back is on and the plan stays within bounds. */
export function guardWritePlan(plan: WritePlan, settings: Settings): void {
  const verdict = checkWritePlan(plan, {
    writeBack: settings.writeBack,
    managedBases: managedBases(settings),
    maxDisable: settings.sync.guard.maxDisable.count,
  });
  if (!verdict.isAllowed) throw new DirbridgeError('writeback.refused', `the write plan was refused: ${verdict.reason}`);
  if (plan.steps.some((step) => step.kind === 'setPassword') && !settings.writeBack.passwords) {
    throw new DirbridgeError('writeback.passwords_off', 'writeBack.passwords is off: dirbridge does not write passwords to the directory');
  }
}

function toConflictRecord(objectKind: WriteBackObjectKind, objectId: string, conflict: WritePlan['conflicts'][number]): NewWriteBackConflict {
  return {
    objectKind,
    objectId,
    subject: conflict.subject,
    field: conflict.field,
    winner: conflict.winner,
    directoryValue: fieldValues(conflict.directoryValue),
    dirbridgeValue: fieldValues(conflict.dirbridgeValue),
    baseline: fieldValues(conflict.baseline),
  };
}

async function enqueueSteps(
  tx: StoreWriter,
  input: { steps: readonly ChangeStep[]; objectKind: WriteBackObjectKind; objectId: string; actor: string; actionId?: string },
): Promise<OutboxRecord[]> {
  if (input.steps.length === 0) return [];
  return tx.writeBack.enqueue({
    directoryId: PRIMARY_DIRECTORY_ID,
    actor: input.actor,
    ...(input.actionId === undefined ? {} : { actionId: input.actionId }),
    steps: input.steps.map((step) => ({
      stepKind: step.kind,
      subject: step.subject,
      objectKind: input.objectKind,
      objectId: input.objectId,
      change: step.change,
      reason: step.reason,
    })),
  });
}

function statusOf(row: OutboxRecord | undefined): Pick<StepReport, 'status' | 'error'> {
  if (row === undefined) return { status: 'pending' };
  const error = row.lastErrorCode === null ? undefined : { code: row.lastErrorCode, message: row.lastError ?? '' };
  return { status: row.status, ...(error === undefined ? {} : { error }) };
}

async function deliverAndRead(deps: WriteBackDeps, rows: readonly OutboxRecord[]): Promise<OutboxRecord[]> {
  if (rows.length === 0) return [];
  await deps.deliverNow().catch(() => undefined);
  const [first] = rows;
  return first === undefined ? [] : deps.store.writeBack.action(first.actionId);
}

function outcomeOf(steps: readonly StepReport[]): WriteOutcome {
  if (steps.length === 0) return 'unchanged';
  if (steps.some((step) => step.status === 'failed')) return 'failed';
  if (steps.some((step) => step.status === 'pending' || step.status === 'not_sent')) return 'pending';
  return 'written';
}

function messageOf(outcome: WriteOutcome, steps: readonly StepReport[]): string {
  const failed = steps.find((step) => step.status === 'failed' || (step.status === 'pending' && step.error !== undefined));
  switch (outcome) {
    case 'written':
      return `written to the directory (${steps.length} write${steps.length === 1 ? '' : 's'})`;
    case 'unchanged':
      return 'nothing to write: the directory already holds these values';
    case 'pending':
      return `saved in dirbridge; ${steps.filter((step) => step.status !== 'done').length} directory write(s) wait in the outbox${failed?.error === undefined ? '' : ` (${failed.error.code}: ${failed.error.message})`} and are retried: \`dirbridge writeback list\` shows them`;
    case 'failed':
      return `saved in dirbridge, but the directory refused a write${failed?.error === undefined ? '' : ` (${failed.error.code}: ${failed.error.message})`}; it is kept as failed in the outbox until it is retried or the change is undone`;
    default:
      return '';
  }
}

/**
 * Guards and applies a planned action in writable mode (or shows it, for a dry run). Refuses the
 * whole action before anything changes when the guard does.
 */
export async function applyWritePlan(deps: WriteBackDeps, planned: PlannedAction): Promise<WriteActionResult> {
  const settings = deps.settings();
  const { plan } = planned;
  guardWritePlan(plan, settings);
  const conflicts = conflictsOf(plan);
  if (planned.isDryRun) {
    return {
      action: planned.action,
      mode: 'writable',
      isDryRun: true,
      outcome: 'planned',
      message: `dry run: ${plan.steps.length} directory write(s) planned; nothing changed`,
      steps: plan.steps.map((step) => report(step, 'planned')),
      conflicts,
    };
  }
  const passwordAt = plan.steps.findIndex((step) => step.kind === 'setPassword');
  if (passwordAt >= 0 && (planned.password === undefined || planned.password === ''))
    throw new DirbridgeError('usage.invalid', 'the plan sets a password but none was given');
  const before = (passwordAt < 0 ? plan.steps : plan.steps.slice(0, passwordAt)) as ChangeStep[];
  const afterPassword = (passwordAt < 0 ? [] : plan.steps.slice(passwordAt + 1)) as ChangeStep[];

  const { objectId, rows } = await deps.store.transaction(async (tx) => {
    const created = planned.local === undefined ? undefined : await planned.local(tx);
    const id = planned.objectId ?? (typeof created === 'string' ? created : undefined);
    if (id === undefined) throw new DirbridgeError('store.conflict', `${planned.action}: no object id to key the outbox rows by`);
    const enqueued = await enqueueSteps(tx, { steps: before, objectKind: planned.objectKind, objectId: id, actor: planned.actor });
    if (plan.conflicts.length > 0)
      await tx.writeBack.recordConflicts(
        PRIMARY_DIRECTORY_ID,
        plan.conflicts.map((conflict) => toConflictRecord(planned.objectKind, id, conflict)),
      );
    const baselines = planned.baselines?.(id) ?? [];
    if (baselines.length > 0) await tx.writeBack.upsertBaselines(PRIMARY_DIRECTORY_ID, baselines);
    await tx.audit.append([
      {
        actor: planned.actor,
        action: planned.audit.action,
        ...(planned.audit.isUser ? { userId: id } : planned.audit.userId === undefined ? {} : { userId: planned.audit.userId }),
        subject: planned.audit.subject,
        reason: planned.audit.reason,
        details: { writeBack: plan.steps.map((step) => ({ kind: step.kind, dn: dnOf(step), reason: step.reason })), actionId: enqueued[0]?.actionId ?? null },
      },
      ...plan.conflicts.map((conflict) => ({
        actor: planned.actor,
        action: 'writeback.conflict',
        ...(planned.audit.isUser ? { userId: id } : {}),
        subject: conflict.subject,
        reason: `${conflict.field}: both sides changed it; ${conflict.winner} wins (writeBack.authority)`,
      })),
    ]);
    return { objectId: id, rows: enqueued };
  });

  const delivered = await deliverAndRead(deps, rows);
  const steps: StepReport[] = before.map((step, index) => ({ ...report(step, 'pending'), ...statusOf(delivered[index]) }));
  if (passwordAt >= 0) {
    const passwordStep = plan.steps[passwordAt] as WriteStep;
    const isReady = steps.every((step) => step.status === 'done');
    if (!isReady) {
      steps.push(
        report(passwordStep, 'not_sent', {
          code: 'writeback.password_not_set',
          message: 'the password was not set: the entry is not in the directory yet; set it with `users set-password` once the pending writes are done',
        }),
      );
      for (const step of afterPassword) steps.push(report(step, 'not_sent'));
    } else {
      try {
        await setPasswordNow(deps, passwordStep.kind === 'setPassword' ? passwordStep.dn : '', planned.password ?? '');
      } catch (error) {
        // The entry exists without this password (AD keeps it disabled); the refusal names the rule.
        if (!(error instanceof DirbridgeError)) throw error;
        steps.push(report(passwordStep, 'failed', { code: error.code, message: error.message }));
        for (const step of afterPassword) steps.push(report(step, 'not_sent'));
        return {
          action: planned.action,
          mode: 'writable',
          isDryRun: false,
          outcome: 'failed',
          message: `the entry was written, but the directory refused the password (${error.code}: ${error.message}); set another with \`users set-password\``,
          steps,
          conflicts,
        };
      }
      steps.push(report(passwordStep, 'done'));
      const later = await deps.store.transaction((tx) =>
        enqueueSteps(tx, { steps: afterPassword, objectKind: planned.objectKind, objectId, actor: planned.actor }),
      );
      const laterDelivered = await deliverAndRead(deps, later);
      for (const [index, step] of afterPassword.entries()) steps.push({ ...report(step, 'pending'), ...statusOf(laterDelivered[index]) });
    }
  }
  const outcome = outcomeOf(steps);
  return { action: planned.action, mode: 'writable', isDryRun: false, outcome, message: messageOf(outcome, steps), steps, conflicts };
}

/** Sets a password in the directory now, on its own connection; errors name the policy rule. */
export async function setPasswordNow(deps: Pick<WriteBackDeps, 'openWritable'>, dn: string, password: string): Promise<void> {
  await using directory = await deps.openWritable();
  await resetPassword(directory, { dn, newPassword: password });
}

/** The result of an action that changed dirbridge's store only. */
export function localResult(action: string, mode: Exclude<WriteMode, 'writable'>, isDryRun: boolean, why: string): WriteActionResult {
  return {
    action,
    mode,
    isDryRun,
    outcome: isDryRun ? 'planned' : 'local',
    message: `${isDryRun ? 'dry run: would change' : 'changed'} dirbridge's store only: ${why}`,
    steps: [],
    conflicts: [],
  };
}
