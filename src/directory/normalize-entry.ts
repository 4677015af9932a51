/**
 * Entries are normalised where they leave ldapts: lower-cased attribute names, string values, and
 * Buffers for binary attributes. ldapts returns a value as a string whenever its bytes happen to be
 * valid UTF-8 unless the attribute is listed in `explicitBufferAttributes`, which it compares
 * case-sensitively; `bufferAttributeNames` therefore lists every spelling we might see.
 */
import type { Entry } from 'ldapts';
import type { AttributeValue, DirectoryEntry } from '../ldap/entry.ts';
import { formatObjectGuid, formatObjectSid } from '../ldap/guid.ts';

/** Attributes whose values are always binary, in their schema spelling. */
export const BINARY_ATTRIBUTES: readonly string[] = [
  'objectGUID',
  'objectSid',
  'sIDHistory',
  'tokenGroups',
  'mS-DS-ConsistencyGuid',
  'msExchMailboxGuid',
  'jpegPhoto',
  'thumbnailPhoto',
  'photo',
  'audio',
  'userCertificate',
  'cACertificate',
  'userSMIMECertificate',
  'userPKCS12',
];

const BINARY_LOWER = new Set(BINARY_ATTRIBUTES.map((name) => name.toLowerCase()));
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function baseName(attribute: string): string {
  return (attribute.split(';')[0] ?? attribute).toLowerCase();
}

/** True when `attribute` (any case, with or without options) holds binary values. */
export function isBinaryAttribute(attribute: string, extra: readonly string[] = []): boolean {
  const name = baseName(attribute);
  return BINARY_LOWER.has(name) || extra.some((other) => other.toLowerCase() === name);
}

/** Every spelling of the binary attributes to pass as ldapts's `explicitBufferAttributes`. */
export function bufferAttributeNames(requested: readonly string[], extra: readonly string[] = []): string[] {
  const names = new Set<string>();
  for (const name of [...BINARY_ATTRIBUTES, ...extra]) {
    names.add(name);
    names.add(name.toLowerCase());
    names.add(name.toUpperCase());
  }
  for (const name of requested) {
    if (isBinaryAttribute(name, extra)) names.add(name);
  }
  return [...names];
}

function toValue(value: string | Buffer, binary: boolean): AttributeValue {
  if (binary) return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (typeof value === 'string') return value;
  try {
    return utf8.decode(value);
  } catch {
    return value;
  }
}

/** Converts an ldapts entry into a DirectoryEntry (lower-case names, no empty attributes, Buffers for binary). */
export function normalizeEntry(raw: Entry, extraBinary: readonly string[] = []): DirectoryEntry {
  const attributes: Record<string, AttributeValue[]> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'dn') continue;
    const name = key.toLowerCase();
    const binary = isBinaryAttribute(name, extraBinary);
    const values = (Array.isArray(value) ? value : [value]).map((item) => toValue(item, binary));
    if (values.length === 0) continue;
    attributes[name] = [...(attributes[name] ?? []), ...values];
  }
  return { dn: raw.dn, attributes };
}

/**
 * The unique id of an entry as text: objectGUID formatted as a GUID, objectSid as `S-1-...`, any
 * other binary value as lower-case hex, text values as they are. Undefined when the entry lacks it.
 */
export function uniqueIdOf(entry: DirectoryEntry, attribute: string): string | undefined {
  const name = attribute.toLowerCase();
  const value = entry.attributes[name]?.[0];
  if (value === undefined) return undefined;
  if (typeof value === 'string') {
    return name === 'objectguid' || name === 'objectsid' ? uniqueIdOf({ dn: entry.dn, attributes: { [name]: [Buffer.from(value, 'utf8')] } }, name) : value;
  }
  if (name === 'objectguid' && value.length === 16) return formatObjectGuid(value);
  if (name === 'objectsid') {
    try {
      return formatObjectSid(value);
    } catch {
      return value.toString('hex');
    }
  }
  return value.toString('hex');
}
