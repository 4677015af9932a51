/**
 * DirSync's incremental values (flag LDAP_DIRSYNC_INCREMENTAL_VALUES): a changed link attribute
 * such as `member` comes back as the values added, under `member;range=1-1`, and the values
 * removed, under `member;range=0-0` (MS-ADTS 3.1.1.3.4.1.3). These are not range retrieval, and
 * must never be completed as ranges.
 */
import { DirbridgeError } from '../../errors.ts';
import type { AttributeValue, DirectoryEntry } from '../../ldap/entry.ts';
import { parseRangedName } from '../ranged-values.ts';

/** Values added to and removed from one attribute. */
export interface ValueChange {
  /** Lower-case attribute name. */
  attribute: string;
  added: string[];
  removed: string[];
}

function asText(value: AttributeValue): string {
  return typeof value === 'string' ? value : value.toString('utf8');
}

/**
 * Splits a DirSync entry into its plain attributes and its incremental value changes. Throws
 * `directory.protocol` for a range option other than `1-1` (added) or `0-0` (removed).
 */
export function splitIncrementalValues(entry: DirectoryEntry): { entry: DirectoryEntry; valueChanges: ValueChange[] } {
  const attributes: Record<string, AttributeValue[]> = {};
  const changes = new Map<string, ValueChange>();
  for (const [name, values] of Object.entries(entry.attributes)) {
    const range = parseRangedName(name);
    if (range === null) {
      attributes[name] = values;
      continue;
    }
    const kind = range.start === 1 && range.end === 1 ? 'added' : range.start === 0 && range.end === 0 ? 'removed' : undefined;
    if (kind === undefined) {
      throw new DirbridgeError(
        'directory.protocol',
        `DirSync returned ${name} for ${entry.dn}: an incremental value change must be range=1-1 (added) or range=0-0 (removed)`,
        {
          details: { dn: entry.dn, attribute: name },
        },
      );
    }
    const change = changes.get(range.base) ?? { attribute: range.base, added: [], removed: [] };
    change[kind].push(...values.map(asText));
    changes.set(range.base, change);
  }
  return { entry: { dn: entry.dn, attributes }, valueChanges: [...changes.values()] };
}
