/**
 * The job scheduler: each job runs on its schedule (cron or the seeds' text form), never
 * overlapping itself, and — through the `JobLock` — on exactly one instance per tick when
 * several share PostgreSQL.
 *
 * Two kinds of lock, both taken through the `JobLock` (advisory locks on PostgreSQL):
 *
 * - The job's **run lock** (named after the job) is held exactly while a run of the job does its
 *   work, whatever started it — tick, startup or `runNow` — and given up as the run ends. So two
 *   runs of one job never overlap, not even on two instances, and a run lock another instance
 *   holds always means a run is in progress there: a manual run is refused only then.
 * - A **tick claim** (named after the job and the tick, e.g. `background-sync@tick:…Z`, or
 *   `background-sync@startup`) is taken before the run lock by a scheduled or startup run, and
 *   kept after the run until min(30 s, half the gap to the next tick) after the tick (or the
 *   start), so an instance whose timer fires for the same tick a little later (timer jitter,
 *   clock skew) finds it taken and does not run that tick again; instances started together run
 *   the startup run once. A claim only ever stops the same tick: it never delays a manual run or
 *   another tick.
 *
 * A tick runs when its instance takes the claim and then the run lock; it is skipped ("locked")
 * when another instance has the claim (it ran or is running that tick) or the run lock (a run is
 * still going). A claim whose run lock could not be taken is given up at once.
 */
import { Cron } from 'croner';
import type { JobLock, JobLockHandle, SchedulerLog } from './job-lock.ts';
import { parseSchedule } from './schedule.ts';

/** What started a run. */
export type JobTrigger = 'schedule' | 'startup' | 'manual';

/** What a job's `run` receives. */
export interface JobRunContext {
  trigger: JobTrigger;
  /** The tick this run is for (whole second), or null for startup and manual runs. */
  scheduledAt: Date | null;
  /** Aborted when the run lock is lost for good (another instance took it): the run must stop. */
  signal: AbortSignal;
  /**
   * Aborted when the scheduler stops, or the job is removed or replaced (new settings). Jobs that
   * run until told (live sync) end on it; others may finish their work (`stop()` waits for them).
   */
  stopping: AbortSignal;
}

/** Which run is due: a job run's context before it holds its lock. */
type DueRun = Omit<JobRunContext, 'signal' | 'stopping'>;

/** A job the scheduler runs. */
export interface SchedulerJob {
  name: string;
  /** Cron or text form; null runs the job only at startup (with `runOnStart`) or through `runNow`. */
  schedule: string | null;
  /** Run once when the scheduler starts, under the lock (Pocket ID's sync on startup). */
  runOnStart?: boolean;
  /** The lock its runs take (default: its name): jobs sharing one never run at once, here or on another instance. */
  lockName?: string;
  /** Its run lasts until `stopping` aborts (live sync): a startup run is started, not waited for. */
  isLongRunning?: boolean;
  /** Does the work; the returned text is logged. A throw is recorded as a failed run. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback may return nothing; with `undefined` every `async () => {}` would be a type error
  run: (context: JobRunContext) => Promise<string | void>;
}

/** One finished run. */
export interface JobRunRecord {
  trigger: JobTrigger;
  scheduledAt: Date | null;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  outcome: 'succeeded' | 'failed';
  /** What the job returned, or the error message. */
  message: string | null;
  /** False when the lock's connection was lost during the run: another instance may have run too. */
  lockHeldThroughout: boolean;
}

/** Why a due run did not happen. */
export type SkipReason = 'running' | 'locked' | 'lock_unavailable' | 'stopping';

/** A job as `status()` shows it. */
export interface JobStatus {
  name: string;
  /** The schedule as written, and as cron. */
  schedule: string | null;
  cron: string | null;
  nextRun: Date | null;
  running: boolean;
  /** The running run's trigger and start, when running. */
  current: { trigger: JobTrigger; startedAt: Date } | null;
  lastRun: JobRunRecord | null;
  lastSkip: { at: Date; trigger: JobTrigger; reason: SkipReason } | null;
  runs: number;
  failures: number;
  skips: number;
}

/** The outcome of `runNow`. */
export type RunNowResult = { ran: true; run: JobRunRecord } | { ran: false; reason: SkipReason };

/** Options of `runNow`. */
export interface RunNowOptions {
  /** Called once the run holds the lock, right before the work starts (never for a skipped run). */
  onStart?: () => void;
  /**
   * Work to do instead of the job's own `run` — a variant of the job, such as a sync with the
   * caller's callbacks — under the same lock and never alongside the job's other runs.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback may return nothing; with `undefined` every `async () => {}` would be a type error
  work?: (context: JobRunContext) => Promise<string | void>;
}

/** A running scheduler. */
export interface Scheduler {
  /** Arms the timers and starts the startup runs; resolves when the startup runs have finished. */
  start(): Promise<void>;
  /** Changes a job's schedule; the next run follows the new schedule at once. Throws for a bad schedule or unknown job. */
  reschedule(name: string, schedule: string | null): void;
  /** Replaces the job list: adds new jobs, removes missing ones (a running run finishes), reschedules changed ones. */
  setJobs(jobs: readonly SchedulerJob[]): void;
  /**
   * Runs a job now under its run lock, unless a run of it is going here or elsewhere; resolves
   * when the run ends, with the lock given up. A tick claim kept after a scheduled run never
   * blocks it. Rejects for an unknown job.
   */
  runNow(name: string, options?: RunNowOptions): Promise<RunNowResult>;
  status(): JobStatus[];
  /** Stops the timers and waits for running runs; releases every lock. */
  stop(): Promise<void>;
}

/** What `createScheduler` needs. */
export interface SchedulerOptions {
  jobs: readonly SchedulerJob[];
  lock: JobLock;
  log: SchedulerLog;
  /** The clock for recorded times (timers follow the real clock). */
  now?: () => Date;
  /** Upper bound of how long a tick claim is kept after its tick (default 30 s); see the module comment. */
  maxLockHoldMs?: number;
}

/** A tick claim kept after its run. */
interface KeptClaim {
  handle: JobLockHandle;
  timer: NodeJS.Timeout;
}

/** The lock name of a tick claim: the job and its tick, or its startup run. */
export function tickClaimName(jobName: string, context: Pick<JobRunContext, 'trigger' | 'scheduledAt'>): string {
  return context.trigger === 'startup' || context.scheduledAt === null ? `${jobName}@startup` : `${jobName}@tick:${context.scheduledAt.toISOString()}`;
}

interface Entry {
  job: SchedulerJob;
  cron: string | null;
  timer: Cron | null;
  /** The run in progress, if any (set synchronously, before any await). */
  current: { trigger: JobTrigger; startedAt: Date } | null;
  /** Tick claims kept after their runs, each until its timer gives it up. */
  keptClaims: Set<KeptClaim>;
  lastRun: JobRunRecord | null;
  lastSkip: JobStatus['lastSkip'];
  runs: number;
  failures: number;
  skips: number;
  removed: boolean;
  /** Aborted (and replaced) when the job is removed or replaced, or the scheduler stops. */
  stopping: AbortController;
}

/** Creates a scheduler; nothing runs until `start()`. */
export function createScheduler(options: SchedulerOptions): Scheduler {
  const { lock, log } = options;
  const now = options.now ?? (() => new Date());
  const maxHoldMs = options.maxLockHoldMs ?? 30_000;
  const entries = new Map<string, Entry>();
  const inFlight = new Set<Promise<unknown>>();
  let started = false;
  let stopping = false;

  for (const job of options.jobs) add(job);

  function add(job: SchedulerJob): void {
    if (entries.has(job.name)) throw new Error(`duplicate job name "${job.name}"`);
    const cron = job.schedule === null ? null : parseSchedule(job.schedule).cron;
    entries.set(job.name, {
      job,
      cron,
      timer: null,
      current: null,
      keptClaims: new Set(),
      lastRun: null,
      lastSkip: null,
      runs: 0,
      failures: 0,
      skips: 0,
      removed: false,
      stopping: new AbortController(),
    });
  }

  function arm(entry: Entry): void {
    entry.timer?.stop();
    entry.timer = null;
    if (!started || stopping || entry.cron === null || entry.removed) return;
    // No croner name (names are global to the process) and no croner `protect`: overlap is handled here.
    const timer: Cron = new Cron(entry.cron, { paused: false }, () => {
      const fired = timer.currentRun() ?? new Date();
      track(tick(entry, new Date(Math.floor(fired.getTime() / 1_000) * 1_000)));
    });
    entry.timer = timer;
  }

  function track<T>(promise: Promise<T>): Promise<T> {
    inFlight.add(promise);
    const forget = () => inFlight.delete(promise);
    // Both ways, so a rejection is left to the caller and never becomes an unhandled one here.
    promise.then(forget, forget);
    return promise;
  }

  async function tick(entry: Entry, scheduledAt: Date): Promise<void> {
    await execute(entry, { trigger: 'schedule', scheduledAt });
  }

  function skip(entry: Entry, trigger: JobTrigger, reason: SkipReason, fields: Record<string, unknown> = {}): { ran: false; reason: SkipReason } {
    entry.skips += 1;
    entry.lastSkip = { at: now(), trigger, reason };
    const text = {
      running: 'skipped: the previous run is still going',
      locked: 'skipped: another instance holds the job lock',
      lock_unavailable: 'skipped: the job lock could not be taken',
      stopping: 'skipped: the scheduler is stopping',
    }[reason];
    (reason === 'lock_unavailable' ? log.warn : log.info).call(log, { job: entry.job.name, trigger, reason, ...fields }, text);
    return { ran: false, reason };
  }

  /** How long after its tick (or start) a tick claim is kept: min(max hold, half the gap between the next two ticks). */
  function minHoldMs(entry: Entry): number {
    if (entry.cron === null) return maxHoldMs;
    const [first, second] = new Cron(entry.cron, { paused: true }).nextRuns(2);
    if (first === undefined || second === undefined) return maxHoldMs;
    return Math.min(maxHoldMs, (second.getTime() - first.getTime()) / 2);
  }

  /** Takes a lock, or says why not: null when another holder has it, a skip when the lock store failed. */
  async function take(entry: Entry, trigger: JobTrigger, name: string): Promise<JobLockHandle | null | { ran: false; reason: SkipReason }> {
    try {
      return await lock.tryAcquire(name);
    } catch (error) {
      return skip(entry, trigger, 'lock_unavailable', { error: error instanceof Error ? error.message : String(error) });
    }
  }

  /** Keeps a tick claim until `until` (epoch ms), or gives it up now when that has passed or the job is going away. */
  async function keepClaim(entry: Entry, claim: JobLockHandle, until: number): Promise<void> {
    const remaining = until - Date.now();
    if (remaining <= 0 || stopping || entry.removed || !claim.isHeld()) {
      await claim.release();
      return;
    }
    const kept: KeptClaim = {
      handle: claim,
      timer: setTimeout(() => {
        entry.keptClaims.delete(kept);
        claim
          .release()
          .catch((error: unknown) =>
            log.warn({ job: entry.job.name, error: error instanceof Error ? error.message : String(error) }, 'could not give up a tick claim'),
          );
      }, remaining),
    };
    kept.timer.unref();
    entry.keptClaims.add(kept);
  }

  async function execute(entry: Entry, context: DueRun, options: RunNowOptions = {}): Promise<RunNowResult> {
    const { job } = entry;
    if (stopping) return skip(entry, context.trigger, 'stopping');
    if (entry.current !== null) return skip(entry, context.trigger, 'running');
    entry.current = { trigger: context.trigger, startedAt: now() };
    let claim: JobLockHandle | null = null;
    /** When the claim's hold window starts (the tick, or a startup run's start); null while nothing ran. */
    let holdFrom: number | null = null;
    try {
      // A tick or startup run first claims its tick, so no other instance runs the same one.
      if (context.trigger !== 'manual') {
        const claimName = tickClaimName(job.name, context);
        const taken = await take(entry, context.trigger, claimName);
        // Another instance has run this tick (or is running it): its claim is the lock that holds.
        if (taken === null) return skip(entry, context.trigger, 'locked', { lock: claimName });
        if ('ran' in taken) return taken;
        claim = taken;
      }
      const taken = await take(entry, context.trigger, job.lockName ?? job.name);
      if (taken === null) return skip(entry, context.trigger, 'locked');
      if ('ran' in taken) return taken;
      const handle = taken;

      const startedAt = now();
      entry.current = { trigger: context.trigger, startedAt };
      const startedMs = Date.now();
      holdFrom = context.scheduledAt?.getTime() ?? startedMs;
      log.info({ job: job.name, trigger: context.trigger, scheduledAt: context.scheduledAt?.toISOString() ?? null }, 'job started');
      let record: JobRunRecord;
      try {
        let outcome: JobRunRecord['outcome'];
        let message: string | null;
        try {
          options.onStart?.();
          const result = await (options.work ?? job.run)({ ...context, signal: handle.signal, stopping: entry.stopping.signal });
          outcome = 'succeeded';
          message = typeof result === 'string' ? result : null;
        } catch (error) {
          outcome = 'failed';
          message = error instanceof Error ? error.message : String(error);
        }
        record = {
          trigger: context.trigger,
          scheduledAt: context.scheduledAt,
          startedAt,
          finishedAt: now(),
          durationMs: Date.now() - startedMs,
          outcome,
          message,
          lockHeldThroughout: handle.isHeld(),
        };
      } finally {
        // The run is over: the next run (a manual one on any instance, or the next tick) may start.
        await handle.release();
      }
      entry.lastRun = record;
      entry.runs += 1;
      if (record.outcome === 'failed') entry.failures += 1;
      const fields = { job: job.name, trigger: context.trigger, durationMs: record.durationMs, message: record.message };
      if (record.outcome === 'failed') log.error(fields, 'job failed');
      else log.info(fields, 'job finished');
      if (!record.lockHeldThroughout) log.warn({ job: job.name }, 'the job lock was lost during the run; another instance may have run the job too');
      return { ran: true, run: record };
    } finally {
      entry.current = null;
      if (claim !== null) {
        // A claim whose run did not happen (the run lock was taken elsewhere, or the lock store
        // failed) goes at once; otherwise it stays for the hold window after the tick or the start.
        await keepClaim(entry, claim, holdFrom === null ? 0 : holdFrom + minHoldMs(entry));
      }
    }
  }

  function statusOf(entry: Entry): JobStatus {
    return {
      name: entry.job.name,
      schedule: entry.job.schedule,
      cron: entry.cron,
      nextRun: entry.timer?.nextRun() ?? null,
      running: entry.current !== null,
      current: entry.current === null ? null : { trigger: entry.current.trigger, startedAt: entry.current.startedAt },
      lastRun: entry.lastRun,
      lastSkip: entry.lastSkip,
      runs: entry.runs,
      failures: entry.failures,
      skips: entry.skips,
    };
  }

  function entryOf(name: string): Entry {
    const entry = entries.get(name);
    if (entry === undefined) throw new Error(`no job named "${name}"`);
    return entry;
  }

  function reschedule(name: string, schedule: string | null): void {
    const entry = entryOf(name);
    const cron = schedule === null ? null : parseSchedule(schedule).cron;
    entry.job = { ...entry.job, schedule };
    entry.cron = cron;
    arm(entry);
    log.info({ job: name, schedule, cron, nextRun: entry.timer?.nextRun()?.toISOString() ?? null }, 'job rescheduled');
  }

  async function dropKeptClaims(entry: Entry): Promise<void> {
    const claims = [...entry.keptClaims];
    entry.keptClaims.clear();
    for (const kept of claims) clearTimeout(kept.timer);
    await Promise.all(claims.map((kept) => kept.handle.release()));
  }

  return {
    async start() {
      if (started) throw new Error('the scheduler was already started');
      started = true;
      for (const entry of entries.values()) arm(entry);
      const startup = [...entries.values()]
        .filter((entry) => entry.job.runOnStart === true)
        .map((entry) => ({ entry, run: track(execute(entry, { trigger: 'startup', scheduledAt: null })) }));
      await Promise.all(startup.filter(({ entry }) => entry.job.isLongRunning !== true).map(({ run }) => run));
    },

    reschedule,

    setJobs(jobs) {
      for (const job of jobs) if (job.schedule !== null) parseSchedule(job.schedule);
      const names = new Set(jobs.map((job) => job.name));
      for (const [name, entry] of entries) {
        if (names.has(name)) continue;
        entry.removed = true;
        entry.stopping.abort();
        entry.timer?.stop();
        entry.timer = null;
        dropKeptClaims(entry).catch((error: unknown) =>
          log.warn({ job: name, error: error instanceof Error ? error.message : String(error) }, 'could not give up tick claims'),
        );
        entries.delete(name);
      }
      for (const job of jobs) {
        const entry = entries.get(job.name);
        if (entry === undefined) {
          add(job);
          const added = entries.get(job.name);
          if (added !== undefined) arm(added);
          continue;
        }
        const changed = entry.job.schedule !== job.schedule;
        if (entry.job !== job) {
          // A run of the old job that runs until told ends; the next tick starts the new one.
          entry.stopping.abort();
          entry.stopping = new AbortController();
        }
        entry.job = job;
        if (changed) reschedule(job.name, job.schedule);
      }
    },

    async runNow(name, options) {
      return track(execute(entryOf(name), { trigger: 'manual', scheduledAt: null }, options));
    },

    status() {
      return [...entries.values()].map(statusOf);
    },

    async stop() {
      stopping = true;
      for (const entry of entries.values()) {
        entry.stopping.abort();
        entry.timer?.stop();
        entry.timer = null;
      }
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      await Promise.all([...entries.values()].map(dropKeptClaims));
    },
  };
}
