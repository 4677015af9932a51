/**
 * The directory entry shape every layer after `directory/` sees: a DN and attributes whose
 * names are lower-cased and whose values are strings, or Buffers for binary attributes.
 */

/** One attribute value: text, or raw bytes for binary attributes (objectGUID, jpegPhoto, ...). */
export type AttributeValue = string | Buffer;

/** A normalised directory entry; attribute names are lower-case and never map to an empty list. */
export interface DirectoryEntry {
  dn: string;
  attributes: Record<string, AttributeValue[]>;
}

function valuesOf(entry: DirectoryEntry, attribute: string): AttributeValue[] {
  return entry.attributes[attribute.toLowerCase()] ?? [];
}

/** The first value of `attribute` as text (Buffers decoded as UTF-8), or undefined when absent. */
export function firstString(entry: DirectoryEntry, attribute: string): string | undefined {
  const value = valuesOf(entry, attribute)[0];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.toString('utf8');
}

/** Every value of `attribute` as text (Buffers decoded as UTF-8); empty when absent. */
export function allStrings(entry: DirectoryEntry, attribute: string): string[] {
  return valuesOf(entry, attribute).map((value) => (typeof value === 'string' ? value : value.toString('utf8')));
}

/** The first value of `attribute` as bytes (strings encoded as UTF-8), or undefined when absent. */
export function firstBuffer(entry: DirectoryEntry, attribute: string): Buffer | undefined {
  const value = valuesOf(entry, attribute)[0];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

/** True when the entry holds at least one value for `attribute` (name compared case-insensitively). */
export function hasAttribute(entry: DirectoryEntry, attribute: string): boolean {
  return valuesOf(entry, attribute).length > 0;
}
