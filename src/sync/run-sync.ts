/**
 * One sync run, end to end: read the directory, diff against the store, ask the guard,
 * apply, and record the run. The CLI, the scheduler and the API all call this.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { DirbridgeError, isDirbridgeError } from '../errors.ts';
import type { Settings } from '../settings/schema.ts';
import type { Store, SyncRunRecord } from '../store/store.ts';
import { applyPlan } from './apply.ts';
import { checkPlan } from './guard.ts';
import { countSteps, planSync, type CurrentState, type PlanCounts, type PlanStep } from './plan.ts';
import { isMappingActive } from '../mapping/grants.ts';
import { createProgressRecorder, type ProgressLog } from './progress.ts';
import { readSnapshot } from './read-snapshot.ts';

/** What started a run. */
export type SyncTrigger = SyncRunRecord['trigger'];

/** Progress of a running sync, for terminals and the console. */
export type SyncProgress =
  | { phase: 'users' | 'groups'; entriesRead: number }
  | { phase: 'apply'; done: number; total: number };

/** The outcome of one run, in the shape of the CLI's JSON summary. */
export interface SyncResult {
  runId: string;
  trigger: SyncTrigger;
  status: 'succeeded' | 'failed' | 'refused';
  reason: string | null;
  isDryRun: boolean;
  users: PlanCounts['users'];
  groups: PlanCounts['groups'];
  memberships: PlanCounts['memberships'];
  roles: PlanCounts['roles'];
  channels: PlanCounts['channels'];
  teams: PlanCounts['teams'];
  attributes: PlanCounts['attributes'];
  durationMs: number;
  warnings: string[];
  steps: PlanStep[];
}

/** What a sync service needs. */
export interface SyncServiceDeps {
  store: Store;
  openDirectory: () => Promise<DirectoryConnection>;
  settings: Pick<Settings, 'directory' | 'users' | 'groups' | 'sync' | 'mapping'>;
  /** Where a failed progress write is reported (a run's own `log` wins). */
  log?: ProgressLog;
  /** Told of every finished run (after its record is written), whatever started it. Must not throw. */
  onFinished?: (result: SyncResult) => void;
}

/** Options of one run. */
export interface RunSyncOptions {
  trigger: SyncTrigger;
  isDryRun: boolean;
  /** Progress for the caller (a terminal), on every page and batch. */
  onProgress?: (progress: SyncProgress) => void;
  /** Told the run's id as soon as its record exists, before any directory I/O. */
  onStarted?: (runId: string) => void;
  /** Where a failed progress write is reported. */
  log?: ProgressLog;
  /** How often the run record's progress is written at most (default 1 s; phase changes are always written). */
  progressIntervalMs?: number;
}

/** Creates the sync service; at most one run is in progress per service. */
export function createSyncService(deps: SyncServiceDeps) {
  let isRunning = false;

  /** Runs one sync; never throws for directory or guard outcomes, which are recorded in the run. */
  async function runSync(options: RunSyncOptions): Promise<SyncResult> {
    if (isRunning) throw new DirbridgeError('sync.already_running', 'a sync is already running');
    isRunning = true;
    try {
      const result = await runOnce(options);
      deps.onFinished?.(result);
      return result;
    } finally {
      isRunning = false;
    }
  }

  async function runOnce(options: RunSyncOptions): Promise<SyncResult> {
    const { store, settings } = deps;
    const started = Date.now();
    const run = await store.startRun({ trigger: options.trigger, isDryRun: options.isDryRun });
    const log = options.log ?? deps.log;
    const recorder = createProgressRecorder({ store, runId: run.id, ...(options.progressIntervalMs === undefined ? {} : { intervalMs: options.progressIntervalMs }), ...(log === undefined ? {} : { log }) });
    // The run record starts in phase `connecting`.
    options.onStarted?.(run.id);
    const syncGroups = settings.groups !== undefined && settings.groups.enabled;
    const emptyCounts = countSteps([], 0);
    const finish = async (status: SyncResult['status'], fields: { reason?: string; counts?: PlanCounts; steps?: PlanStep[]; warnings?: string[]; error?: unknown }) => {
      const counts = fields.counts ?? emptyCounts;
      const errorCode = fields.error === undefined ? undefined : isDirbridgeError(fields.error) ? fields.error.code : 'internal';
      const errorMessage = fields.error === undefined ? undefined : fields.error instanceof Error ? fields.error.message : String(fields.error);
      recorder.phase('finishing');
      await recorder.close();
      await store.finishRun(run.id, {
        status,
        ...(fields.reason === undefined ? {} : { reason: fields.reason }),
        ...(errorCode === undefined ? {} : { errorCode }),
        ...(errorMessage === undefined ? {} : { errorMessage }),
        counts: flattenCounts(counts),
        planSummary: summarizeSteps(fields.steps ?? []),
      });
      return {
        runId: run.id,
        trigger: options.trigger,
        status,
        reason: fields.reason ?? errorMessage ?? null,
        isDryRun: options.isDryRun,
        users: counts.users,
        groups: counts.groups,
        memberships: counts.memberships,
        roles: counts.roles,
        channels: counts.channels,
        teams: counts.teams,
        attributes: counts.attributes,
        durationMs: Date.now() - started,
        warnings: fields.warnings ?? [],
        steps: fields.steps ?? [],
      } satisfies SyncResult;
    };

    let snapshot;
    try {
      const directory = await deps.openDirectory();
      try {
        recorder.phase('reading_users');
        let isReadingGroups = false;
        snapshot = await readSnapshot(directory, settings, (progress) => {
          if (progress.phase === 'users') recorder.update({ usersRead: progress.entriesRead });
          else if (isReadingGroups) recorder.update({ groupsRead: progress.entriesRead });
          else {
            isReadingGroups = true;
            recorder.phase('reading_groups', { groupsRead: progress.entriesRead });
          }
          options.onProgress?.(progress);
        });
      } finally {
        await directory.close();
      }
    } catch (error) {
      return finish('failed', { error });
    }

    try {
      recorder.phase('planning');
      const mapping = isMappingActive(settings.mapping) ? settings.mapping : undefined;
      const current: CurrentState = { ...(await store.loadSyncState()), ...(mapping === undefined ? {} : { mapping: await store.loadMappingState() }) };
      const plan = planSync(snapshot, current, { ...settings.sync, syncGroups, scope: 'all', ...(mapping === undefined ? {} : { mapping }) });
      const warnings = [...snapshot.warnings, ...plan.warnings];
      const verdict = checkPlan(snapshot, current, plan, { guard: settings.sync.guard, syncGroups });
      if (!verdict.isAllowed) return finish('refused', { reason: verdict.reason, counts: plan.counts, steps: plan.steps, warnings });
      if (!options.isDryRun) {
        recorder.phase('applying', { applied: 0, applyTotal: plan.steps.length });
        await applyPlan(store, plan, current, {
          batchSize: settings.sync.batchSize,
          actor: options.trigger === 'login' ? 'login' : 'sync',
          onProgress: (done, total) => {
            recorder.update({ applied: done, applyTotal: total });
            options.onProgress?.({ phase: 'apply', done, total });
          },
        });
      }
      return finish('succeeded', { counts: plan.counts, steps: plan.steps, warnings });
    } catch (error) {
      return finish('failed', { error });
    }
  }

  return { runSync };
}

/** The sync service's public shape. */
export type SyncService = ReturnType<typeof createSyncService>;

/** `{ users: { created: 1 } }` → `{ 'users.created': 1 }`, the run record's flat counters. */
export function flattenCounts(counts: PlanCounts): Record<string, number> {
  const flat: Record<string, number> = {};
  const groups: Record<string, Record<string, number>> = counts;
  for (const [group, values] of Object.entries(groups)) {
    for (const [name, value] of Object.entries(values)) flat[`${group}.${name}`] = value;
  }
  return flat;
}


/** The first steps of each kind with their reasons, kept with the run for review; bounded in size. */
function summarizeSteps(steps: readonly PlanStep[], perKind = 50): Array<{ kind: string; reason: string; subject: string }> {
  const taken = new Map<string, number>();
  const summary: Array<{ kind: string; reason: string; subject: string }> = [];
  for (const step of steps) {
    const count = taken.get(step.kind) ?? 0;
    if (count >= perKind) continue;
    taken.set(step.kind, count + 1);
    summary.push({ kind: step.kind, reason: step.reason, subject: subjectOf(step) });
  }
  return summary;
}

/** A short human name for what a step changes. */
export function subjectOf(step: PlanStep): string {
  switch (step.kind) {
    case 'createUser':
    case 'linkUser':
      return step.fields.username;
    case 'updateUser':
    case 'disableUser':
    case 'enableUser':
    case 'markMissing':
    case 'markPresent':
      return step.username;
    case 'skipUser':
    case 'skipGroup':
      return step.dn;
    case 'createGroup':
    case 'updateGroup':
    case 'deleteGroup':
      return step.name;
    case 'addMembership':
      return `${step.username} → ${step.group}`;
    case 'removeMembership':
      return `${step.username} ✗ ${step.group}`;
    case 'createChannel':
      return `#${step.name}`;
    case 'setChannelOwner':
      return `#${step.channel} · ${step.ownerUsername ?? '(no owner)'}`;
    case 'createTeam':
      return step.name;
    case 'grantRole':
    case 'revokeRole':
      return `${step.username} · ${step.role}`;
    case 'addChannelMember':
    case 'removeChannelMember':
      return `${step.username} · #${step.channel}`;
    case 'addTeamMember':
    case 'removeTeamMember':
      return `${step.username} · ${step.team}`;
    case 'setCustomFields':
    case 'setAbacAttributes':
    case 'setAdmin':
      return step.username;
  }
}
