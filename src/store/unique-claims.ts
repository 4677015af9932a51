/**
 * Planning for writes to unique columns (usernames, external ids): finds genuine conflicts
 * and the rows whose current value must be parked first so values can rotate among the
 * rows of one batch (A→B, B→A) without tripping the unique index mid-statement.
 */
import { DirbridgeError } from '../errors.ts';

/** A row that wants a value of a unique column. */
export interface UniqueClaim {
  /** The claiming row (for inserts, the id it will get). */
  id: string;
  /** The value as the unique index sees it (e.g. the lower-cased username key). */
  value: string;
  /** The value as shown to people in a conflict error (e.g. the username as typed). */
  label: string;
}

/** A row currently holding a value of the unique column. */
export interface UniqueHolder {
  id: string;
  value: string;
}

/**
 * Returns the ids of holders that must be parked before the claims are written; throws
 * `store.conflict` naming the value when two claims collide or a claim hits a holder that
 * keeps its value. `movingIds` are the rows whose value this batch changes (including to null).
 */
export function planUniqueClaims(field: string, claims: readonly UniqueClaim[], holders: readonly UniqueHolder[], movingIds: ReadonlySet<string>): string[] {
  const claimByValue = new Map<string, UniqueClaim>();
  for (const claim of claims) {
    const earlier = claimByValue.get(claim.value);
    if (earlier !== undefined && earlier.id !== claim.id) throw conflict(field, claim.label);
    claimByValue.set(claim.value, claim);
  }
  const park: string[] = [];
  for (const holder of holders) {
    const claim = claimByValue.get(holder.value);
    if (claim === undefined || claim.id === holder.id) continue;
    if (!movingIds.has(holder.id)) throw conflict(field, claim.label);
    park.push(holder.id);
  }
  return park;
}

/** The `store.conflict` error for a taken value. */
export function conflict(field: string, label: string): DirbridgeError {
  return new DirbridgeError('store.conflict', `${field} "${label}" is already taken`, { details: { field, value: label } });
}
