/**
 * Reads a snapshot of users and groups, page by page, mapping each entry as it arrives so
 * raw entries are never all held at once. A failure mid-read is recorded in the snapshot
 * (never thrown away): the guard then refuses to act on it. A base DN that does not exist is no
 * fault of the read but of the settings: it throws `directory.no_such_object` naming the setting,
 * so the run fails and nothing is planned.
 *
 * The read also warns about settings that do not fit the data (`data-fit.ts`): member values in
 * attributes `groups.memberAttribute` leaves out (requested only to be counted), a user filter
 * that matches nothing, entries skipped for a missing username or unique id, and memberUid
 * values that name no user.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { isDirbridgeError } from '../errors.ts';
import { isMappingActive, mappedAttributeNames, mappedAttributes, type UserMappingInput } from '../mapping/grants.ts';
import { groupAttributesToRequest, type MappedGroup, mapGroupEntry } from '../mapping/group.ts';
import { resolveMemberships } from '../mapping/memberships.ts';
import { resolveUniqueIdAttribute } from '../mapping/unique-id.ts';
import { type MappedUser, mapUserEntry, type SkippedEntry, uniqueAttributes, userAttributesToRequest } from '../mapping/user.ts';
import type { DirectorySettings, GroupSettings, MappingSettings, UserSettings } from '../settings/schema.ts';
import {
  createUnlistedMemberCounter,
  noUsersWarning,
  skippedWarnings,
  unlistedMemberAttributes,
  unlistedMemberWarnings,
  unmatchedMemberUidWarning,
} from './data-fit.ts';
import { isMissingBase, nameBaseDnSetting } from './missing-base.ts';
import type { MappedUserWithInput } from './plan-mapping.ts';
import { type GroupNamesByUser, readGroupNamesForSync } from './read-mapping-inputs.ts';
import type { DirectorySnapshot, ReadFailure } from './snapshot.ts';

/** The settings slices a snapshot read needs. */
export interface SnapshotSettings {
  directory: Pick<DirectorySettings, 'attributesToQuery' | 'pageSize'>;
  users: UserSettings;
  groups?: GroupSettings | undefined;
  /** When given and any part is enabled, each user gets its mapping input. */
  mapping?: MappingSettings | undefined;
}

/** The attributes a sync reads of each user entry: the user mapper's, the mapped attributes and `directory.attributesToQuery`. */
export function userReadAttributes(settings: SnapshotSettings, userIdAttribute: string): string[] {
  const mapping = isMappingActive(settings.mapping) ? settings.mapping : undefined;
  return uniqueAttributes([
    ...userAttributesToRequest(settings.users, userIdAttribute),
    ...(mapping === undefined ? [] : mappedAttributeNames(mapping)),
    ...settings.directory.attributesToQuery,
  ]);
}

/** Progress callback: called after each page with the running totals. */
export type ReadProgress = (progress: { phase: 'users' | 'groups'; entriesRead: number }) => void;

/** Reads and maps every user and group; records directory faults instead of throwing, except a base DN that does not exist. */
export async function readSnapshot(
  directory: DirectoryConnection,
  settings: SnapshotSettings,
  onProgress: ReadProgress = () => {},
): Promise<DirectorySnapshot> {
  const serverType = directory.rootDse.serverType;
  const userIdAttribute = resolveUniqueIdAttribute(settings.users.uniqueIdAttribute, serverType);
  const users: MappedUser[] = [];
  const mapping = isMappingActive(settings.mapping) ? settings.mapping : undefined;
  const attributesByUser = new Map<string, Pick<UserMappingInput, 'customFields' | 'abacAttributes'>>();
  const skippedUsers: SkippedEntry[] = [];
  const skippedGroups: SkippedEntry[] = [];
  const warnings: string[] = [];
  const dataFitWarnings: string[] = [];
  const fit = (...found: string[]): void => {
    warnings.push(...found);
    dataFitWarnings.push(...found);
  };
  const snapshot = (groups: DirectorySnapshot['groups'], failure?: ReadFailure): DirectorySnapshot => ({
    users,
    groups,
    skippedUsers,
    skippedGroups,
    warnings,
    dataFitWarnings,
    serverType,
    uniqueIdAttribute: userIdAttribute,
    ...(failure === undefined ? {} : { failure }),
  });

  let entriesRead = 0;
  try {
    const pages = directory.searchPages({
      baseDn: settings.users.baseDn,
      scope: settings.users.scope,
      filter: settings.users.filter,
      attributes: userReadAttributes(settings, userIdAttribute),
      pageSize: settings.directory.pageSize,
      baseDnSetting: 'users.baseDn',
    });
    for await (const page of pages) {
      for (const entry of page) {
        const mapped = mapUserEntry(entry, settings.users, userIdAttribute);
        if ('user' in mapped) {
          users.push(mapped.user);
          if (mapping !== undefined) attributesByUser.set(mapped.user.externalId, mappedAttributes(entry, mapping));
        } else {
          skippedUsers.push(mapped.skipped);
        }
      }
      entriesRead += page.length;
      onProgress({ phase: 'users', entriesRead });
    }
  } catch (error) {
    if (isMissingBase(error)) throw error;
    return snapshot([], failureOf(error, 'users', entriesRead));
  }
  if (entriesRead === 0) fit(noUsersWarning(settings.users));
  fit(...skippedWarnings(skippedUsers, 'user'));

  const groupSettings = settings.groups;
  if (groupSettings === undefined || !groupSettings.enabled) return withMapping(snapshot([]));
  const groupIdAttribute = resolveUniqueIdAttribute(groupSettings.uniqueIdAttribute, serverType);
  const groups: MappedGroup[] = [];
  // Member attributes the settings leave out are read too, only to count their values (never kept).
  const unlisted = unlistedMemberAttributes(groupSettings);
  const unlistedCounter = createUnlistedMemberCounter(unlisted);
  entriesRead = 0;
  try {
    const pages = directory.searchPages({
      baseDn: groupSettings.baseDn,
      scope: groupSettings.scope,
      filter: groupSettings.filter,
      attributes: uniqueAttributes([...groupAttributesToRequest(groupSettings, groupIdAttribute), ...unlisted]),
      pageSize: settings.directory.pageSize,
      baseDnSetting: 'groups.baseDn',
    });
    for await (const page of pages) {
      for (const entry of page) {
        unlistedCounter.count(entry);
        const mapped = mapGroupEntry(entry, groupSettings, groupIdAttribute);
        if ('group' in mapped) {
          groups.push(mapped.group);
          warnings.push(...mapped.warnings);
        } else {
          skippedGroups.push(mapped.skipped);
        }
      }
      entriesRead += page.length;
      onProgress({ phase: 'groups', entriesRead });
    }
  } catch (error) {
    if (isMissingBase(error)) throw error;
    return snapshot([], failureOf(error, 'groups', entriesRead));
  }
  fit(...skippedWarnings(skippedGroups, 'group'));
  fit(...unlistedMemberWarnings(unlistedCounter.result(), groupSettings));
  const unmatchedUids = unmatchedMemberUidWarning(users, groups, settings);
  if (unmatchedUids !== undefined) fit(unmatchedUids);
  const resolved = resolveMemberships(users, groups, { nested: groupSettings.nestedGroups });
  warnings.push(...resolved.warnings);
  return withMapping(snapshot(resolved.groups));

  /** Adds each user's mapping input (group names, team groups, mapped attributes) when mapping is on. */
  async function withMapping(read: DirectorySnapshot): Promise<DirectorySnapshot> {
    if (mapping === undefined || read.failure !== undefined) return read;
    let names;
    try {
      names = await readGroupNamesForSync(directory, { mapping, users: settings.users, groups: settings.groups }, users, read.groups, (message) =>
        warnings.push(message),
      );
    } catch (error) {
      if (isMissingBase(error)) throw nameBaseDnSetting(error, { users: settings.users, groups: settings.groups, mapping });
      return { ...read, groups: [], failure: failureOf(error, 'mapping', 0) };
    }
    return { ...read, users: withMappingInputs(users, names, attributesByUser) };
  }
}

/** Each user with its mapping input: the group names the mapping reads, and its mapped attributes. */
export function withMappingInputs(
  users: readonly MappedUser[],
  names: GroupNamesByUser,
  attributesByUser: ReadonlyMap<string, Pick<UserMappingInput, 'customFields' | 'abacAttributes'>>,
): MappedUserWithInput[] {
  const empty = { customFields: {}, abacAttributes: {} };
  return users.map((user) => ({
    ...user,
    mapping: {
      groupNames: names.groupNames.get(user.externalId) ?? [],
      teamGroupNames: names.teamGroupNames.get(user.externalId) ?? [],
      ...(attributesByUser.get(user.externalId) ?? empty),
    },
  }));
}

function failureOf(error: unknown, phase: ReadFailure['phase'], entriesRead: number): ReadFailure {
  if (isDirbridgeError(error)) return { code: error.code, message: error.message, phase, entriesRead };
  return { code: 'internal', message: error instanceof Error ? error.message : String(error), phase, entriesRead };
}
