/**
 * The lease of a running sync run. Its process renews it on a timer of its own (progress writes
 * stop during long phases, so they cannot stand in for it); any instance records a run whose
 * lease expired as interrupted (`reap-runs.ts`). The lease is several renewals long, so a live
 * run is never taken for a dead one, and it is compared by the database's clock, so instances
 * whose clocks disagree still agree on it.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DirbridgeError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { ProgressLog } from './progress.ts';

/** How long a lease lasts and how often it is renewed and checked. */
export interface RunLeaseTiming {
  /** How long a run counts as alive after a renewal. */
  leaseMs: number;
  /** How often the running process renews it: a sixth of the lease, so five renewals may fail in a row. */
  renewEveryMs: number;
  /** How often a long-running instance looks for expired leases: a quarter of the lease. */
  reapEveryMs: number;
}

/** The environment variable that sets the lease, in seconds. */
export const RUN_LEASE_ENV = 'DIRBRIDGE_RUN_LEASE_SECONDS';

/** The default lease: 60 s, renewed every 10 s, checked every 15 s. */
export const DEFAULT_RUN_LEASE_SECONDS = 60;

/** The bounds of `DIRBRIDGE_RUN_LEASE_SECONDS`. */
export const RUN_LEASE_SECONDS_BOUNDS = { min: 5, max: 3_600 } as const;

/** The timing for a lease of `leaseMs`. */
export function runLeaseTiming(leaseMs: number): RunLeaseTiming {
  return { leaseMs, renewEveryMs: Math.round(leaseMs / 6), reapEveryMs: Math.round(leaseMs / 4) };
}

/** The timing `DIRBRIDGE_RUN_LEASE_SECONDS` asks for (default 60 s); throws `settings.invalid` naming the variable. */
export function runLeaseTimingFromEnv(env: NodeJS.ProcessEnv): RunLeaseTiming {
  const text = env[RUN_LEASE_ENV];
  if (text === undefined || text.trim() === '') return runLeaseTiming(DEFAULT_RUN_LEASE_SECONDS * 1_000);
  const seconds = Number(text.trim());
  const { min, max } = RUN_LEASE_SECONDS_BOUNDS;
  if (!/^\d+$/.test(text.trim()) || seconds < min || seconds > max) {
    throw new DirbridgeError('settings.invalid', `${RUN_LEASE_ENV}: expected a whole number of seconds from ${min} to ${max}, not ${JSON.stringify(text)}`, {
      details: { problems: [`${RUN_LEASE_ENV}: expected a whole number of seconds from ${min} to ${max}`] },
    });
  }
  return runLeaseTiming(seconds * 1_000);
}

/** A new id for this process as the owner of runs: `host:pid:random`. */
export function createInstanceId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** The error a run meets once its record was taken from it (recorded as interrupted elsewhere). */
export function runTakenAway(runId: string): DirbridgeError {
  return new DirbridgeError(
    'sync.interrupted',
    `sync run ${runId} was recorded as interrupted while it was still working (its lease had expired); it stopped before writing again`,
    {
      details: { runId },
    },
  );
}

/** The running side of a lease. */
export interface RunLeaseKeeper {
  /** True once the store said the run is no longer ours. */
  isLost(): boolean;
  /** Throws `sync.interrupted` once the run is no longer ours. */
  assertHeld(): void;
  /** Records that the store said the run is no longer ours (a fenced write found it so). */
  markLost(): void;
  /** Milliseconds (monotonic clock) until the lease expires, as far as this process knows; negative once it has. */
  remainingMs(): number;
  /** Stops renewing; a renewal still in flight is ignored. */
  stop(): void;
}

/**
 * Renews run `runId`'s lease every `renewEveryMs` until stopped, or until a renewal finds the
 * run no longer ours. `confirmedAt` is `performance.now()` from before `runs.start` was asked:
 * the lease is known to last `leaseMs` from then. A failed renewal is retried at the next tick;
 * the first of a streak is logged.
 */
export function keepRunLease(options: {
  store: { runs: Pick<Store['runs'], 'renewLease'> };
  runId: string;
  owner: string;
  timing: RunLeaseTiming;
  confirmedAt: number;
  log?: ProgressLog;
}): RunLeaseKeeper {
  const { store, runId, owner, timing, log } = options;
  let confirmedAt = options.confirmedAt;
  let lost = false;
  let stopped = false;
  let renewing = false;
  let failures = 0;
  const timer = setInterval(() => void renew(), timing.renewEveryMs);
  timer.unref();

  async function renew(): Promise<void> {
    if (renewing || lost) return;
    renewing = true;
    const sentAt = performance.now();
    try {
      const isOurs = await store.runs.renewLease(runId, { owner, leaseMs: timing.leaseMs });
      // Stopped meanwhile: the run is being recorded (a renewal after that is refused, and means nothing).
      if (stopped) return;
      if (isOurs) {
        confirmedAt = Math.max(confirmedAt, sentAt);
        if (failures > 0) log?.warn({ runId, failures }, 'sync run lease renewed again');
        failures = 0;
      } else {
        keeper.markLost();
      }
    } catch (error) {
      failures += 1;
      if (failures === 1) log?.warn({ runId, error: error instanceof Error ? error.message : String(error) }, 'could not renew the sync run lease; retrying');
    } finally {
      renewing = false;
    }
  }

  const keeper: RunLeaseKeeper = {
    isLost: () => lost,
    assertHeld() {
      if (lost) throw runTakenAway(runId);
    },
    markLost() {
      if (lost) return;
      lost = true;
      clearInterval(timer);
      log?.warn({ runId }, 'sync run recorded as interrupted elsewhere while it was working; stopping before its next write');
    },
    remainingMs: () => confirmedAt + timing.leaseMs - performance.now(),
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
  return keeper;
}
