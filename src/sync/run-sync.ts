/**
 * One sync run, end to end: read the directory, diff against the store, ask the guard,
 * apply, and record the run. The CLI, the scheduler and the API all call this.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { DirectoryConnection } from '../directory/index.ts';
import { DirbridgeError, isDirbridgeError } from '../errors.ts';
import { isMappingActive } from '../mapping/grants.ts';
import { INTERRUPTED_REASON, PRIMARY_DIRECTORY_ID, type SyncMode, type SyncRunOutcome, type SyncRunRecord } from '../model/index.ts';
import type { Settings } from '../settings/schema.ts';
import type { Store } from '../store/store.ts';
import { applyPlan } from './apply.ts';
import { checkPlan } from './guard.ts';
import { loadDeltaState } from './incremental/delta-state.ts';
import { readDelta } from './incremental/read-delta.ts';
import { decideMode, type FeedPositions, type ModeDecision, recordFeedState, startPositions } from './incremental/sync-mode.ts';
import { type CurrentState, countSteps, type PlanCounts, type PlanStep, planSync } from './plan.ts';
import { createProgressRecorder, type ProgressLog } from './progress.ts';
import { readSnapshot } from './read-snapshot.ts';
import { mergeWriteBackStates, readWriteBackState } from './read-write-back-state.ts';
import {
  createInstanceId,
  DEFAULT_RUN_LEASE_SECONDS,
  keepRunLease,
  type RunLeaseKeeper,
  type RunLeaseTiming,
  runLeaseTiming,
  runTakenAway,
} from './run-lease.ts';
import type { DirectorySnapshot } from './snapshot.ts';

/** What started a run. */
export type SyncTrigger = SyncRunRecord['trigger'];

/** Progress of a running sync, for terminals and the console. */
export type SyncProgress = { phase: 'users' | 'groups'; entriesRead: number } | { phase: 'apply'; done: number; total: number };

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
  sessions: PlanCounts['sessions'];
  durationMs: number;
  warnings: string[];
  steps: PlanStep[];
  /** How the run read the directory (null when it failed before deciding). */
  mode: SyncMode | null;
  /** Why a run read everything when it could have read changes; null for incremental runs. */
  modeReason: string | null;
  /** Directory entries read: every user and group in a full run, the changes (and entries read again) in an incremental one. */
  entriesRead: number;
}

/** What a sync service needs. */
export interface SyncServiceDeps {
  store: Store;
  openDirectory: () => Promise<DirectoryConnection>;
  settings: Pick<Settings, 'directory' | 'users' | 'groups' | 'sync' | 'mapping' | 'writeBack'>;
  /** Where a failed progress write is reported (a run's own `log` wins). */
  log?: ProgressLog;
  /** Told of every finished run (after its record is written), whatever started it. Must not throw. */
  onFinished?: (result: SyncResult) => void;
  /** This process as the owner of its runs' leases (default: a new `host:pid:random`). */
  owner?: string;
  /** The runs' lease (default 60 s, renewed every 10 s). */
  leaseTiming?: RunLeaseTiming;
  /** Wait between attempts to record a run's outcome while the store is away (default 1 s). */
  recordRetryMs?: number;
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
  /**
   * Aborted when the run must stop: its run lock was lost to another instance. Checked, as the
   * lease is, before planning and before each apply transaction; the run is then recorded
   * failed/interrupted with the signal's reason.
   */
  signal?: AbortSignal;
  /** Read everything even when the change feed could be read (`sync --full`, the full sync schedule). */
  full?: boolean;
}

/** What a run read: everything, or the changes since the stored positions, and what to store for the next run. */
type RunRead = {
  snapshot: DirectorySnapshot;
  decision: ModeDecision;
  /** Positions to store after applying (undefined: none, the stored ones are removed). */
  positions: FeedPositions | undefined;
  /** The groups to store for the next run: all a full read saw, or the changes of an incremental one. */
  groupsToStore: Parameters<typeof recordFeedState>[3];
} & ({ kind: 'full' } | { kind: 'incremental'; deletedUserIds: ReadonlySet<string>; changedGroupIds: ReadonlySet<string> });

/** Errors that mean the store went away (or cannot write) while the run worked. */
const STORE_AWAY = ['store.unavailable', 'store.timeout', 'store.disk_full'] as const;

/**
 * Creates the sync service; at most one run is in progress per service.
 *
 * Each run holds a lease on its record (`run-lease.ts`), renewed on a timer. Its writes are
 * fenced: every apply transaction checks before it commits that the run is still its own, so a
 * run recorded as interrupted elsewhere commits nothing more. A run that the store's going away
 * interrupts is recorded `failed` with the reason `interrupted` by its own process, retrying
 * until the store answers or the lease runs out; after that any instance records it.
 */
export function createSyncService(deps: SyncServiceDeps) {
  let isRunning = false;
  const owner = deps.owner ?? createInstanceId();
  const timing = deps.leaseTiming ?? runLeaseTiming(DEFAULT_RUN_LEASE_SECONDS * 1_000);
  const recordRetryMs = deps.recordRetryMs ?? 1_000;

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
    const { store } = deps;
    const started = Date.now();
    const confirmedAt = performance.now();
    const run = await store.runs.start({ trigger: options.trigger, isDryRun: options.isDryRun, lease: { owner, leaseMs: timing.leaseMs } });
    const log = options.log ?? deps.log;
    const lease = keepRunLease({ store, runId: run.id, owner, timing, confirmedAt, ...(log === undefined ? {} : { log }) });
    try {
      return await work(options, run.id, lease, started, log);
    } finally {
      lease.stop();
    }
  }

  /**
   * Writes the run's outcome, retrying while the store is away for as long as the lease lasts
   * (and at most one lease length): a store back in time gets the real reason from this
   * process. Returns false when the run was already recorded as interrupted elsewhere.
   */
  async function recordOutcome(runId: string, lease: RunLeaseKeeper, outcome: SyncRunOutcome): Promise<boolean> {
    let firstFailure: number | undefined;
    for (;;) {
      try {
        await deps.store.runs.finish(runId, outcome);
        return true;
      } catch (error) {
        // Finished already: only a reaper finishes another instance's running run.
        if (isDirbridgeError(error, 'store.conflict')) {
          lease.markLost();
          return false;
        }
        if (!isDirbridgeError(error, ...STORE_AWAY)) throw error;
        firstFailure ??= performance.now();
        const left = Math.min(lease.remainingMs(), firstFailure + timing.leaseMs - performance.now());
        if (left <= recordRetryMs) {
          throw new DirbridgeError(
            error.code,
            `sync run ${runId} stopped and could not be recorded: ${error.message}. Any instance will record it as interrupted once its lease expires.`,
            {
              cause: error,
              details: { runId },
            },
          );
        }
        await sleep(recordRetryMs);
      }
    }
  }

  async function work(options: RunSyncOptions, runId: string, lease: RunLeaseKeeper, started: number, log: ProgressLog | undefined): Promise<SyncResult> {
    const { store, settings } = deps;
    const recorder = createProgressRecorder({
      store,
      runId,
      ...(options.progressIntervalMs === undefined ? {} : { intervalMs: options.progressIntervalMs }),
      ...(log === undefined ? {} : { log }),
    });
    /** Throws when the run must stop: its record was taken from it, or its lock was lost. */
    const assertMayGoOn = () => {
      lease.assertHeld();
      if (options.signal?.aborted === true) {
        const why = options.signal.reason instanceof Error ? options.signal.reason.message : 'its run lock was lost';
        throw new DirbridgeError('sync.interrupted', `sync run ${runId} stopped before its next write: ${why}`, {
          cause: options.signal.reason,
          details: { runId },
        });
      }
    };
    // Apply writes through this store. Each transaction checks, last before it commits, that the
    // run is still ours (on PostgreSQL locking the run's row until the commit, so no reaper gets
    // in between): a batch of a run taken over rolls back, and none follows. Checked last, the
    // row is locked only for a moment, and the lease renewals that update it never wait a batch out.
    const fenced: Store = {
      ...store,
      transaction: (body) => {
        assertMayGoOn();
        return store.transaction(async (tx) => {
          const result = await body(tx);
          if (!(await tx.runs.isStillOwned(runId, owner))) {
            lease.markLost();
            throw runTakenAway(runId);
          }
          return result;
        });
      },
    };
    // The run record starts in phase `connecting`.
    options.onStarted?.(runId);
    const syncGroups = settings.groups?.enabled === true;
    const emptyCounts = countSteps([], 0);
    const reading: { mode: SyncMode | null; modeReason: string | null; entriesRead: number } = { mode: null, modeReason: null, entriesRead: 0 };
    const finish = async (
      status: SyncResult['status'],
      fields: { reason?: string; counts?: PlanCounts; steps?: PlanStep[]; warnings?: string[]; error?: unknown },
    ) => {
      const counts = fields.counts ?? emptyCounts;
      let error = fields.error;
      let reason = fields.reason;
      recorder.phase('finishing');
      await recorder.close();
      let isRecorded = false;
      // No renewal from here: one that reached the store after the outcome would be refused, and read as a reap.
      lease.stop();
      if (!lease.isLost()) {
        // The store went away under the run, or its lock was taken: it is interrupted, and the error says how.
        if (reason === undefined && isDirbridgeError(error, 'store.unavailable', 'store.timeout', 'sync.interrupted')) reason = INTERRUPTED_REASON;
        const errorCode = error === undefined ? undefined : isDirbridgeError(error) ? error.code : 'internal';
        const errorMessage = error === undefined ? undefined : error instanceof Error ? error.message : String(error);
        isRecorded = await recordOutcome(runId, lease, {
          status,
          ...(reason === undefined ? {} : { reason }),
          ...(errorCode === undefined ? {} : { errorCode }),
          ...(errorMessage === undefined ? {} : { errorMessage }),
          counts: flattenCounts(counts),
          planSummary: summarizeSteps(fields.steps ?? []),
          ...reading,
        });
      }
      if (!isRecorded) {
        // Recorded as interrupted elsewhere: that record stands, and this run says so.
        status = 'failed';
        reason = INTERRUPTED_REASON;
        error = runTakenAway(runId);
      }
      const errorMessage = error === undefined ? undefined : error instanceof Error ? error.message : String(error);
      return {
        runId,
        trigger: options.trigger,
        status,
        reason: reason ?? errorMessage ?? null,
        isDryRun: options.isDryRun,
        users: counts.users,
        groups: counts.groups,
        memberships: counts.memberships,
        roles: counts.roles,
        channels: counts.channels,
        teams: counts.teams,
        attributes: counts.attributes,
        sessions: counts.sessions,
        durationMs: Date.now() - started,
        warnings: fields.warnings ?? [],
        steps: fields.steps ?? [],
        ...reading,
      } satisfies SyncResult;
    };

    let read: RunRead;
    // Pending writes as the read starts: one delivered while the directory is read may be missing
    // from the snapshot, and must still hold its fields (read again after the users, below).
    let heldAtStart;
    try {
      heldAtStart = await readWriteBackState(store, settings);
      const directory = await deps.openDirectory();
      try {
        recorder.phase('reading_users');
        read = await readDirectory(directory, runId, options, recorder, log, reading);
      } finally {
        await directory.close();
      }
    } catch (error) {
      return finish('failed', { error });
    }

    try {
      assertMayGoOn();
      recorder.phase('planning');
      const mapping = isMappingActive(settings.mapping) ? settings.mapping : undefined;
      const { snapshot } = read;
      // After the users: a local change and its outbox rows are committed together, so every
      // local value read above has its rows (if still open) in this read.
      const writeBack = mergeWriteBackStates(heldAtStart, await readWriteBackState(store, settings));
      let current: CurrentState;
      let delta: Parameters<typeof checkPlan>[3]['delta'];
      if (read.kind === 'incremental') {
        current = await loadDeltaState(store, settings, snapshot, read.deletedUserIds, mapping, writeBack);
        const counted = await store.runs.countDirectoryUsers();
        delta = { directoryUsers: counted.total, enabledDirectoryUsers: counted.enabled };
      } else {
        const state = await store.runs.loadSyncState();
        current = {
          ...state,
          ...(mapping === undefined ? {} : { mapping: await store.mapping.loadState() }),
          ...(writeBack === undefined ? {} : { writeBack }),
        };
      }
      const plan = planSync(snapshot, current, {
        ...settings.sync,
        syncGroups,
        ...(read.kind === 'incremental'
          ? { scope: 'delta' as const, deletedUserIds: read.deletedUserIds, changedGroupIds: read.changedGroupIds }
          : { scope: 'all' as const }),
        writeBackAuthority: settings.writeBack.authority,
        ...(mapping === undefined ? {} : { mapping }),
      });
      const warnings = [...snapshot.warnings, ...plan.warnings];
      const verdict = checkPlan(snapshot, current, plan, { guard: settings.sync.guard, syncGroups, ...(delta === undefined ? {} : { delta }) });
      if (!verdict.isAllowed) return finish('refused', { reason: verdict.reason, counts: plan.counts, steps: plan.steps, warnings });
      if (!options.isDryRun) {
        recorder.phase('applying', { applied: 0, applyTotal: plan.steps.length });
        await applyPlan(fenced, plan, current, {
          batchSize: settings.sync.batchSize,
          actor: options.trigger === 'login' ? 'login' : 'sync',
          writeBackNow: (tx, userIds) => readWriteBackState(tx, settings, { userIds, groupIds: [] }),
          onProgress: (done, total) => {
            recorder.update({ applied: done, applyTotal: total });
            options.onProgress?.({ phase: 'apply', done, total });
          },
        });
        await recordFeedState(fenced, read.decision, read.positions, read.groupsToStore, syncGroups);
      }
      return finish('succeeded', { counts: plan.counts, steps: plan.steps, warnings });
    } catch (error) {
      return finish('failed', { error });
    }
  }

  /**
   * Reads the directory: the changes since the stored positions when the feed allows it, else
   * everything (with positions taken first). A stored position the server no longer accepts makes
   * the run full, with the reason recorded.
   */
  async function readDirectory(
    directory: DirectoryConnection,
    runId: string,
    options: RunSyncOptions,
    recorder: ReturnType<typeof createProgressRecorder>,
    log: ProgressLog | undefined,
    reading: { mode: SyncMode | null; modeReason: string | null; entriesRead: number },
  ): Promise<RunRead> {
    const { store, settings } = deps;
    const decision = await decideMode(directory, store, settings, { full: options.full === true });
    if (decision.from !== undefined && decision.feed !== undefined) {
      try {
        const delta = await readDelta(directory, settings, { store, feed: decision.feed, directoryId: PRIMARY_DIRECTORY_ID, positions: decision.from });
        reading.mode = 'incremental';
        reading.entriesRead = delta.entriesRead;
        recorder.update({ usersRead: delta.entriesRead });
        return {
          kind: 'incremental',
          snapshot: delta.snapshot,
          deletedUserIds: delta.deletedUserIds,
          changedGroupIds: delta.changedGroupIds,
          decision,
          positions: delta.positions,
          groupsToStore: { changes: delta.groupsToStore },
        };
      } catch (error) {
        if (!isDirbridgeError(error, 'sync.cursor_invalid')) throw error;
        decision.fullReason = `the stored position could not be read from (${error.message})`;
        log?.warn({ runId, source: decision.feed.source, error: error.message }, 'change feed position rejected; reading everything');
      }
    }
    reading.mode = 'full';
    reading.modeReason = decision.fullReason;
    const positions = await startPositions(directory, decision, settings, log);
    let isReadingGroups = false;
    let usersRead = 0;
    let groupsRead = 0;
    const snapshot = await readSnapshot(directory, settings, (progress) => {
      if (progress.phase === 'users') {
        usersRead = progress.entriesRead;
        recorder.update({ usersRead });
      } else {
        groupsRead = progress.entriesRead;
        if (isReadingGroups) recorder.update({ groupsRead });
        else {
          isReadingGroups = true;
          recorder.phase('reading_groups', { groupsRead });
        }
      }
      reading.entriesRead = usersRead + groupsRead;
      options.onProgress?.(progress);
    });
    return { kind: 'full', snapshot, decision, positions, groupsToStore: { all: snapshot.groups } };
  }

  return { runSync, owner };
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
    case 'settleLocalChange':
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
    case 'revokeSessions':
    case 'recordPasswordChange':
      return step.username;
  }
}
