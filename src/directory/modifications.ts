/**
 * The changes of a modify request, and the least change between two value sets: one `member`
 * value added or deleted, never the whole list replaced. `replace` is only ever used where a
 * caller asks for it (single-valued attributes such as `userAccountControl`).
 */
import { DirbridgeError } from '../errors.ts';

/** One attribute value: text, or bytes for binary attributes (`unicodePwd`, `jpegPhoto`). */
export type AttributeValue = string | Buffer;

/** One change of a modify request (RFC 4511 section 4.6). */
export interface Modification {
  operation: 'add' | 'delete' | 'replace';
  attribute: string;
  /** For `delete`, `[]` deletes the whole attribute; for `replace`, `[]` removes it (if present). */
  values: readonly AttributeValue[];
}

/** An attribute description: a name or OID, optionally with options (`member;range=0-1499` is not one: ranges are read-only). */
const ATTRIBUTE = /^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*$/;

/** Throws `usage.invalid` unless `name` is a valid attribute description. */
export function checkAttributeName(name: string): string {
  if (!ATTRIBUTE.test(name) || /;range=/i.test(name)) {
    throw new DirbridgeError('usage.invalid', `not a writable attribute name: ${JSON.stringify(name)}`, { details: { attribute: name } });
  }
  return name;
}

/** Adds `values` to `attribute` (the others stay as they are). */
export function addValues(attribute: string, values: readonly AttributeValue[]): Modification {
  return { operation: 'add', attribute: checkAttributeName(attribute), values };
}

/** Deletes exactly `values` from `attribute` (the others stay as they are). */
export function deleteValues(attribute: string, values: readonly AttributeValue[]): Modification {
  return { operation: 'delete', attribute: checkAttributeName(attribute), values };
}

/** Replaces every value of `attribute` with `values` (`[]` removes the attribute). Use only where asked. */
export function replaceValues(attribute: string, values: readonly AttributeValue[]): Modification {
  return { operation: 'replace', attribute: checkAttributeName(attribute), values };
}

function same(a: AttributeValue, b: AttributeValue): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a === b;
  return Buffer.from(a).equals(Buffer.from(b));
}

/**
 * The least change that turns `current` into `desired`: a delete of the values that go and an add
 * of the values that come (either omitted when empty); `[]` when nothing changes. `key` decides
 * which values are the same (pass `normalizeDn` for DN-valued attributes such as `member`).
 */
export function valueChanges(
  attribute: string,
  current: readonly AttributeValue[],
  desired: readonly AttributeValue[],
  key?: (value: string) => string,
): Modification[] {
  const keyOf = (value: AttributeValue): AttributeValue => (key !== undefined && typeof value === 'string' ? key(value) : value);
  const has = (values: readonly AttributeValue[], value: AttributeValue): boolean => values.some((other) => same(keyOf(other), keyOf(value)));
  const gone = current.filter((value) => !has(desired, value));
  const come = desired.filter((value, index) => !has(current, value) && !has(desired.slice(0, index), value));
  const changes: Modification[] = [];
  if (gone.length > 0) changes.push(deleteValues(attribute, gone));
  if (come.length > 0) changes.push(addValues(attribute, come));
  return changes;
}
