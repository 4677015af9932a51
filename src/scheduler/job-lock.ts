/**
 * The lock a scheduler takes around each run of a job, so that only one holder runs it at a
 * time: across instances through PostgreSQL advisory locks (`postgres-lock.ts`), or within
 * one process (`createLocalJobLock`) for the single-instance SQLite deployment.
 */
import { createHash } from 'node:crypto';

/** A held lock. */
export interface JobLockHandle {
  /** False once the lock was lost (the PostgreSQL session holding it ended). */
  isHeld(): boolean;
  /**
   * Aborted when the lock is lost for good: its session ended and another holder took it before
   * it could be taken again. Whoever works under the lock must stop then (its reason says why).
   */
  readonly signal: AbortSignal;
  /** Gives the lock up; safe to call more than once and after the lock was lost. */
  release(): Promise<void>;
}

/** Takes and gives up per-job locks. */
export interface JobLock {
  readonly kind: 'postgres' | 'local';
  /** The lock for `name`, or null when another holder has it. Throws when the lock store is unreachable. */
  tryAcquire(name: string): Promise<JobLockHandle | null>;
  /** Releases everything held and closes the connection, if any. */
  close(): Promise<void>;
}

/**
 * The advisory lock key of a job: the first 8 bytes of SHA-256("dirbridge:job:" + name) as a
 * signed 64-bit integer (decimal text, for `$1::bigint`). Stable across instances and versions.
 */
export function jobLockKey(name: string): string {
  return createHash('sha256').update(`dirbridge:job:${name}`).digest().readBigInt64BE(0).toString();
}

/** An in-process lock: enough for one instance (the SQLite store allows no other). */
export function createLocalJobLock(): JobLock {
  const held = new Set<string>();
  return {
    kind: 'local',
    async tryAcquire(name) {
      if (held.has(name)) return null;
      held.add(name);
      let released = false;
      return {
        isHeld: () => !released,
        // An in-process lock cannot be taken away.
        signal: new AbortController().signal,
        release: async () => {
          if (released) return;
          released = true;
          held.delete(name);
        },
      };
    },
    async close() {
      held.clear();
    },
  };
}

/** The logger the scheduler writes to; pino's logger fits. */
export interface SchedulerLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** A logger that drops everything. */
export const silentLog: SchedulerLog = { info: () => {}, warn: () => {}, error: () => {} };
