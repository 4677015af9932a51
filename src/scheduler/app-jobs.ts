/**
 * dirbridge's background jobs as the settings switch them on — background sync (plus sync on
 * startup, and the full sync on its own schedule when background syncs are incremental), auto logout, Avatar Background Sync, ABAC Attributes Background Sync, write-back
 * delivery (every minute in writable mode) — and the
 * scheduler that runs them with the lock the store calls for: PostgreSQL advisory locks when
 * several instances may share the database, an in-process lock for SQLite.
 */
import type { App } from '../app.ts';
import { logoutDeactivatedUsers } from '../auth/auto-logout.ts';
import { DirbridgeError } from '../errors.ts';
import type { SyncRunRecord } from '../model/index.ts';
import { effectiveWriteBackMode, type StoreSettings } from '../settings/schema.ts';
import { runAbacSync, runAvatarSync } from '../sync/attribute-jobs.ts';
import { runLiveSync } from '../sync/incremental/live-sync.ts';
import type { ProgressLog } from '../sync/progress.ts';
import { startRunReaper } from '../sync/reap-runs.ts';
import type { RunSyncOptions, SyncResult } from '../sync/run-sync.ts';
import type { DeliveryRun } from '../writeback/delivery.ts';
import { createLocalJobLock, type JobLock, type SchedulerLog } from './job-lock.ts';
import { createPostgresJobLock } from './postgres-lock.ts';
import { createScheduler, type Scheduler, type SchedulerJob, type SkipReason } from './scheduler.ts';

/** Job names, stable: they key the advisory locks shared by instances. */
export const JOB_NAMES = {
  backgroundSync: 'background-sync',
  autoLogout: 'auto-logout',
  avatarSync: 'avatar-sync',
  abacSync: 'abac-sync',
  writeBackDelivery: 'writeback-delivery',
  fullSync: 'full-sync',
  liveSync: 'live-sync',
} as const;

/** How often the live sync job is started again when it is not running (it ended on a fault, or runs elsewhere). */
export const LIVE_SYNC_RESTART_SCHEDULE = 'every 1 minute';

/** How often the outbox is delivered in writable mode (actions also deliver at once; this catches retries). */
export const WRITE_BACK_DELIVERY_SCHEDULE = 'every 1 minute';

/**
 * The jobs the settings switch on. The background sync is always listed — with no schedule when
 * Background Sync is off — because Sync Now runs as a manual run of it, under its lock: so a
 * sync never runs twice at once, not even on two instances.
 */
export function appJobs(app: App, options: { log?: ProgressLog; runBackgroundSync?: () => Promise<SyncResult> } = {}): SchedulerJob[] {
  const { autoLogout, mapping, backgroundSync, writeBack } = app.settings;
  const deps = { store: app.store, openDirectory: () => app.openDirectory(), settings: app.settings, now: app.now };
  const jobs: SchedulerJob[] = [];
  jobs.push({
    name: JOB_NAMES.backgroundSync,
    schedule: backgroundSync.enabled ? backgroundSync.schedule : null,
    runOnStart: backgroundSync.onStartup,
    run: async ({ trigger, signal }) => {
      const result = await app.sync.runSync({
        trigger: trigger === 'startup' ? 'startup' : trigger === 'manual' ? 'api' : 'schedule',
        isDryRun: false,
        signal,
        ...(options.log === undefined ? {} : { log: options.log }),
      });
      return summaryOrThrow(result);
    },
  });
  // Incremental runs cannot see everything (deletes, under modification-time polling): a full read
  // on its own schedule, under the background sync's lock, so the two never run at once.
  if (backgroundSync.enabled && app.settings.sync.incremental.feed !== 'off') {
    jobs.push({
      name: JOB_NAMES.fullSync,
      schedule: backgroundSync.fullSchedule,
      lockName: JOB_NAMES.backgroundSync,
      run: async ({ signal }) => {
        const result = await app.sync.runSync({
          trigger: 'schedule',
          isDryRun: false,
          full: true,
          signal,
          ...(options.log === undefined ? {} : { log: options.log }),
        });
        return summaryOrThrow(result);
      },
    });
  }
  const { runBackgroundSync } = options;
  if (app.settings.sync.live.enabled && runBackgroundSync !== undefined) {
    jobs.push({
      name: JOB_NAMES.liveSync,
      schedule: LIVE_SYNC_RESTART_SCHEDULE,
      runOnStart: true,
      isLongRunning: true,
      run: async ({ signal, stopping }) => {
        await runLiveSync({
          settings: app.settings,
          openDirectory: () => app.openDirectory(),
          runSync: runBackgroundSync,
          stop: AbortSignal.any([signal, stopping]),
          ...(options.log === undefined ? {} : { log: options.log }),
        });
        return 'live sync stopped';
      },
    });
  }
  if (autoLogout.enabled) {
    jobs.push({
      name: JOB_NAMES.autoLogout,
      schedule: autoLogout.schedule,
      run: async () => `revoked ${await logoutDeactivatedUsers(app.store, app.now)} session(s)`,
    });
  }
  if (mapping.avatars.enabled) {
    jobs.push({
      name: JOB_NAMES.avatarSync,
      schedule: mapping.avatars.schedule,
      run: async () => {
        const result = await runAvatarSync(deps);
        return `${result.updated} updated, ${result.removed} removed, ${result.skipped} skipped`;
      },
    });
  }
  if (mapping.abac.enabled && mapping.abac.backgroundSync.enabled) {
    jobs.push({ name: JOB_NAMES.abacSync, schedule: mapping.abac.backgroundSync.schedule, run: async () => `${(await runAbacSync(deps)).updated} updated` });
  }
  if (effectiveWriteBackMode(writeBack) === 'writable') {
    jobs.push({
      name: JOB_NAMES.writeBackDelivery,
      schedule: WRITE_BACK_DELIVERY_SCHEDULE,
      runOnStart: true,
      run: async () => describeDelivery(await app.writeBackDelivery.runNow()),
    });
  }
  return jobs;
}

/** One line about a delivery run. */
export function describeDelivery(run: DeliveryRun): string {
  if (run.skipped !== undefined) return `skipped: ${run.skipped === 'held_elsewhere' ? 'another instance is delivering' : 'write-back is not writable'}`;
  return `${run.done} delivered, ${run.retrying} retrying, ${run.failed} failed, ${run.conflicts} conflict(s)`;
}

/** A sync job's result line; a run that did not succeed fails the job with it. */
function summaryOrThrow(result: SyncResult): string {
  const summary = describeSync(result);
  if (result.status !== 'succeeded') throw new Error(summary);
  return summary;
}

/** A sync that has its run record; `finished` settles when the run ends (it never rejects unobserved). */
export interface StartedSync {
  runId: string;
  finished: Promise<SyncResult>;
}

/**
 * Starts Sync Now (or its dry run) and resolves as soon as the run record exists. A real sync
 * with a scheduler runs as a manual run of the background-sync job, under its run lock: when a
 * run of that job is going here or on another instance, this rejects with `sync.already_running`
 * (the message and details from `refusal`) and no run is recorded. The claim another instance
 * keeps for a few seconds after a scheduled run, so that no other instance repeats the tick,
 * does not block it. A dry run, or a sync without a scheduler, goes to `app.sync` directly (whose own
 * guard allows one run per process). Rejects with the error when the run fails before it has a
 * record (e.g. the store is down).
 */
export function startSync(
  app: Pick<App, 'sync' | 'store'>,
  scheduler: Pick<Scheduler, 'runNow'> | undefined,
  options: Omit<RunSyncOptions, 'onStarted' | 'trigger'> & { trigger?: RunSyncOptions['trigger'] },
): Promise<StartedSync> {
  let settleFinished!: { resolve: (result: SyncResult) => void; reject: (error: unknown) => void };
  const finished = new Promise<SyncResult>((resolve, reject) => (settleFinished = { resolve, reject }));
  // A caller that only needed the run id may never look at the outcome; a rejection must not crash the process.
  finished.catch(() => {});
  return new Promise<StartedSync>((resolve, reject) => {
    const fail = (error: unknown) => {
      reject(error);
      settleFinished.reject(error);
    };
    const runOptions: RunSyncOptions = { ...options, trigger: options.trigger ?? 'api', onStarted: (runId) => resolve({ runId, finished }) };
    if (scheduler === undefined || options.isDryRun) {
      app.sync.runSync(runOptions).then(settleFinished.resolve, fail);
      return;
    }
    let result: SyncResult | undefined;
    let failure: unknown;
    scheduler
      .runNow(JOB_NAMES.backgroundSync, {
        work: async ({ signal }) => {
          try {
            result = await app.sync.runSync({ ...runOptions, signal });
          } catch (error) {
            failure = error;
            throw error;
          }
          return summaryOrThrow(result);
        },
      })
      .then((outcome) => {
        if (!outcome.ran) void refusal(app.store, outcome.reason).then(fail);
        else if (result !== undefined) settleFinished.resolve(result);
        else fail(failure ?? new Error(outcome.run.message ?? 'the sync failed before it started'));
      }, fail);
  });
}

/** How long a caller refused because a sync is starting or ending on another instance should wait (seconds). */
export const SYNC_RETRY_AFTER_SECONDS = 1;

/**
 * Why Sync Now was refused, as `sync.already_running` with `details.reason` (the scheduler's
 * skip reason). The background-sync run lock is held only while a run of it is going, so
 * "locked" means a run on another instance: its id is given (`details.runId`) when the store
 * shows it. When the store shows none, that run is between taking the lock and recording its
 * start, or between recording its end and giving the lock up — milliseconds — and the message
 * says so, with `details.retryAfterSeconds`.
 */
export async function refusal(store: { runs: Pick<App['store']['runs'], 'list'> }, reason: SkipReason): Promise<DirbridgeError> {
  const refuse = (message: string, details: Record<string, unknown> = {}) =>
    new DirbridgeError('sync.already_running', message, { details: { reason, ...details } });
  switch (reason) {
    case 'running':
      return refuse('a sync is already running');
    case 'stopping':
      return refuse('the scheduler is stopping; try again on another instance or after the restart');
    case 'lock_unavailable':
      return refuse('the sync lock could not be taken; try again', { retryAfterSeconds: SYNC_RETRY_AFTER_SECONDS });
    case 'locked': {
      let running: SyncRunRecord | undefined;
      try {
        // Runs that take the lock (Sync Now, scheduled, startup and CLI runs) are recorded by the holder.
        const { runs } = await store.runs.list({ limit: 50, offset: 0 });
        running = runs.find(
          (run) =>
            run.status === 'running' &&
            !run.isDryRun &&
            (run.trigger === 'api' || run.trigger === 'schedule' || run.trigger === 'startup' || run.trigger === 'cli'),
        );
      } catch {
        return refuse('a sync is already running on another instance');
      }
      if (running !== undefined) return refuse(`a sync is already running on another instance (run ${running.id})`, { runId: running.id });
      return refuse('a sync is starting or finished moments ago on another instance; try again in a second', { retryAfterSeconds: SYNC_RETRY_AFTER_SECONDS });
    }
  }
}

/** How often an instance looks for settings saved by another instance or the CLI. */
export const SETTINGS_WATCH_INTERVAL_MS = 10_000;

/**
 * Keeps the scheduler on the settings in force: jobs are rebuilt after every change (so a new
 * schedule takes effect at once), and the store is checked every `intervalMs` for versions saved
 * elsewhere. Returns the function that stops following.
 */
export function followSettings(app: App, scheduler: Pick<Scheduler, 'setJobs' | 'runNow'>, options: { log: SchedulerLog; intervalMs?: number }): () => void {
  const runBackgroundSync = backgroundSyncRunner(app, () => scheduler);
  const unsubscribe = app.onSettingsChange(() => {
    try {
      scheduler.setJobs(appJobs(app, { log: options.log, runBackgroundSync }));
      options.log.info({ settingsVersion: app.settingsState().version }, 'jobs follow the new settings');
    } catch (error) {
      options.log.error({ error: error instanceof Error ? error.message : String(error) }, 'could not apply the new settings to the jobs');
    }
  });
  const stopWatching = app.watchSettings({
    intervalMs: options.intervalMs ?? SETTINGS_WATCH_INTERVAL_MS,
    onError: (error) => options.log.warn({ error: error instanceof Error ? error.message : String(error) }, 'could not check the store for new settings'),
    onApplied: (state) => options.log.info({ settingsVersion: state.version, by: state.updatedBy }, 'applied settings saved elsewhere'),
  });
  return () => {
    stopWatching();
    unsubscribe();
  };
}

/** One line about a sync run. */
export function describeSync(result: SyncResult): string {
  const { users, groups, memberships } = result;
  const counts = `users ${users.created} created, ${users.updated} updated, ${users.disabled} disabled, ${users.enabled} enabled; groups ${groups.created} created, ${groups.updated} updated, ${groups.deleted} deleted; memberships +${memberships.added} -${memberships.removed}`;
  return `sync ${result.status}${result.reason === null ? '' : ` (${result.reason})`}: ${counts} in ${result.durationMs} ms [run ${result.runId}]`;
}

/**
 * Runs one sync outside any scheduler (the CLI) under the background-sync run lock, so it never
 * overlaps a scheduled run or Sync Now of a server sharing the PostgreSQL store; rejects with
 * `sync.already_running` (see `refusal`) when one is going. A dry run writes nothing and takes
 * no lock. On SQLite the lock is in-process only: the store then serializes writers itself.
 */
export async function runSyncExclusively(app: Pick<App, 'sync' | 'store' | 'settings'>, options: RunSyncOptions): Promise<SyncResult> {
  if (options.isDryRun) return app.sync.runSync(options);
  const lock = createJobLock(app.settings.store);
  try {
    const handle = await lock.tryAcquire(JOB_NAMES.backgroundSync);
    if (handle === null) throw await refusal(app.store, 'locked');
    try {
      return await app.sync.runSync({ ...options, signal: handle.signal });
    } finally {
      await handle.release();
    }
  } finally {
    await lock.close();
  }
}

/** A real sync as a manual run of the background sync job (under its lock, here and on other instances), resolving when it ends. */
function backgroundSyncRunner(app: App, scheduler: () => Pick<Scheduler, 'runNow'>): () => Promise<SyncResult> {
  return async () => (await startSync(app, scheduler(), { isDryRun: false, trigger: 'schedule' })).finished;
}

/** The lock the store calls for; a PostgreSQL lock opens one dedicated connection, lazily. */
export function createJobLock(store: StoreSettings, log?: SchedulerLog): JobLock {
  return store.url === undefined ? createLocalJobLock() : createPostgresJobLock(store.url, log === undefined ? {} : { log });
}

/**
 * A scheduler for the app's jobs that owns its lock: `stop()` waits for runs, then closes the
 * lock. While started it also records, every `app.runLease.reapEveryMs`, the sync runs whose
 * process is gone (expired leases) as interrupted, whoever ran them.
 */
export function createAppScheduler(app: App, options: { log: SchedulerLog; jobs?: SchedulerJob[] }): Scheduler & { lock: JobLock } {
  const lock = createJobLock(app.settings.store, options.log);
  let scheduler: Scheduler | undefined;
  const runBackgroundSync = backgroundSyncRunner(app, () => {
    if (scheduler === undefined) throw new DirbridgeError('sync.already_running', 'the scheduler is not started');
    return scheduler;
  });
  scheduler = createScheduler({ jobs: options.jobs ?? appJobs(app, { log: options.log, runBackgroundSync }), lock, log: options.log, now: app.now });
  let stopReaper: (() => void) | undefined;
  return {
    ...scheduler,
    lock,
    async start() {
      stopReaper ??= startRunReaper({ store: app.store, reapedBy: app.instanceId, intervalMs: app.runLease.reapEveryMs, log: options.log });
      await scheduler.start();
    },
    async stop() {
      stopReaper?.();
      await scheduler.stop();
      await lock.close();
    },
  };
}
