/**
 * The deliverer: performs due outbox rows (store/writeback-repository.ts) on a writable directory
 * connection, in (action, seq) order. Retryable failures (server down, busy, timeout) back off
 * (5 s × 2^attempts, at most 15 min) and stay pending; permanent ones mark the row failed with the
 * translated error. Nothing is dropped.
 *
 * `addValues` / `deleteValues` go one value per modify: a value already there (20) or already gone
 * (16) counts as done (a server with referential integrity may have done it); so does a delete of
 * an entry already gone, and a rename or move whose entry is already at its new DN (a row
 * delivered by a process that stopped before recording it). `set {from, to}` is a
 * compare-and-swap (deliver-set.ts); when `from` no longer holds, the attribute is read again and
 * the conflict settled by `writeBack.authority`: dirbridge's value is written over the new one, or
 * the directory's stands (the row is done with a note, dirbridge's store takes the value); either
 * way the conflict is recorded and audited (settle-set.ts). A user field's baseline goes once its
 * `set` is delivered.
 */

import type { WritableDirectoryConnection } from '../directory/connect.ts';
import { ASSERTION_OID } from '../directory/controls/assertion.ts';
import { supportsControl } from '../directory/controls/supported.ts';
import { addValues, deleteValues } from '../directory/modifications.ts';
import { isRetryableDirectoryError } from '../directory/translate-error.ts';
import { DirbridgeError } from '../errors.ts';
import { parseDn } from '../ldap/dn.ts';
import type { OutboxRecord, Timestamp } from '../model/index.ts';
import type { Store, StoreWriter } from '../store/store.ts';
import { ChangedDuringDelivery, type ConflictSettings, deliverSet, type SettledSet, swap } from './deliver-set.ts';
import { type AttributeChange, type DirectoryChange, dnAfter } from './directory-change.ts';
import { type RowNote, settleSets } from './settle-set.ts';

const BASE_BACKOFF_MS = 5_000;
const MAX_BACKOFF_MS = 15 * 60_000;

/** The wait before the next attempt after `attempts` failed ones (the one just failed included). */
export function backoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.max(0, attempts - 1));
}

/** What one delivery pass did. */
export interface DeliveryResult {
  done: number;
  retrying: number;
  failed: number;
  /** Conflicts recorded (a `set` whose `from` no longer held and whose field both sides changed). */
  conflicts: number;
}

function hasCode(error: unknown, code: string): boolean {
  return error instanceof DirbridgeError && error.code === code;
}

async function applyAttributeChange(directory: WritableDirectoryConnection, dn: string, change: AttributeChange, useAssertion: boolean): Promise<void> {
  switch (change.kind) {
    case 'addValues':
      for (const value of change.values) {
        try {
          await directory.modify(dn, [addValues(change.attribute, [value])]);
        } catch (error) {
          if (!hasCode(error, 'directory.value_exists')) throw error;
        }
      }
      return;
    case 'deleteValues':
      for (const value of change.values) {
        try {
          await directory.modify(dn, [deleteValues(change.attribute, [value])]);
        } catch (error) {
          if (!hasCode(error, 'directory.no_such_value')) throw error;
        }
      }
      return;
    case 'set':
      await swap(directory, dn, change, useAssertion);
      return;
  }
}

/** Performs one DirectoryChange; a `set` is a bare compare-and-swap here (settling its conflict is `deliverDue`'s). */
export async function applyDirectoryChange(directory: WritableDirectoryConnection, change: DirectoryChange): Promise<void> {
  switch (change.kind) {
    case 'add':
      await directory.add(change.dn, change.attributes);
      return;
    case 'modify': {
      const useAssertion = supportsControl(directory.rootDse, ASSERTION_OID);
      for (const attributeChange of change.changes) await applyAttributeChange(directory, change.dn, attributeChange, useAssertion);
      return;
    }
    case 'modifyDn': {
      const [rdn, ...rest] = parseDn(change.newRdn);
      if (rdn === undefined || rest.length > 0) throw new DirbridgeError('usage.invalid', `newRdn must be one RDN, got "${change.newRdn}"`);
      try {
        await directory.modifyDn(change.dn, { rdn, ...(change.newParent === undefined ? {} : { parent: change.newParent }) });
      } catch (error) {
        // Delivered before, but not recorded (the process stopped in between): the entry is where it should be.
        if (!hasCode(error, 'directory.no_such_object') || !(await entryExists(directory, dnAfter(change) ?? ''))) throw error;
      }
      return;
    }
    case 'delete':
      try {
        await directory.delete(change.dn);
      } catch (error) {
        // Already gone (delivered before without being recorded, or deleted by someone else): what the row asks holds.
        if (!hasCode(error, 'directory.no_such_object')) throw error;
      }
      return;
  }
}

/** Whether an entry is at `dn`. */
async function entryExists(directory: WritableDirectoryConnection, dn: string): Promise<boolean> {
  try {
    return (await directory.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'], maxEntries: 1 })).length === 1;
  } catch (error) {
    if (hasCode(error, 'directory.no_such_object')) return false;
    throw error;
  }
}

/**
 * Performs one row's change, settling each `set` (deliver-set.ts); the `set`s settled before a
 * failure are pushed to `settled` all the same, so their outcome is kept with the failure.
 */
async function deliverRow(directory: WritableDirectoryConnection, row: OutboxRecord, settings: ConflictSettings, settled: SettledSet[]): Promise<void> {
  const change = row.change;
  if (change.kind !== 'modify') {
    await applyDirectoryChange(directory, change);
    return;
  }
  const useAssertion = supportsControl(directory.rootDse, ASSERTION_OID);
  for (const attributeChange of change.changes) {
    if (attributeChange.kind === 'set')
      settled.push(await deliverSet(directory, { dn: change.dn, change: attributeChange, objectKind: row.objectKind, useAssertion, settings }));
    else await applyAttributeChange(directory, change.dn, attributeChange, useAssertion);
  }
}

/** Whether a row that failed with `error` may succeed later (it then stays pending). */
function isRetryable(error: unknown): boolean {
  return isRetryableDirectoryError(error) || error instanceof ChangedDuringDelivery;
}

/** The input of `deliverDue`. */
export interface DeliverDueInput {
  directoryId: string;
  /** The read mapping (which user field an attribute is) and `writeBack.authority` (who wins a conflict). */
  settings: ConflictSettings;
  now: () => Date;
  /** Rows read per pass (default 100). */
  limit?: number;
  /** Stops before the next row once aborted (the delivery lock was lost: another instance delivers now). */
  signal?: AbortSignal;
}

/** Stores a row's outcome: done (with the note of its settled `set`s), pending again later, or failed. */
async function closeRow(tx: StoreWriter, row: OutboxRecord, failure: unknown, note: RowNote | undefined, now: Date): Promise<'done' | 'retrying' | 'failed'> {
  if (failure === undefined) {
    await tx.writeBack.markDone(row.id, note);
    return 'done';
  }
  const translated =
    failure instanceof DirbridgeError || failure instanceof ChangedDuringDelivery
      ? { code: failure.code, message: failure.message }
      : { code: 'internal', message: String(failure) };
  if (isRetryable(failure)) {
    await tx.writeBack.retryAt(row.id, new Date(now.getTime() + backoffMs(row.attempts + 1)).toISOString() as Timestamp, translated);
    return 'retrying';
  }
  await tx.writeBack.markFailed(row.id, translated);
  return 'failed';
}

/**
 * Delivers due rows of `directoryId` at `now` until none is left that may go (a row becomes due
 * once the one before it in its action is done, so an action goes through in one call); each
 * row's outcome is stored at once, with the conflicts it settled. Directory faults never escape:
 * they are the rows' outcome. Store faults do.
 */
export async function deliverDue(store: Store, directory: WritableDirectoryConnection, input: DeliverDueInput): Promise<DeliveryResult> {
  const result: DeliveryResult = { done: 0, retrying: 0, failed: 0, conflicts: 0 };
  const blocked = new Set<string>();
  for (;;) {
    const rows: OutboxRecord[] = await store.writeBack.due(input.directoryId, input.now().toISOString() as Timestamp, input.limit ?? 100);
    const ready = rows.filter((row) => !blocked.has(row.actionId));
    if (ready.length === 0) return result;
    for (const row of ready) {
      if (input.signal?.aborted === true) return result;
      // A row whose earlier row failed in this call waits for a later one.
      if (blocked.has(row.actionId)) continue;
      const settled: SettledSet[] = [];
      let failure: unknown;
      try {
        await deliverRow(directory, row, input.settings, settled);
      } catch (error) {
        failure = error;
      }
      const { outcome, conflicts } = await store.transaction(async (tx) => {
        const { conflicts, note } = await settleSets(tx, row, settled);
        return { outcome: await closeRow(tx, row, failure, note, input.now()), conflicts };
      });
      result[outcome] += 1;
      result.conflicts += conflicts;
      if (outcome !== 'done') blocked.add(row.actionId);
    }
  }
}
