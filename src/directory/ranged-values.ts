/**
 * Ranged attribute retrieval (Active Directory, MS-ADTS 3.1.1.3.1.3.3).
 *
 * AD returns at most MaxValRange values (1500 by default) of a multi-valued attribute in one
 * response. A group with more members comes back as `member;range=0-1499` and no plain `member`;
 * the rest must be asked for, one range at a time, with `member;range=1500-*` and so on until a
 * range ends in `*`. A reader that ignored this would see such a group as empty and take its
 * members out of it. Here the ranges are fetched and folded into the plain attribute name, so every
 * layer after `directory/` sees whole values; a range that does not follow on from the previous one
 * throws. Ranges are by position, not a snapshot: values removed between two requests shift the
 * rest down, so a value can be missed for one run (the next run reads it again); values added
 * meanwhile are read later. A whenChanged re-check around the reads would close that gap.
 */
import { DirbridgeError } from '../errors.ts';
import type { AttributeValue, DirectoryEntry } from '../ldap/entry.ts';

/** A ranged attribute name, parsed: `member;range=0-1499` → base `member`, 0 to 1499. */
export interface RangedName {
  /** The attribute name without the range option, lower-case, with any other options kept. */
  base: string;
  start: number;
  /** The last index in this response, or null for `*` (this response holds the last value). */
  end: number | null;
}

const RANGE_OPTION = /^range=(\d+)-(\d+|\*)$/i;

/** Parses an attribute name carrying a `range=` option; null for any other name. */
export function parseRangedName(name: string): RangedName | null {
  const parts = name.toLowerCase().split(';');
  const index = parts.findIndex((part, position) => position > 0 && RANGE_OPTION.test(part));
  if (index < 0) return null;
  const match = RANGE_OPTION.exec(parts[index] ?? '');
  if (match === null) return null;
  const start = Number(match[1]);
  const end = match[2] === '*' ? null : Number(match[2]);
  if (!Number.isSafeInteger(start) || (end !== null && (!Number.isSafeInteger(end) || end < start))) return null;
  const base = parts.filter((_, position) => position !== index).join(';');
  return { base, start, end };
}

/** True when the entry holds any ranged attribute (whole or not): it must go through `completeRangedValues`. */
export function hasRangedValues(entry: DirectoryEntry): boolean {
  return Object.keys(entry.attributes).some((name) => parseRangedName(name) !== null);
}

/**
 * Asks the directory for the attribute `request` (such as `member;range=1500-*`) of the entry at
 * `dn` alone; resolves to the entry, or undefined when the server returned none.
 */
export type FetchRange = (dn: string, request: string) => Promise<DirectoryEntry | undefined>;

/** Upper bound on follow-up requests per attribute: with 1500 values a range, 15 million values. */
const MAX_ROUNDS = 10_000;

/**
 * Returns the entry with every ranged attribute fetched in full and stored under its base name
 * (merged with plain values of that name, should the server send both). Entries without ranged
 * attributes come back unchanged. Throws `directory.protocol` when a range is missing, repeats,
 * leaves a gap or holds fewer values than its bounds name: the values may have changed between
 * requests, and a guess would lose members.
 */
export async function completeRangedValues(entry: DirectoryEntry, fetchRange: FetchRange): Promise<DirectoryEntry> {
  const attributes: Record<string, AttributeValue[]> = {};
  const ranged: Array<{ name: string; range: RangedName; values: AttributeValue[] }> = [];
  for (const [name, values] of Object.entries(entry.attributes)) {
    const range = parseRangedName(name);
    if (range === null) attributes[name] = [...(attributes[name] ?? []), ...values];
    else ranged.push({ name, range, values });
  }
  if (ranged.length === 0) return entry;

  for (const { name, range, values } of ranged) {
    if (range.start !== 0) throw rangeError(entry.dn, name, `the first range starts at ${range.start}, not 0`);
    assertWholeRange(entry.dn, name, range, values.length);
    const collected = [...values];
    let end = range.end;
    for (let round = 0; end !== null; round += 1) {
      if (round >= MAX_ROUNDS) throw rangeError(entry.dn, name, `still not complete after ${MAX_ROUNDS} requests`);
      const next = end + 1;
      const request = `${range.base};range=${next}-*`;
      const reply = await fetchRange(entry.dn, request);
      const found = reply === undefined ? undefined : rangedAttributeOf(reply, range.base);
      if (found === undefined) throw rangeError(entry.dn, name, `asked for ${request} and got no values back`);
      if (found.range.start !== next) throw rangeError(entry.dn, name, `asked for ${request} and got ${found.name}`);
      assertWholeRange(entry.dn, found.name, found.range, found.values.length);
      collected.push(...found.values);
      end = found.range.end;
    }
    attributes[range.base] = [...(attributes[range.base] ?? []), ...collected];
  }
  return { dn: entry.dn, attributes };
}

/**
 * A range that names its last index (`start-end`) must hold exactly end - start + 1 values: with
 * fewer, the next request would start past values never received, and the group would silently
 * come out smaller. (A final `start-*` range holds whatever is left and cannot be checked.)
 */
function assertWholeRange(dn: string, name: string, range: RangedName, count: number): void {
  if (range.end === null) return;
  const expected = range.end - range.start + 1;
  if (count !== expected) throw rangeError(dn, name, `${name} holds ${count} values, not ${expected}`);
}

function rangedAttributeOf(entry: DirectoryEntry, base: string): { name: string; range: RangedName; values: AttributeValue[] } | undefined {
  for (const [name, values] of Object.entries(entry.attributes)) {
    const range = parseRangedName(name);
    if (range !== null && range.base === base) return { name, range, values };
  }
  return undefined;
}

function rangeError(dn: string, attribute: string, problem: string): DirbridgeError {
  return new DirbridgeError('directory.protocol', `cannot read all values of ${attribute} of ${dn}: ${problem}`, {
    details: { dn, attribute },
  });
}
