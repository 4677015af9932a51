/**
 * Writes a running sync's progress into its run record, so the console on any instance can
 * show it: at every phase change at once, otherwise at most once per interval (never per entry
 * or per step). Writes are serialised, so an older progress never overwrites a newer one, and a
 * failed write is logged and dropped — progress is a view, it never fails the sync. Once the
 * store refuses a write because the run is no longer running (it was recorded as interrupted
 * elsewhere), nothing more is written.
 */
import type { SyncRunPhase, SyncRunProgress } from '../model/index.ts';
import type { Store } from '../store/store.ts';

/** Where a warning about a failed progress write goes (pino's logger fits). */
export interface ProgressLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/** The counters of a run's progress, without the phase and the store's timestamp. */
export type ProgressCounters = Omit<SyncRunProgress, 'phase' | 'updatedAt'>;

/** A run's progress recorder. */
export interface ProgressRecorder {
  /** Enters a phase (written at once, after any write in flight), optionally with new counters. */
  phase(phase: SyncRunPhase, counters?: Partial<ProgressCounters>): void;
  /** Updates counters; written when the interval since the last write has passed, or later by a timer. */
  update(counters: Partial<ProgressCounters>): void;
  /** Cancels the pending write and waits for the one in flight; nothing is written afterwards. */
  close(): Promise<void>;
}

/** Creates the recorder for one run. */
export function createProgressRecorder(options: {
  store: { runs: Pick<Store['runs'], 'updateProgress'> };
  runId: string;
  intervalMs?: number;
  log?: ProgressLog;
}): ProgressRecorder {
  const intervalMs = options.intervalMs ?? 1_000;
  const state: Omit<SyncRunProgress, 'updatedAt'> = { phase: 'connecting', usersRead: 0, groupsRead: 0, applied: 0, applyTotal: 0 };
  let lastWriteAt = Number.NEGATIVE_INFINITY;
  let chain: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let isClosed = false;
  /** Set once the store refused a write because the run is no longer running. */
  let isFinal = false;
  let failures = 0;

  function write(): void {
    if (isClosed) return;
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    lastWriteAt = Date.now();
    const snapshot = { ...state };
    chain = chain.then(async () => {
      try {
        // False: the run is no longer running (recorded as interrupted elsewhere); its record is final.
        if (!isFinal && !(await options.store.runs.updateProgress(options.runId, snapshot))) isFinal = true;
      } catch (error) {
        failures += 1;
        // Once per run is enough: a store that refuses progress refuses it every second.
        if (failures === 1)
          options.log?.warn({ runId: options.runId, error: error instanceof Error ? error.message : String(error) }, 'could not record sync progress');
      }
    });
  }

  function assign(counters: Partial<ProgressCounters> | undefined): void {
    if (counters === undefined) return;
    for (const key of ['usersRead', 'groupsRead', 'applied', 'applyTotal'] as const) {
      const value = counters[key];
      if (value !== undefined) state[key] = value;
    }
  }

  return {
    phase(phase, counters) {
      if (isClosed) return;
      state.phase = phase;
      assign(counters);
      write();
    },
    update(counters) {
      if (isClosed) return;
      assign(counters);
      const dueIn = lastWriteAt + intervalMs - Date.now();
      if (dueIn <= 0) write();
      else if (timer === undefined) {
        timer = setTimeout(write, dueIn);
        timer.unref();
      }
    },
    async close() {
      isClosed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await chain;
    },
  };
}
