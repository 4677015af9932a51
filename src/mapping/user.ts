/** Maps a directory user entry to the record dirbridge keeps. Pure. */

import { normalizeDn } from '../ldap/dn.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { UNIQUE_IDENTIFIER_ATTRIBUTE, uniqueIdentifiersOf } from '../ldap/unique-member.ts';
import type { UserSettings } from '../settings/schema.ts';
import { ACCOUNT_STATE_ATTRIBUTES, type DirectoryAccountState, readAccountState } from './account-status.ts';
import { PASSWORD_CHANGE_ATTRIBUTES, readPasswordChangedAt } from './password-change.ts';
import { uniqueIdOf } from './unique-id.ts';

/** A directory user as the sync planner sees it. */
export interface MappedUser {
  externalId: string;
  dn: string;
  /** The DN in RFC 4514 canonical form, used to match `member` values. */
  dnKey: string;
  username: string;
  email: string | null;
  /** Empty when the directory has no value. */
  firstName: string;
  /** Empty when the directory has no value. */
  lastName: string;
  displayName: string | null;
  directoryState: DirectoryAccountState;
  directoryStateReason?: string;
  /**
   * When the directory last changed the password (`password-change.ts`); null when it keeps no
   * such time; absent when the entry was not read for it (nothing is then planned for it).
   */
  passwordChangedAt?: string | null;
  /** The entry's `x500UniqueIdentifier` bits: a `uniqueMember` value with a UID names the user only with one of these (RFC 4517). */
  uniqueIdentifiers?: string[];
}

/** An entry that could not be mapped, with the reason; its id (when known) or DN still counts as present. */
export interface SkippedEntry {
  dn: string;
  externalId?: string;
  reason: string;
  /** The setting naming the attributes the entry lacks (`users.usernameAttribute`, ...). */
  setting: string;
  /** The attributes it has no value in (any one of them would have done); the plan says "skipped (no cn)". */
  missingAttributes: string[];
}

/** The attributes the user mapper needs, so the search asks only for those. */
export function userAttributesToRequest(settings: UserSettings, uniqueIdAttribute: string): string[] {
  return uniqueAttributes([
    uniqueIdAttribute,
    ...settings.usernameAttribute,
    settings.emailAttribute,
    settings.firstNameAttribute,
    settings.lastNameAttribute,
    settings.displayNameAttribute,
    ...ACCOUNT_STATE_ATTRIBUTES,
    ...PASSWORD_CHANGE_ATTRIBUTES,
    UNIQUE_IDENTIFIER_ATTRIBUTE,
  ]);
}

/** Maps one entry, or says why it cannot be mapped. */
export function mapUserEntry(entry: DirectoryEntry, settings: UserSettings, uniqueIdAttribute: string): { user: MappedUser } | { skipped: SkippedEntry } {
  const externalId = uniqueIdOf(entry, uniqueIdAttribute);
  if (externalId === undefined) {
    return {
      skipped: { dn: entry.dn, reason: `has no ${uniqueIdAttribute} value`, setting: 'users.uniqueIdAttribute', missingAttributes: [uniqueIdAttribute] },
    };
  }
  const username = firstText(entry, settings.usernameAttribute);
  if (username === null) {
    return {
      skipped: {
        dn: entry.dn,
        externalId,
        reason: `has no username attribute (${settings.usernameAttribute.join(', ')})`,
        setting: 'users.usernameAttribute',
        missingAttributes: [...settings.usernameAttribute],
      },
    };
  }
  const state = readAccountState(entry);
  const uniqueIdentifiers = uniqueIdentifiersOf(entry);
  return {
    user: {
      externalId,
      dn: entry.dn,
      dnKey: normalizeDn(entry.dn),
      username,
      email: firstText(entry, [settings.emailAttribute]),
      firstName: firstText(entry, [settings.firstNameAttribute]) ?? '',
      lastName: firstText(entry, [settings.lastNameAttribute]) ?? '',
      displayName: firstText(entry, [settings.displayNameAttribute]),
      directoryState: state.state,
      ...(state.reason === undefined ? {} : { directoryStateReason: state.reason }),
      passwordChangedAt: readPasswordChangedAt(entry),
      ...(uniqueIdentifiers.length === 0 ? {} : { uniqueIdentifiers }),
    },
  };
}

/** The first non-empty text value among the attributes, in the order given. */
export function firstText(entry: DirectoryEntry, attributes: readonly string[]): string | null {
  for (const attribute of attributes) {
    for (const value of entry.attributes[attribute.toLowerCase()] ?? []) {
      if (typeof value === 'string' && value.trim() !== '') return value.trim();
    }
  }
  return null;
}

/** De-duplicates attribute names case-insensitively, keeping the first spelling. */
export function uniqueAttributes(names: readonly string[]): string[] {
  const seen = new Set<string>();
  return names.filter((name) => {
    const key = name.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
