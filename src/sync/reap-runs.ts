/**
 * Records runs whose process is gone as interrupted: any instance, at the start of every command
 * and periodically while `serve` or `run-jobs` runs, marks each running run whose lease has
 * expired (`run-lease.ts`) as `failed` with the reason `interrupted`. The store decides by the
 * database's clock and checks the lease again in the same statement, so a run renewed meanwhile
 * is never touched, and two instances reaping at once record each run once.
 */
import type { SyncRunRecord } from '../model/index.ts';
import type { Store } from '../store/store.ts';

/** Where the reaper reports (pino's logger fits). */
export interface ReaperLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** Records every run with an expired lease as interrupted; returns them. Throws what the store throws. */
export async function reapInterruptedRuns(store: { runs: Pick<Store['runs'], 'reapExpired'> }, reapedBy: string, log?: ReaperLog): Promise<SyncRunRecord[]> {
  const reaped = await store.runs.reapExpired({ reapedBy });
  for (const run of reaped) {
    log?.warn(
      { runId: run.id, owner: run.owner, trigger: run.trigger, lastHeardOf: run.heartbeatAt },
      'sync run recorded as interrupted: its process stopped renewing its lease',
    );
  }
  return reaped;
}

/**
 * Reaps every `intervalMs` until the returned function is called. A failure (the store is away,
 * its disk is full) is retried at the next tick; the first of a streak is logged.
 */
export function startRunReaper(options: {
  store: { runs: Pick<Store['runs'], 'reapExpired'> };
  reapedBy: string;
  intervalMs: number;
  log: ReaperLog;
}): () => void {
  let running = false;
  let failures = 0;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await reapInterruptedRuns(options.store, options.reapedBy, options.log);
      failures = 0;
    } catch (error) {
      failures += 1;
      if (failures === 1)
        options.log.warn({ error: error instanceof Error ? error.message : String(error) }, 'could not check for interrupted sync runs; retrying');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
