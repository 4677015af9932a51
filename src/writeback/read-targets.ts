/**
 * The read step of a write-back action: the entries a write plan is made from, read just before
 * planning (a user's entry with the attributes the plan compares, a group's member values, the
 * groups that list a user). Every value goes into filters through the escaping builders.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { DirbridgeError } from '../errors.ts';
import { allStrings, type DirectoryEntry } from '../ldap/entry.ts';
import { eq, type Filter, or } from '../ldap/filter.ts';
import { ACCOUNT_STATE_ATTRIBUTES } from '../mapping/account-status.ts';
import { uniqueAttributes } from '../mapping/user.ts';
import type { GroupSettings, UserSettings } from '../settings/schema.ts';
import { WRITABLE_USER_FIELDS } from '../settings/schema.ts';
import type { GroupTarget } from './plan-group-writes.ts';
import { attributeOfField } from './plan-user-writes.ts';

/** Change markers a server keeps per entry, read with it (the deliverer's and sync's provenance). */
export const CHANGE_MARKER_ATTRIBUTES: readonly string[] = ['entryCSN', 'uSNChanged', 'modifyTimestamp'];

/** The entry's change marker (entryCSN on OpenLDAP, uSNChanged on AD, else modifyTimestamp), kept with baselines; null when it shows none. */
export function changeMarkerOf(entry: DirectoryEntry): string | null {
  for (const attribute of CHANGE_MARKER_ATTRIBUTES) {
    const value = allStrings(entry, attribute)[0];
    if (value !== undefined) return `${attribute}:${value}`;
  }
  return null;
}

/** The attributes a user write plan compares: the mapped fields, the naming, account state and AD's names. */
export function userWriteAttributes(users: UserSettings): string[] {
  return uniqueAttributes([
    ...users.usernameAttribute,
    ...WRITABLE_USER_FIELDS.map((field) => attributeOfField(users, field)),
    ...ACCOUNT_STATE_ATTRIBUTES,
    'sAMAccountName',
    'userPrincipalName',
    'objectClass',
    ...CHANGE_MARKER_ATTRIBUTES,
  ]);
}

/** Reads one entry by DN (a base search); undefined when the server has no such entry. */
export async function readEntry(directory: DirectoryConnection, dn: string, attributes: string[]): Promise<DirectoryEntry | undefined> {
  try {
    const [entry] = await directory.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes, maxEntries: 1 });
    return entry;
  } catch (error) {
    if (error instanceof DirbridgeError && error.code === 'directory.no_such_object') return undefined;
    throw error;
  }
}

/** Reads a user's entry for planning; throws `writeback.entry_missing` naming the DN when it is gone. */
export async function readUserEntry(directory: DirectoryConnection, users: UserSettings, dn: string): Promise<DirectoryEntry> {
  const entry = await readEntry(directory, dn, userWriteAttributes(users));
  if (entry === undefined) {
    throw new DirbridgeError(
      'writeback.entry_missing',
      `the directory has no entry ${dn} any more; run a sync to bring dirbridge up to date before changing this user`,
    );
  }
  return entry;
}

/** The member attribute a group lists its members in: the first configured one it holds, else the first configured. */
function memberAttributeOf(entry: DirectoryEntry, configured: readonly GroupTarget['memberAttribute'][]): GroupTarget['memberAttribute'] {
  return configured.find((attribute) => allStrings(entry, attribute).length > 0) ?? configured[0] ?? 'member';
}

function toGroupTarget(entry: DirectoryEntry, groups: Pick<GroupSettings, 'nameAttribute' | 'memberAttribute'>, fallbackName: string): GroupTarget {
  const memberAttribute = memberAttributeOf(entry, groups.memberAttribute);
  return { dn: entry.dn, name: allStrings(entry, groups.nameAttribute)[0] ?? fallbackName, memberAttribute, memberValues: allStrings(entry, memberAttribute) };
}

/** Reads a group's entry with its member values; throws `writeback.entry_missing` when it is gone. */
export async function readGroupTarget(
  directory: DirectoryConnection,
  groups: Pick<GroupSettings, 'nameAttribute' | 'memberAttribute'>,
  dn: string,
  name: string,
): Promise<GroupTarget> {
  const entry = await readEntry(directory, dn, [groups.nameAttribute, ...groups.memberAttribute]);
  if (entry === undefined) {
    throw new DirbridgeError(
      'writeback.entry_missing',
      `the directory has no group ${dn} any more; run a sync to bring dirbridge up to date before changing it`,
    );
  }
  return toGroupTarget(entry, groups, name);
}

/**
 * The groups under `groups.baseDn` that list the user, by DN or (memberUid) by username: one
 * search. AD keeps its linked member values itself, so callers may skip it there.
 */
export async function readGroupsListing(directory: DirectoryConnection, groups: GroupSettings, user: { dn: string; username: string }): Promise<GroupTarget[]> {
  const matches: Filter[] = groups.memberAttribute.map((attribute) => eq(attribute, attribute === 'memberUid' ? user.username : user.dn));
  const entries = await directory.searchAll({
    baseDn: groups.baseDn,
    scope: groups.scope,
    filter: or(...matches),
    attributes: [groups.nameAttribute, ...groups.memberAttribute],
    maxEntries: 10_000,
  });
  return entries.map((entry) => toGroupTarget(entry, groups, entry.dn));
}
