/**
 * The deliverer: performs due outbox rows (store/writeback-repository.ts) on a writable directory
 * connection, in (action, seq) order. Retryable failures (server down, busy, timeout) back off
 * (5 s × 2^attempts, at most 15 min) and stay pending; permanent ones mark the row failed with the
 * translated error. Nothing is dropped.
 *
 * `addValues` / `deleteValues` go one value per modify: a value already there (20) or already gone
 * (16) counts as done (a server with referential integrity may have done it). `set {from, to}` is a
 * compare-and-swap: with the Assertion control (RootDSE) a replace asserting the attribute holds
 * exactly `from`; otherwise delete `from` + add `to` in one modify.
 *
 * A `set` whose `from` no longer holds fails (assertion_failed or no_such_value) and is kept as failed:
 * the conflict re-read and resolution (design: "Deliverer") is not done here yet.
 */
import { DirbridgeError } from '../errors.ts';
import { parseDn } from '../ldap/dn.ts';
import { and, eq, not, present, type Filter } from '../ldap/filter.ts';
import type { OutboxRecord, Timestamp } from '../model/index.ts';
import type { WritableDirectoryConnection } from '../directory/connect.ts';
import { ASSERTION_OID } from '../directory/controls/assertion.ts';
import { supportsControl } from '../directory/controls/supported.ts';
import { addValues, deleteValues, replaceValues } from '../directory/modifications.ts';
import { isRetryableDirectoryError } from '../directory/translate-error.ts';
import type { Store } from '../store/store.ts';
import type { AttributeChange, DirectoryChange } from './directory-change.ts';

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
}

function hasCode(error: unknown, code: string): boolean {
  return error instanceof DirbridgeError && error.code === code;
}

/** The filter "attribute holds exactly `values`" (absent when empty). */
function holdsExactly(attribute: string, values: readonly string[]): Filter {
  if (values.length === 0) return not(present(attribute));
  // Every value present and no other: counted by the server is not possible in a filter, so the
  // assertion names each value; the replace then writes `to` whole.
  const [first, ...rest] = values.map((value) => eq(attribute, value));
  return rest.length === 0 ? first! : and(first!, ...rest);
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
      if (useAssertion) {
        await directory.modify(dn, [replaceValues(change.attribute, change.to)], { assertion: holdsExactly(change.attribute, change.from) });
        return;
      }
      await directory.modify(dn, [
        ...(change.from.length === 0 ? [] : [deleteValues(change.attribute, change.from)]),
        ...(change.to.length === 0 ? [] : [addValues(change.attribute, change.to)]),
      ]);
      return;
  }
}

/** Performs one DirectoryChange. */
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
      await directory.modifyDn(change.dn, { rdn, ...(change.newParent === undefined ? {} : { parent: change.newParent }) });
      return;
    }
    case 'delete':
      await directory.delete(change.dn);
      return;
  }
}

/**
 * Delivers due rows of `directoryId` at `now` until none is left that may go (a row becomes due
 * once the one before it in its action is done, so an action goes through in one call); each
 * row's outcome is stored at once. `limit` bounds the rows read per pass.
 */
export async function deliverDue(store: Store, directory: WritableDirectoryConnection, input: { directoryId: string; now: () => Date; limit?: number }): Promise<DeliveryResult> {
  const result: DeliveryResult = { done: 0, retrying: 0, failed: 0 };
  const blocked = new Set<string>();
  for (;;) {
    const rows: OutboxRecord[] = await store.writeBack.due(input.directoryId, input.now().toISOString() as Timestamp, input.limit ?? 100);
    const ready = rows.filter((row) => !blocked.has(row.actionId));
    if (ready.length === 0) return result;
    for (const row of ready) {
      // A row whose earlier row failed in this call waits for a later one.
      if (blocked.has(row.actionId)) continue;
      try {
        await applyDirectoryChange(directory, row.change);
        await store.transaction((tx) => tx.writeBack.markDone(row.id));
        result.done += 1;
      } catch (error) {
        blocked.add(row.actionId);
        const translated = error instanceof DirbridgeError ? { code: error.code, message: error.message } : { code: 'internal', message: String(error) };
        if (isRetryableDirectoryError(error)) {
          const at = new Date(input.now().getTime() + backoffMs(row.attempts + 1)).toISOString();
          await store.transaction((tx) => tx.writeBack.retryAt(row.id, at, translated));
          result.retrying += 1;
        } else {
          await store.transaction((tx) => tx.writeBack.markFailed(row.id, translated));
          result.failed += 1;
        }
      }
    }
  }
}
