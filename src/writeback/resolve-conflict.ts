/**
 * Who wins one field when dirbridge wants to write it. The baseline is the value both sides
 * agreed on when dirbridge last saw the entry; a side "changed" the field when its value differs
 * from the baseline. Only when both changed it, to different values, is there a conflict, and the
 * field's authority (`writeBack.authority`) decides; the loser's value is kept in the conflict
 * record so an administrator can still restore it. Pure.
 */
import type { WritableUserField, WriteBackSettings } from '../settings/schema.ts';

/** A field's value: null when absent. */
export type FieldValue = string | null;

/** A field's value as the attribute's values: none when it is absent or blank (the rule `resolveField` compares by). */
export function fieldValues(value: FieldValue | undefined): string[] {
  return value === null || value === undefined || value.trim() === '' ? [] : [value];
}

/** The loser of a conflict, kept for the administrator. */
export interface FieldConflict {
  field: string;
  winner: 'directory' | 'dirbridge';
  directoryValue: FieldValue;
  dirbridgeValue: FieldValue;
  baseline: FieldValue;
}

/** What to do with one field. */
export type FieldDecision =
  | { action: 'write' }
  | { action: 'none' }
  /** The directory's value stands; dirbridge's store should take it. */
  | { action: 'keepDirectory' };

/** The authority for `field`: its override, else the default. */
export function authorityOf(settings: Pick<WriteBackSettings, 'authority'>, field: string): 'directory' | 'dirbridge' {
  return settings.authority.fields[field as WritableUserField] ?? settings.authority.default;
}

/**
 * Decides one field. `desired` is dirbridge's new value, `current` the directory's value read
 * just now, `baseline` what both held when dirbridge last saw the entry.
 */
export function resolveField(
  field: string,
  values: { baseline: FieldValue; current: FieldValue; desired: FieldValue },
  authority: 'directory' | 'dirbridge',
): { decision: FieldDecision; conflict?: FieldConflict } {
  const { baseline, current, desired } = values;
  if (exactlySame(current, desired)) return { decision: { action: 'none' } };
  if (exactlySame(current, baseline)) return { decision: { action: 'write' } };
  const conflict = { field, winner: authority, directoryValue: current, dirbridgeValue: desired, baseline };
  return authority === 'dirbridge' ? { decision: { action: 'write' }, conflict } : { decision: { action: 'keepDirectory' }, conflict };
}

/** A case change is a change worth writing (a user fixing "smith" to "Smith"); only blanks are ignored. */
function exactlySame(a: FieldValue, b: FieldValue): boolean {
  return (a?.trim() ?? '') === (b?.trim() ?? '');
}
