/**
 * Finds one user in the directory by username — for login, one-user sync and the "Test LDAP
 * Search" — and the groups it belongs to, resolved as a full sync resolves them (nested groups
 * included) but with a few server queries instead of reading every group. Every value goes into
 * the filter through the escaping builders.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { DirbridgeError } from '../errors.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { and, eq, type Filter, or, parseFilter } from '../ldap/filter.ts';
import { uniqueMemberValue } from '../ldap/unique-member.ts';
import { mappedAttributeNames } from '../mapping/grants.ts';
import { groupUniqueIdentifierAttributes, mapGroupEntry } from '../mapping/group.ts';
import { resolveUniqueIdAttribute } from '../mapping/unique-id.ts';
import { type MappedUser, mapUserEntry, type SkippedEntry, uniqueAttributes, userAttributesToRequest } from '../mapping/user.ts';
import type { DirectorySettings, GroupSettings, MappingSettings, UserSettings } from '../settings/schema.ts';

/**
 * How many nesting levels a login's walk up the parent groups may take. A full sync has no such
 * limit, so the walk never stops early with a partial answer (that would revoke grants the next
 * sync gives back): deeper nesting is an error, and an error changes nothing.
 */
export const MAX_NESTING_LEVELS = 64;

/** Group DNs per parent search: one OR filter per level, split only when a level is this wide. */
export const PARENT_SEARCH_BATCH = 100;

/** One of a user's groups: direct, or (with groups.nestedGroups) through member groups. */
export interface UserGroup {
  dn: string;
  name: string;
  externalId: string;
  isNested: boolean;
  /** The group's `x500UniqueIdentifier` bits (read when uniqueMember is a member attribute). */
  uniqueIdentifiers?: string[];
}

/** A found entry and its mapped user, before its groups are read. */
export interface FoundEntry {
  entry: DirectoryEntry;
  user: MappedUser;
}

/** A found user: the raw entry, the mapped user, and its groups. */
export interface FoundUser extends FoundEntry {
  groups: UserGroup[];
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

/** Finds the user and its groups, or returns undefined; more than one match is an error, never a guess. */
export async function findDirectoryUser(directory: DirectoryConnection, settings: FindUserSettings, name: LookupName): Promise<FoundUser | undefined> {
  const found = await findDirectoryEntry(directory, settings, name);
  if (found === undefined) return undefined;
  return { ...found, groups: await findUserGroups(directory, settings.groups, found.user) };
}

/** Finds the user's entry (one search) or returns undefined; more than one match is an error, never a guess. */
export async function findDirectoryEntry(directory: DirectoryConnection, settings: FindUserSettings, name: LookupName): Promise<FoundEntry | undefined> {
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
  return { entry, user: mapped.user };
}

/** What a login reads of a user's groups: the groups, and the group entries the sync would skip (no id or name). */
export interface UserGroupsRead {
  groups: UserGroup[];
  /** Group entries listing the user (or one of its groups) that cannot be mapped: a sync keeps their stored group and memberships as they are. */
  skipped: SkippedEntry[];
}

/**
 * One user's groups, exactly as a full sync resolves them (`resolveMemberships` over the groups
 * under groups.baseDn that match groups.filter): the groups listing the user's DN in a DN member
 * attribute or its username in memberUid, and with groups.nestedGroups every group that lists one
 * of those by DN, transitively. Cycles end the walk (a group is visited once).
 *
 * Server queries, never per group: one search for the direct groups, then one OR filter per
 * nesting level over the groups found at the level below (split every PARENT_SEARCH_BATCH DNs),
 * so a login costs 2 + depth searches. Only the id and name attributes (and x500UniqueIdentifier,
 * with uniqueMember) are read, never member lists. The walk stays inside the configured groups, as the sync's does; AD's in-chain rule is
 * not used because it also follows groups outside groups.baseDn/filter, which the sync does not.
 * Throws on any fault, and when nesting is deeper than MAX_NESTING_LEVELS: an answer is complete
 * or there is none.
 */
export async function findUserGroups(directory: DirectoryConnection, settings: GroupSettings | undefined, user: MemberIdentity): Promise<UserGroup[]> {
  return (await readUserGroups(directory, settings, user)).groups;
}

/** The user as member values name it: its DN (and with it its unique identifiers, for uniqueMember) and its username (memberUid). */
export type MemberIdentity = Pick<MappedUser, 'dn' | 'username' | 'uniqueIdentifiers'>;

/**
 * `findUserGroups`, with the group entries a sync would skip. A `uniqueMember` value names the
 * user (or a group) as `<dn>` or as `<dn>#<uid>` for one of its `x500UniqueIdentifier` values
 * (RFC 4517 uniqueMemberMatch, as the sync's `resolveMemberships` counts them): each is asserted,
 * in the same one search per level.
 */
export async function readUserGroups(directory: DirectoryConnection, settings: GroupSettings | undefined, user: MemberIdentity): Promise<UserGroupsRead> {
  if (settings === undefined || !settings.enabled) return { groups: [], skipped: [] };
  const groupIdAttribute = resolveUniqueIdAttribute(settings.uniqueIdAttribute, directory.rootDse.serverType);
  const attributes = uniqueAttributes([groupIdAttribute, settings.nameAttribute, ...groupUniqueIdentifierAttributes(settings)]);
  const groupFilter = parseFilter(settings.filter);
  const search = async (memberFilters: Filter[]): Promise<DirectoryEntry[]> =>
    memberFilters.length === 0
      ? []
      : directory.searchAll({ baseDn: settings.baseDn, scope: settings.scope, filter: and(groupFilter, or(...memberFilters)), attributes, maxEntries: 10_000 });
  const dnAttributes = settings.memberAttribute.filter((attribute) => attribute !== 'memberUid');
  /** The assertions naming each member: its DN in every DN attribute, and its DN with each UID in uniqueMember. */
  const listing = (members: ReadonlyArray<{ dn: string; uniqueIdentifiers?: readonly string[] | undefined }>): Filter[] =>
    members.flatMap(({ dn, uniqueIdentifiers }) =>
      dnAttributes.flatMap((attribute) => [
        eq(attribute, dn),
        ...(attribute === 'uniqueMember' ? (uniqueIdentifiers ?? []).map((uid) => eq(attribute, uniqueMemberValue(dn, uid))) : []),
      ]),
    );

  const found = new Map<string, UserGroup>();
  const skipped = new Map<string, SkippedEntry>();
  /** Records the groups not seen before and returns them: the next level's frontier. */
  const record = (entries: readonly DirectoryEntry[], isNested: boolean): Array<{ dn: string; uniqueIdentifiers?: string[] }> => {
    const added: Array<{ dn: string; uniqueIdentifiers?: string[] }> = [];
    for (const entry of entries) {
      const mapped = mapGroupEntry(entry, settings, groupIdAttribute);
      // The sync skips a group without an id or name; it is then no link in a chain either.
      if (!('group' in mapped)) {
        skipped.set(entry.dn, mapped.skipped);
        continue;
      }
      if (found.has(mapped.group.dnKey)) continue;
      found.set(mapped.group.dnKey, {
        dn: entry.dn,
        name: mapped.group.name,
        externalId: mapped.group.externalId,
        isNested,
        ...(mapped.group.uniqueIdentifiers === undefined ? {} : { uniqueIdentifiers: mapped.group.uniqueIdentifiers }),
      });
      added.push({ dn: entry.dn, ...(mapped.group.uniqueIdentifiers === undefined ? {} : { uniqueIdentifiers: mapped.group.uniqueIdentifiers }) });
    }
    return added;
  };
  const result = (): UserGroupsRead => ({ groups: [...found.values()], skipped: [...skipped.values()] });

  const direct = listing([user]);
  if (settings.memberAttribute.includes('memberUid')) direct.push(eq('memberUid', user.username));
  let frontier = record(await search(direct), false);
  // Groups list member groups by DN only; with memberUid alone there is nothing to climb.
  if (!settings.nestedGroups || dnAttributes.length === 0) return result();
  for (let level = 1; frontier.length > 0; level += 1) {
    if (level > MAX_NESTING_LEVELS) {
      throw new DirbridgeError(
        'directory.size_limit',
        `the groups of ${user.dn} nest more than ${MAX_NESTING_LEVELS} levels deep; refusing to guess its groups`,
        {
          details: { dn: user.dn, levels: MAX_NESTING_LEVELS },
        },
      );
    }
    const parents: DirectoryEntry[] = [];
    for (let start = 0; start < frontier.length; start += PARENT_SEARCH_BATCH) {
      parents.push(...(await search(listing(frontier.slice(start, start + PARENT_SEARCH_BATCH)))));
    }
    frontier = record(parents, true);
  }
  return result();
}
