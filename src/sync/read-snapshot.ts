/**
 * Reads a snapshot of users and groups, page by page, mapping each entry as it arrives so
 * raw entries are never all held at once. A failure mid-read is recorded in the snapshot
 * (never thrown away): the guard then refuses to act on it.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { isDirbridgeError } from '../errors.ts';
import { groupAttributesToRequest, mapGroupEntry, type MappedGroup } from '../mapping/group.ts';
import { resolveMemberships } from '../mapping/memberships.ts';
import { resolveUniqueIdAttribute } from '../mapping/unique-id.ts';
import { mapUserEntry, uniqueAttributes, userAttributesToRequest, type MappedUser, type SkippedEntry } from '../mapping/user.ts';
import { isMappingActive, mappedAttributeNames, mappedAttributes, type UserMappingInput } from '../mapping/grants.ts';
import type { DirectorySettings, GroupSettings, MappingSettings, UserSettings } from '../settings/schema.ts';
import { readGroupNamesForSync } from './read-mapping-inputs.ts';
import type { DirectorySnapshot, ReadFailure } from './snapshot.ts';

/** The settings slices a snapshot read needs. */
export interface SnapshotSettings {
  directory: Pick<DirectorySettings, 'attributesToQuery' | 'pageSize'>;
  users: UserSettings;
  groups?: GroupSettings | undefined;
  /** When given and any part is enabled, each user gets its mapping input. */
  mapping?: MappingSettings | undefined;
}


/** Progress callback: called after each page with the running totals. */
export type ReadProgress = (progress: { phase: 'users' | 'groups'; entriesRead: number }) => void;

/** Reads and maps every user and group; never throws for directory faults, records them instead. */
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
  const snapshot = (groups: DirectorySnapshot['groups'], failure?: ReadFailure): DirectorySnapshot => ({
    users,
    groups,
    skippedUsers,
    skippedGroups,
    warnings,
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
      attributes: uniqueAttributes([
        ...userAttributesToRequest(settings.users, userIdAttribute),
        ...(mapping === undefined ? [] : mappedAttributeNames(mapping)),
        ...settings.directory.attributesToQuery,
      ]),
      pageSize: settings.directory.pageSize,
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
    return snapshot([], failureOf(error, 'users', entriesRead));
  }
  for (const skipped of skippedUsers) warnings.push(`user entry ${skipped.dn} skipped: ${skipped.reason}`);

  const groupSettings = settings.groups;
  if (groupSettings === undefined || !groupSettings.enabled) return withMapping(snapshot([]));
  const groupIdAttribute = resolveUniqueIdAttribute(groupSettings.uniqueIdAttribute, serverType);
  const groups: MappedGroup[] = [];
  entriesRead = 0;
  try {
    const pages = directory.searchPages({
      baseDn: groupSettings.baseDn,
      scope: groupSettings.scope,
      filter: groupSettings.filter,
      attributes: groupAttributesToRequest(groupSettings, groupIdAttribute),
      pageSize: settings.directory.pageSize,
    });
    for await (const page of pages) {
      for (const entry of page) {
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
    return snapshot([], failureOf(error, 'groups', entriesRead));
  }
  for (const skipped of skippedGroups) warnings.push(`group entry ${skipped.dn} skipped: ${skipped.reason}`);
  const resolved = resolveMemberships(users, groups, { nested: groupSettings.nestedGroups });
  warnings.push(...resolved.warnings);
  return withMapping(snapshot(resolved.groups));

  /** Adds each user's mapping input (group names, team groups, mapped attributes) when mapping is on. */
  async function withMapping(read: DirectorySnapshot): Promise<DirectorySnapshot> {
    if (mapping === undefined || read.failure !== undefined) return read;
    let names;
    try {
      names = await readGroupNamesForSync(directory, { mapping, users: settings.users, groups: settings.groups }, users, read.groups, (message) => warnings.push(message));
    } catch (error) {
      return { ...read, groups: [], failure: failureOf(error, 'mapping', 0) };
    }
    const empty = { customFields: {}, abacAttributes: {} };
    return {
      ...read,
      users: users.map((user) => ({
        ...user,
        mapping: {
          groupNames: names.groupNames.get(user.externalId) ?? [],
          teamGroupNames: names.teamGroupNames.get(user.externalId) ?? [],
          ...(attributesByUser.get(user.externalId) ?? empty),
        },
      })),
    };
  }
}

function failureOf(error: unknown, phase: ReadFailure['phase'], entriesRead: number): ReadFailure {
  if (isDirbridgeError(error)) return { code: error.code, message: error.message, phase, entriesRead };
  return { code: 'internal', message: error instanceof Error ? error.message : String(error), phase, entriesRead };
}
