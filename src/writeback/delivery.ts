/**
 * Write-back delivery as a service (issue #10): `runNow()` delivers the due outbox rows
 * (deliver.ts) when write-back is on in `writable` mode. Exactly one delivery runs at a time:
 * within a process calls coalesce (a call made while a pass runs gets the next pass, so a row
 * enqueued meanwhile is not left for the next tick), and across instances sharing PostgreSQL the
 * pass holds the advisory lock `writeback-outbox` (scheduler/job-lock.ts); when another instance
 * holds it the call is skipped as `held_elsewhere` — that instance's pass takes the rows.
 * Directory faults never escape: a connection that cannot be opened counts as a failed attempt
 * of every due row (pending, backed off, its error shown), like a fault in the middle of a pass.
 */

import type { WritableDirectoryConnection } from '../directory/connect.ts';
import { DirbridgeError } from '../errors.ts';
import type { Timestamp } from '../model/index.ts';
import { PRIMARY_DIRECTORY_ID } from '../model/writeback.ts';
import { createLocalJobLock, type JobLock, type SchedulerLog, silentLog } from '../scheduler/job-lock.ts';
import { createPostgresJobLock } from '../scheduler/postgres-lock.ts';
import { effectiveWriteBackMode, type Settings, type StoreSettings } from '../settings/schema.ts';
import type { Store } from '../store/store.ts';
import { backoffMs, type DeliveryResult, deliverDue } from './deliver.ts';

/** What one `runNow` did; `skipped` says why it delivered nothing. */
export type DeliveryRun = DeliveryResult & { skipped?: 'not_writable' | 'held_elsewhere' };

/** Delivers the outbox. */
export interface WriteBackDelivery {
  /** Delivers what is due now; never throws for directory faults (store faults do throw). */
  runNow(): Promise<DeliveryRun>;
}

/**
 * The lock name that makes delivery exclusive across instances. Not the scheduler job's name
 * (`writeback-delivery`): the scheduler holds that one around the tick that calls `runNow`.
 */
export const DELIVERY_LOCK_NAME = 'writeback-outbox';

/** What `createWriteBackDelivery` needs. */
export interface WriteBackDeliveryOptions {
  store: Store;
  /** The settings in force (read at each pass). */
  settings: () => Pick<Settings, 'users' | 'writeBack'>;
  /** Opens a writable connection bound as the service account; the delivery closes it. */
  openWritable: () => Promise<WritableDirectoryConnection>;
  now: () => Date;
  /** The lock shared by the instances (see `deliveryLockFor`); the delivery does not close it. */
  lock: JobLock;
  directoryId?: string;
  log?: SchedulerLog;
}

/** The delivery lock the store calls for: PostgreSQL advisory locks when instances share it, else in-process. */
export function deliveryLockFor(store: StoreSettings, log?: SchedulerLog): JobLock {
  if (store.url === undefined) return createLocalJobLock();
  return createPostgresJobLock(store.url, { applicationName: 'dirbridge-writeback', ...(log === undefined ? {} : { log }) });
}

const nothing = (): DeliveryResult => ({ done: 0, retrying: 0, failed: 0, conflicts: 0 });

/** The delivery, and what its owner waits for before closing the lock and the store. */
export interface OwnedWriteBackDelivery extends WriteBackDelivery {
  /** Resolves once no pass is running or queued. */
  idle(): Promise<void>;
}

/** Creates the delivery. */
export function createWriteBackDelivery(options: WriteBackDeliveryOptions): OwnedWriteBackDelivery {
  const { store, lock, now } = options;
  const directoryId = options.directoryId ?? PRIMARY_DIRECTORY_ID;
  const log = options.log ?? silentLog;
  let running: Promise<DeliveryRun> | undefined;
  let next: Promise<DeliveryRun> | undefined;

  /** Every due row counts one failed attempt with `error` and waits its backoff. */
  async function backOffDue(error: unknown): Promise<DeliveryResult> {
    const translated =
      error instanceof DirbridgeError
        ? { code: error.code, message: error.message }
        : { code: 'directory.unavailable', message: error instanceof Error ? error.message : String(error) };
    const rows = await store.writeBack.due(directoryId, now().toISOString() as Timestamp, 1_000);
    if (rows.length === 0) return nothing();
    await store.transaction(async (tx) => {
      for (const row of rows)
        await tx.writeBack.retryAt(row.id, new Date(now().getTime() + backoffMs(row.attempts + 1)).toISOString() as Timestamp, translated);
    });
    log.warn({ error: translated.message, rows: rows.length }, 'write-back delivery could not open a writable directory connection; the due rows wait');
    return { ...nothing(), retrying: rows.length };
  }

  async function pass(): Promise<DeliveryRun> {
    const settings = options.settings();
    if (effectiveWriteBackMode(settings.writeBack) !== 'writable') return { ...nothing(), skipped: 'not_writable' };
    const handle = await lock.tryAcquire(DELIVERY_LOCK_NAME);
    if (handle === null) return { ...nothing(), skipped: 'held_elsewhere' };
    try {
      // Nothing due: no connection opened (the tick runs every minute).
      if ((await store.writeBack.due(directoryId, now().toISOString() as Timestamp, 1)).length === 0) return nothing();
      let directory: WritableDirectoryConnection;
      try {
        directory = await options.openWritable();
      } catch (error) {
        return await backOffDue(error);
      }
      try {
        return await deliverDue(store, directory, { directoryId, settings, now, signal: handle.signal });
      } finally {
        await directory.close().catch(() => undefined);
      }
    } finally {
      await handle.release();
    }
  }

  function runNow(): Promise<DeliveryRun> {
    if (running === undefined) {
      running = pass().finally(() => {
        running = undefined;
      });
      return running;
    }
    // A pass is going: this call gets the one after it (shared by every call made meanwhile).
    next ??= running
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        return runNow();
      });
    return next;
  }

  async function idle(): Promise<void> {
    while (running !== undefined || next !== undefined) await Promise.allSettled([running, next]);
  }

  return { runNow, idle };
}
