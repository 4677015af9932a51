/**
 * Delivers one `set {attribute, from, to}` — a compare-and-swap — and settles it when `from` no
 * longer holds (someone changed the attribute in the directory since dirbridge planned the write):
 * the attribute is read again; when it already holds `to` the write is done; otherwise the field's
 * authority (`writeBack.authority`, through `resolveField`) decides. When dirbridge wins the swap
 * is tried once more against the values read; when the directory wins its value stands. The
 * store side of the outcome (conflict record, audit, dirbridge's store following the directory,
 * baselines) is `settle-set.ts`'s.
 */

import type { WritableDirectoryConnection } from '../directory/connect.ts';
import { addValues, deleteValues, replaceValues } from '../directory/modifications.ts';
import { DirbridgeError, isDirbridgeError } from '../errors.ts';
import { allStrings } from '../ldap/entry.ts';
import { and, eq, type Filter, not, present } from '../ldap/filter.ts';
import type { WriteBackObjectKind } from '../model/index.ts';
import { type UserSettings, WRITABLE_USER_FIELDS, type WritableUserField, type WriteBackSettings } from '../settings/schema.ts';
import type { AttributeChange } from './directory-change.ts';
import { attributeOfField } from './plan-user-writes.ts';
import { readEntry } from './read-targets.ts';
import { authorityOf, type FieldConflict, resolveField } from './resolve-conflict.ts';

/** A `set` change. */
export type SetChange = Extract<AttributeChange, { kind: 'set' }>;

/** What the deliverer needs to decide a conflict: the read mapping and the write-back settings. */
export interface ConflictSettings {
  users: UserSettings;
  writeBack: WriteBackSettings;
}

/** How one `set` ended. `field` is the user field the attribute maps to (user rows only). */
export type SettledSet = { change: SetChange; field: WritableUserField | undefined } & SetOutcome;

/** What became of one `set`'s value. */
type SetOutcome =
  /** Written as planned, or the directory already held `to`. */
  | { outcome: 'written' }
  /** Written over a value changed in the directory meanwhile (dirbridge's authority). */
  | { outcome: 'dirbridgeWon'; conflict: FieldConflict; overwritten: string[] }
  /** Not written: the directory's value (`current`) stands (the directory's authority). */
  | { outcome: 'directoryKept'; conflict: FieldConflict; current: string[] };

/** A swap that lost twice in one pass (the attribute keeps moving): the row waits, pending, for the next pass. */
export class ChangedDuringDelivery extends Error {
  readonly code = 'writeback.changed_during_delivery';
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'ChangedDuringDelivery';
  }
}

/** The failures that mean "`from` no longer holds". */
const SWAP_FAILURES = ['directory.assertion_failed', 'directory.no_such_value', 'directory.value_exists'] as const;

/** The filter "attribute holds `values`" (absent when empty). */
function holdsExactly(attribute: string, values: readonly string[]): Filter {
  // Every value present and no other: counted by the server is not possible in a filter, so the
  // assertion names each value; the replace then writes `to` whole.
  const [first, ...rest] = values.map((value) => eq(attribute, value));
  if (first === undefined) return not(present(attribute));
  return rest.length === 0 ? first : and(first, ...rest);
}

/** The compare-and-swap: with the Assertion control a replace asserting `from`, else delete `from` + add `to` in one modify. */
export async function swap(directory: WritableDirectoryConnection, dn: string, change: SetChange, useAssertion: boolean): Promise<void> {
  if (useAssertion) {
    await directory.modify(dn, [replaceValues(change.attribute, change.to)], { assertion: holdsExactly(change.attribute, change.from) });
    return;
  }
  await directory.modify(dn, [
    ...(change.from.length === 0 ? [] : [deleteValues(change.attribute, change.from)]),
    ...(change.to.length === 0 ? [] : [addValues(change.attribute, change.to)]),
  ]);
}

/** The user field read from `attribute`, for user rows; undefined for any other attribute (account state, groups). */
export function fieldOfAttribute(objectKind: WriteBackObjectKind, users: UserSettings, attribute: string): WritableUserField | undefined {
  if (objectKind !== 'user') return undefined;
  return WRITABLE_USER_FIELDS.find((field) => attributeOfField(users, field).toLowerCase() === attribute.toLowerCase());
}

/** The attribute's values as the directory holds them now (a base search on `dn`). */
async function readValues(directory: WritableDirectoryConnection, dn: string, attribute: string): Promise<string[]> {
  const entry = await readEntry(directory, dn, [attribute]);
  if (entry === undefined) throw new DirbridgeError('directory.no_such_object', `the entry ${dn} is gone; its ${attribute} cannot be written`);
  return allStrings(entry, attribute);
}

/** The same values, in any order (an attribute's values are a set). */
export function sameValues(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sorted = [...b].sort();
  return [...a].sort().every((value, index) => value === sorted[index]);
}

/**
 * Delivers `change` on `dn` and says how it ended; throws directory errors as they come, and
 * `writeback.changed_during_delivery` when the retried swap lost too (the attribute keeps moving).
 */
export async function deliverSet(
  directory: WritableDirectoryConnection,
  input: { dn: string; change: SetChange; objectKind: WriteBackObjectKind; useAssertion: boolean; settings: ConflictSettings },
): Promise<SettledSet> {
  const { dn, change, useAssertion, settings } = input;
  const field = fieldOfAttribute(input.objectKind, settings.users, change.attribute);
  try {
    await swap(directory, dn, change, useAssertion);
    return { change, field, outcome: 'written' };
  } catch (error) {
    if (!isDirbridgeError(error, ...SWAP_FAILURES)) throw error;
  }
  const current = await readValues(directory, dn, change.attribute);
  if (sameValues(current, change.to)) return { change, field, outcome: 'written' };
  const authority = field === undefined ? settings.writeBack.authority.default : authorityOf(settings.writeBack, field);
  const { decision, conflict } = resolveField(
    field ?? change.attribute,
    { baseline: change.from[0] ?? null, current: current[0] ?? null, desired: change.to[0] ?? null },
    authority,
  );
  // Only blanks or further values differ: what dirbridge meant is there.
  if (decision.action === 'none') return { change, field, outcome: 'written' };
  // biome-ignore lint/style/noNonNullAssertion: resolveField returns a conflict with every keepDirectory decision
  if (decision.action === 'keepDirectory') return { change, field, outcome: 'directoryKept', conflict: conflict!, current };
  try {
    await swap(directory, dn, { ...change, from: current }, useAssertion);
  } catch (error) {
    if (!isDirbridgeError(error, ...SWAP_FAILURES)) throw error;
    throw new ChangedDuringDelivery(`${change.attribute} of ${dn} changed again while dirbridge was writing it; the write waits for the next delivery`, {
      cause: error,
    });
  }
  // No conflict: the directory's value differed from `from` only beyond the first value, or in blanks.
  if (conflict === undefined) return { change, field, outcome: 'written' };
  return { change, field, outcome: 'dirbridgeWon', conflict, overwritten: current };
}
