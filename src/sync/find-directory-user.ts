/**
 * Finds one user in the directory by username — the "Test LDAP Search" — and the groups it
 * belongs to, with the same mapping sync uses. Every value goes into the filter through the
 * escaping builders.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { DirbridgeError } from '../errors.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { and, eq, extensible, or, parseFilter, type Filter } from '../ldap/filter.ts';
import { groupAttributesToRequest, mapGroupEntry } from '../mapping/group.ts';
import { resolveUniqueIdAttribute } from '../mapping/unique-id.ts';
import { mapUserEntry, uniqueAttributes, userAttributesToRequest, type MappedUser } from '../mapping/user.ts';
import { mappedAttributeNames } from '../mapping/grants.ts';
import type { DirectorySettings, GroupSettings, MappingSettings, UserSettings } from '../settings/schema.ts';

/** AD's LDAP_MATCHING_RULE_IN_CHAIN: matches members of nested groups on the server. */
export const AD_IN_CHAIN_RULE = '1.2.840.113556.1.4.1941';

/** How far non-AD nested-group lookups climb before stopping. */
const MAX_NESTING_DEPTH = 16;

/** A found user: the raw entry, the mapped user, and its groups. */
export interface FoundUser {
  entry: DirectoryEntry;
  user: MappedUser;
  groups: Array<{ dn: string; name: string; externalId: string; isNested: boolean }>;
}

/** Settings slices the lookup reads. */
export interface FindUserSettings {
  directory: Pick<DirectorySettings, 'attributesToQuery'>;
  users: UserSettings;
  groups?: GroupSettings | undefined;
  /** When given, the attributes its mappers need are requested too. */
  mapping?: MappingSettings | undefined;
}

/** A name to look up: by the username attributes, and on AD optionally by userPrincipalName. */
export type LookupName = string | { username: string; userPrincipalName?: string };

/** The filter that finds a user by any of the username attributes, within the configured user filter. */
export function userByNameFilter(settings: UserSettings, name: LookupName): Filter {
  const { username, userPrincipalName } = typeof name === 'string' ? { username: name, userPrincipalName: undefined } : name;
  const matches = settings.usernameAttribute.map((attribute) => eq(attribute, username));
  if (userPrincipalName !== undefined) matches.push(eq('userPrincipalName', userPrincipalName));
  return and(parseFilter(settings.filter), or(...matches));
}

/** Finds the user or returns undefined; more than one match is an error, never a guess. */
export async function findDirectoryUser(directory: DirectoryConnection, settings: FindUserSettings, name: LookupName): Promise<FoundUser | undefined> {
  const username = typeof name === 'string' ? name : name.username;
  const uniqueIdAttribute = resolveUniqueIdAttribute(settings.users.uniqueIdAttribute, directory.rootDse.serverType);
  const entries = await directory.searchAll({
    baseDn: settings.users.baseDn,
    scope: settings.users.scope,
    filter: userByNameFilter(settings.users, name),
    attributes: uniqueAttributes([
      ...userAttributesToRequest(settings.users, uniqueIdAttribute),
      ...(settings.mapping === undefined ? [] : mappedAttributeNames(settings.mapping)),
      ...settings.directory.attributesToQuery,
    ]),
    maxEntries: 2,
  });
  const [entry] = entries;
  if (entry === undefined) return undefined;
  if (entries.length > 1) {
    throw new DirbridgeError('directory.ambiguous', `more than one directory entry matches username ${JSON.stringify(username)}`, {
      details: { dns: entries.map((entry) => entry.dn) },
    });
  }
  const mapped = mapUserEntry(entry, settings.users, uniqueIdAttribute);
  if ('skipped' in mapped) {
    throw new DirbridgeError('directory.protocol', `entry ${entry.dn} cannot be mapped: ${mapped.skipped.reason}`);
  }
  const groups = settings.groups?.enabled === true ? await findUserGroups(directory, settings.groups, mapped.user) : [];
  return { entry, user: mapped.user, groups };
}

async function findUserGroups(directory: DirectoryConnection, settings: GroupSettings, user: MappedUser): Promise<FoundUser['groups']> {
  const groupIdAttribute = resolveUniqueIdAttribute(settings.uniqueIdAttribute, directory.rootDse.serverType);
  const attributes = groupAttributesToRequest(settings, groupIdAttribute);
  const search = async (memberFilter: Filter) =>
    directory.searchAll({
      baseDn: settings.baseDn,
      scope: settings.scope,
      filter: and(parseFilter(settings.filter), memberFilter),
      attributes,
      maxEntries: 10_000,
    });
  const byMember = (dn: string): Filter[] =>
    settings.memberAttribute.filter((attribute) => attribute !== 'memberUid').map((attribute) => eq(attribute, dn));
  const direct = [...byMember(user.dn)];
  if (settings.memberAttribute.includes('memberUid')) direct.push(eq('memberUid', user.username));

  const found = new Map<string, FoundUser['groups'][number]>();
  const record = (entries: DirectoryEntry[], isNested: boolean): string[] => {
    const added: string[] = [];
    for (const entry of entries) {
      const mapped = mapGroupEntry(entry, settings, groupIdAttribute);
      if (!('group' in mapped) || found.has(mapped.group.dnKey)) continue;
      found.set(mapped.group.dnKey, { dn: entry.dn, name: mapped.group.name, externalId: mapped.group.externalId, isNested });
      added.push(entry.dn);
    }
    return added;
  };

  let frontier = record(await search(or(...direct)), false);
  if (!settings.nestedGroups) return [...found.values()];
  if (directory.rootDse.serverType === 'active-directory') {
    record(await search(extensible({ attribute: 'member', matchingRule: AD_IN_CHAIN_RULE, value: user.dn })), true);
    return [...found.values()];
  }
  for (let depth = 0; depth < MAX_NESTING_DEPTH && frontier.length > 0; depth += 1) {
    frontier = record(await search(or(...frontier.flatMap(byMember))), true);
  }
  return [...found.values()];
}
