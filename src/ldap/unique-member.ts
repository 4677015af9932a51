/**
 * `uniqueMember` values (RFC 4517 Name And Optional UID, `uid=a,ou=people,dc=x#'0101'B`) and the
 * rule dirbridge applies to them everywhere: RFC 4517 uniqueMemberMatch. A value without a UID
 * names the entry at that DN; a value with a UID names the entry at that DN only while the entry's
 * `x500UniqueIdentifier` holds that bit string (the UID tells a re-created entry from the one the
 * group listed). Measured on slapd 2.5 and 389-DS 2.3, with and without an equality index:
 * `(uniqueMember=<dn>)` matches only values without a UID, `(uniqueMember=<dn>#'0101'B)` only
 * values with exactly that UID (`'101'B` is another bit string). So a login asks for `<dn>` and
 * `<dn>#<uid>` for each of the user's unique identifiers, and the sync counts exactly those values.
 * Pure, no I/O.
 */
import { DirbridgeError } from '../errors.ts';
import { normalizeDn } from './dn.ts';
import type { DirectoryEntry } from './entry.ts';

/** The attribute holding an entry's unique identifiers (bit strings, RFC 4519). */
export const UNIQUE_IDENTIFIER_ATTRIBUTE = 'x500UniqueIdentifier';

/** A `uniqueMember` value split into its DN and its optional UID (the bits of the bit string). */
export interface NameAndOptionalUid {
  dn: string;
  /** `0101` for `#'0101'B`; undefined when the value has no UID. */
  uid?: string;
}

const TRAILING_UID = /#'([01]*)'B\s*$/;
const BIT_STRING = /^\s*'([01]*)'B\s*$/;

/** The bits of an RFC 4517 bit string (`'0101'B` → `0101`), or undefined when the text is not one. */
export function parseBitString(text: string): string | undefined {
  return BIT_STRING.exec(text)?.[1];
}

/**
 * Splits a `uniqueMember` value: the UID is the bit string after the last unescaped `#`, as slapd
 * and 389-DS read it. A value without one is all DN.
 */
export function splitUniqueMember(value: string): NameAndOptionalUid {
  const match = TRAILING_UID.exec(value);
  if (match === null || match[1] === undefined) return { dn: value };
  // `\#` is an escaped character of the DN's last value, not the separator.
  let backslashes = 0;
  for (let index = match.index - 1; index >= 0 && value[index] === '\\'; index -= 1) backslashes += 1;
  if (backslashes % 2 === 1) return { dn: value };
  return { dn: value.slice(0, match.index), uid: match[1] };
}

/** The `uniqueMember` value naming `dn` with the unique identifier `uid` (bits only, `0101`). */
export function uniqueMemberValue(dn: string, uid: string): string {
  if (!/^[01]*$/.test(uid)) throw new DirbridgeError('directory.invalid_filter', `${JSON.stringify(uid)} is not a bit string`, { details: { uid } });
  return `${dn}#'${uid}'B`;
}

/**
 * The key under which a member reference is matched: the canonical DN, followed for a UID by a
 * separator no canonical DN contains and the bits. Entries are indexed under `memberKey(dn)` and
 * `memberKey(dn, uid)` for each of their unique identifiers. Throws `directory.invalid_dn` when
 * the DN part is not a DN.
 */
export function memberKey(dn: string, uid?: string): string {
  const key = normalizeDn(dn);
  return uid === undefined ? key : `${key}\u0000${uid}`;
}

/** The key of a `uniqueMember` value (see `memberKey`). */
export function uniqueMemberKey(value: string): string {
  const { dn, uid } = splitUniqueMember(value);
  return memberKey(dn, uid);
}

/** RFC 4517 uniqueMemberMatch: the DNs match and the UIDs are both absent or both present and equal. */
export function uniqueMemberEquals(a: string, b: string): boolean {
  const left = splitUniqueMember(a);
  const right = splitUniqueMember(b);
  if (left.uid !== right.uid) return false;
  return normalizeDn(left.dn) === normalizeDn(right.dn);
}

/** The entry's unique identifiers as bits, in order, without duplicates; values that are not bit strings are ignored. */
export function uniqueIdentifiersOf(entry: DirectoryEntry): string[] {
  const found: string[] = [];
  for (const value of entry.attributes[UNIQUE_IDENTIFIER_ATTRIBUTE.toLowerCase()] ?? []) {
    const bits = typeof value === 'string' ? parseBitString(value) : undefined;
    if (bits !== undefined && !found.includes(bits)) found.push(bits);
  }
  return found;
}
