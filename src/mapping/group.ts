/** Maps a directory group entry to a group record with its raw member references. Pure. */

import { normalizeDn } from '../ldap/dn.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { UNIQUE_IDENTIFIER_ATTRIBUTE, uniqueIdentifiersOf, uniqueMemberKey } from '../ldap/unique-member.ts';
import type { GroupSettings } from '../settings/schema.ts';
import { uniqueIdOf } from './unique-id.ts';
import type { SkippedEntry } from './user.ts';
import { firstText, uniqueAttributes } from './user.ts';

/** A directory group before membership resolution. */
export interface MappedGroup {
  externalId: string;
  dn: string;
  dnKey: string;
  name: string;
  /**
   * Member references from `member` / `uniqueMember` (users or nested groups): canonical DNs, and
   * for a `uniqueMember` value with a UID the DN with that UID (`memberKey`), which names only an
   * entry whose `x500UniqueIdentifier` holds it (RFC 4517 uniqueMemberMatch).
   */
  memberDnKeys: string[];
  /** Usernames from `memberUid`, lower-cased. */
  memberUids: string[];
  /** The group's own `x500UniqueIdentifier` bits, for `uniqueMember` values naming it with a UID (read when uniqueMember is a member attribute). */
  uniqueIdentifiers?: string[];
}

/** The attributes the group mapper needs. */
export function groupAttributesToRequest(settings: GroupSettings, uniqueIdAttribute: string): string[] {
  return uniqueAttributes([uniqueIdAttribute, settings.nameAttribute, ...settings.memberAttribute, ...groupUniqueIdentifierAttributes(settings)]);
}

/** `x500UniqueIdentifier` when `uniqueMember` values (which may name a group with a UID) are read; else nothing. */
export function groupUniqueIdentifierAttributes(settings: Pick<GroupSettings, 'memberAttribute'>): string[] {
  return settings.memberAttribute.includes('uniqueMember') ? [UNIQUE_IDENTIFIER_ATTRIBUTE] : [];
}

/**
 * The member references that values of one member attribute make: DN keys (`member`,
 * `uniqueMember` with its optional UID) or lower-cased names (`memberUid`). Values that are not
 * DNs are reported, not fatal.
 */
export function memberReferencesOf(
  groupDn: string,
  attribute: string,
  values: readonly (string | Buffer)[],
): { dnKeys: string[]; uids: string[]; warnings: string[] } {
  const found = { dnKeys: [] as string[], uids: [] as string[], warnings: [] as string[] };
  for (const value of values) {
    if (typeof value !== 'string' || value.trim() === '') continue;
    if (attribute.toLowerCase() === 'memberuid') {
      found.uids.push(value.trim().toLowerCase());
      continue;
    }
    try {
      // `member` is DN syntax; only `uniqueMember` carries the optional UID.
      found.dnKeys.push(attribute.toLowerCase() === 'uniquemember' ? uniqueMemberKey(value) : normalizeDn(value));
    } catch {
      found.warnings.push(`group ${groupDn}: ignored ${attribute} value that is not a DN`);
    }
  }
  return found;
}

/** Maps one group entry, or says why it cannot be mapped. Unparseable member DNs are reported, not fatal. */
export function mapGroupEntry(
  entry: DirectoryEntry,
  settings: GroupSettings,
  uniqueIdAttribute: string,
): { group: MappedGroup; warnings: string[] } | { skipped: SkippedEntry } {
  const externalId = uniqueIdOf(entry, uniqueIdAttribute);
  if (externalId === undefined) {
    return {
      skipped: { dn: entry.dn, reason: `has no ${uniqueIdAttribute} value`, setting: 'groups.uniqueIdAttribute', missingAttributes: [uniqueIdAttribute] },
    };
  }
  const name = firstText(entry, [settings.nameAttribute]);
  if (name === null) {
    return {
      skipped: {
        dn: entry.dn,
        externalId,
        reason: `has no ${settings.nameAttribute} value`,
        setting: 'groups.nameAttribute',
        missingAttributes: [settings.nameAttribute],
      },
    };
  }
  const warnings: string[] = [];
  const memberDnKeys: string[] = [];
  const memberUids: string[] = [];
  for (const attribute of settings.memberAttribute) {
    const references = memberReferencesOf(entry.dn, attribute, entry.attributes[attribute.toLowerCase()] ?? []);
    memberDnKeys.push(...references.dnKeys);
    memberUids.push(...references.uids);
    warnings.push(...references.warnings);
  }
  const uniqueIdentifiers = settings.memberAttribute.includes('uniqueMember') ? uniqueIdentifiersOf(entry) : [];
  return {
    group: {
      externalId,
      dn: entry.dn,
      dnKey: normalizeDn(entry.dn),
      name,
      memberDnKeys,
      memberUids,
      ...(uniqueIdentifiers.length === 0 ? {} : { uniqueIdentifiers }),
    },
    warnings,
  };
}
