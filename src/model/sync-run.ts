/**
 * Sync runs: the recorded run, its lease, its live progress and how it ended.
 */
import type { JsonValue } from './json-value.ts';
import type { Timestamp } from './timestamp.ts';

/** What started a sync run. */
export type SyncTrigger = 'cli' | 'schedule' | 'startup' | 'api' | 'login';

/** The state of a sync run; every run starts as `running`. */
export type SyncRunStatus = 'running' | 'succeeded' | 'failed' | 'refused';

/** Per-kind counters of a sync run, e.g. `{ created: 3, updated: 1 }`. */
export type SyncCounts = Record<string, number>;

/** How a run read the directory: everything, or the changes since the last run (issue #11). */
export type SyncMode = 'full' | 'incremental';

/** One recorded sync run (the audit trail of sync). */
export interface SyncRunRecord {
  id: string;
  trigger: SyncTrigger;
  isDryRun: boolean;
  status: SyncRunStatus;
  reason: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  startedAt: Timestamp;
  finishedAt: Timestamp | null;
  durationMs: number | null;
  counts: SyncCounts;
  planSummary: JsonValue | null;
  /** Where a running run is (written about once a second); null once it has finished. */
  progress: SyncRunProgress | null;
  /** The instance that runs (or ran) it, `host:pid:random`; null for runs of earlier versions. */
  owner: string | null;
  /** When its owner last renewed its lease, by the database's clock. */
  heartbeatAt: Timestamp | null;
  /** Until when it counts as alive without another renewal, by the database's clock. */
  leaseExpiresAt: Timestamp | null;
  /** How it read the directory; null until it knows (and for runs of earlier versions). */
  mode: SyncMode | null;
  /** Why a run read everything when it could have read changes (no cursor yet, an expired cookie, ...); null otherwise. */
  modeReason: string | null;
  /** Directory entries read (users and groups); null for runs of earlier versions. */
  entriesRead: number | null;
}

/** The lease a run gets when `runs.start` is given none (its owner renews it well before then). */
export const DEFAULT_RUN_LEASE_MS = 60_000;

/** The reason recorded for a run that could not finish: its store went away, or its process did. */
export const INTERRUPTED_REASON = 'interrupted';

/** A run's lease: the instance that runs it, and how long each renewal keeps it alive. */
export interface RunLease {
  owner: string;
  leaseMs: number;
}

/** The phases of a sync run, in order. */
export const SYNC_RUN_PHASES = ['connecting', 'reading_users', 'reading_groups', 'planning', 'applying', 'finishing'] as const;

/** A phase of a sync run. */
export type SyncRunPhase = (typeof SYNC_RUN_PHASES)[number];

/** Live progress of a running sync, kept in its run record so every instance can show it. */
export interface SyncRunProgress {
  phase: SyncRunPhase;
  usersRead: number;
  groupsRead: number;
  /** Plan steps applied so far, of `applyTotal` (0 of 0 before applying). */
  applied: number;
  applyTotal: number;
  /** When the store wrote this progress. */
  updatedAt: Timestamp;
}

/** How a run ended, given to `runs.finish`. */
export interface SyncRunOutcome {
  status: Exclude<SyncRunStatus, 'running'>;
  reason?: string | null;
  errorCode?: string | null;
  errorMessage?: string | null;
  counts: SyncCounts;
  planSummary?: JsonValue | null;
  mode?: SyncMode | null;
  modeReason?: string | null;
  entriesRead?: number | null;
}
