/** Maps a directory group entry to a group record with its raw member references. Pure. */
import type { DirectoryEntry } from '../ldap/entry.ts';
import { normalizeDn } from '../ldap/dn.ts';
import type { GroupSettings } from '../settings/schema.ts';
import type { SkippedEntry } from './user.ts';
import { firstText, uniqueAttributes } from './user.ts';
import { uniqueIdOf } from './unique-id.ts';

/** A directory group before membership resolution. */
export interface MappedGroup {
  externalId: string;
  dn: string;
  dnKey: string;
  name: string;
  /** Canonical DNs from `member` / `uniqueMember` (users or nested groups). */
  memberDnKeys: string[];
  /** Usernames from `memberUid`, lower-cased. */
  memberUids: string[];
}

/** The attributes the group mapper needs. */
export function groupAttributesToRequest(settings: GroupSettings, uniqueIdAttribute: string): string[] {
  return uniqueAttributes([uniqueIdAttribute, settings.nameAttribute, ...settings.memberAttribute]);
}

/** Maps one group entry, or says why it cannot be mapped. Unparseable member DNs are reported, not fatal. */
export function mapGroupEntry(
  entry: DirectoryEntry,
  settings: GroupSettings,
  uniqueIdAttribute: string,
): { group: MappedGroup; warnings: string[] } | { skipped: SkippedEntry } {
  const externalId = uniqueIdOf(entry, uniqueIdAttribute);
  if (externalId === undefined) {
    return { skipped: { dn: entry.dn, reason: `has no ${uniqueIdAttribute} value`, setting: 'groups.uniqueIdAttribute', missingAttributes: [uniqueIdAttribute] } };
  }
  const name = firstText(entry, [settings.nameAttribute]);
  if (name === null) {
    return { skipped: { dn: entry.dn, externalId, reason: `has no ${settings.nameAttribute} value`, setting: 'groups.nameAttribute', missingAttributes: [settings.nameAttribute] } };
  }
  const warnings: string[] = [];
  const memberDnKeys: string[] = [];
  const memberUids: string[] = [];
  for (const attribute of settings.memberAttribute) {
    for (const value of entry.attributes[attribute.toLowerCase()] ?? []) {
      if (typeof value !== 'string' || value.trim() === '') continue;
      if (attribute === 'memberUid') {
        memberUids.push(value.trim().toLowerCase());
        continue;
      }
      try {
        memberDnKeys.push(normalizeDn(stripUniqueMemberUid(value)));
      } catch {
        warnings.push(`group ${entry.dn}: ignored ${attribute} value that is not a DN`);
      }
    }
  }
  return { group: { externalId, dn: entry.dn, dnKey: normalizeDn(entry.dn), name, memberDnKeys, memberUids }, warnings };
}

/** `uniqueMember` values may end in an optional `#'0101'B` unique identifier (RFC 4517 NameAndOptionalUID). */
function stripUniqueMemberUid(value: string): string {
  return value.replace(/#'[01]*'B$/, '');
}
