/**
 * Write-back's records (issue #10): outbox rows, baselines and conflicts, each keyed by the
 * directory they belong to.
 */
import type { DirectoryChange } from '../writeback/directory-change.ts';
import type { WriteStepKind } from '../writeback/write-step.ts';
import type { Timestamp } from './timestamp.ts';

/**
 * The id of the one directory an instance reads today. Every piece of write-back state is keyed
 * by a directory id so that several directories per instance need no migration of it.
 */
export const PRIMARY_DIRECTORY_ID = 'primary';

/** The directory object a row is about. */
export type WriteBackObjectKind = 'user' | 'group';

/** An outbox row's state: `done` rows are kept for the record, `failed` ones wait for a retry. */
export type OutboxStatus = 'pending' | 'failed' | 'done';

/** One step of an action, as the caller enqueues it. */
export interface NewOutboxStep {
  stepKind: WriteStepKind;
  subject: string;
  objectKind: WriteBackObjectKind;
  objectId: string;
  change: DirectoryChange;
  reason: string;
}

/** One outbox row. */
export interface OutboxRecord extends NewOutboxStep {
  id: string;
  directoryId: string;
  actionId: string;
  seq: number;
  actor: string;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: Timestamp;
  lastErrorCode: string | null;
  lastError: string | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

/** A field's baseline: what both sides held before dirbridge's local change. */
export interface BaselineRecord {
  objectKind: WriteBackObjectKind;
  objectId: string;
  field: string;
  values: string[];
  /** entryCSN / uSNChanged / modifyTimestamp read with the entry, when the server has one. */
  changeMarker: string | null;
  updatedAt: Timestamp;
}

/** A conflict to record. */
export interface NewWriteBackConflict {
  objectKind: WriteBackObjectKind;
  objectId: string;
  subject: string;
  field: string;
  winner: 'directory' | 'dirbridge';
  directoryValue: string[];
  dirbridgeValue: string[];
  baseline: string[];
}

/** A recorded conflict. */
export interface WriteBackConflictRecord extends NewWriteBackConflict {
  id: string;
  directoryId: string;
  createdAt: Timestamp;
  resolvedAt: Timestamp | null;
  resolvedBy: string | null;
  resolution: 'keep' | 'restore' | null;
}
