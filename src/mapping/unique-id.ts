/** Renders a directory entry's unique id as stable text, whatever the server type. */

import type { DirectoryEntry } from '../ldap/entry.ts';
import { formatObjectGuid } from '../ldap/guid.ts';

/** Server-specific default unique-id attributes, used when settings say `auto`. */
export const UNIQUE_ID_BY_SERVER = {
  openldap: 'entryUUID',
  'active-directory': 'objectGUID',
  '389-ds': 'nsUniqueId',
  unknown: 'entryUUID',
} as const;

/** The configured unique-id attribute, with `auto` resolved from the detected server type. */
export function resolveUniqueIdAttribute(configured: string, serverType: keyof typeof UNIQUE_ID_BY_SERVER): string {
  return configured.toLowerCase() === 'auto' ? UNIQUE_ID_BY_SERVER[serverType] : configured;
}

/**
 * The entry's unique id as text: `objectGUID` in the usual GUID form, other binary values
 * as lower-case hex, text values as they are. Undefined when the entry has no such value.
 */
export function uniqueIdOf(entry: DirectoryEntry, attribute: string): string | undefined {
  const name = attribute.toLowerCase();
  const value = entry.attributes[name]?.[0];
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (name === 'objectguid' && value.length === 16) return formatObjectGuid(value);
  return value.toString('hex');
}
