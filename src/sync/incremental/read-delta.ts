/**
 * The read of an incremental run: what changed since the stored positions, turned into the same
 * kind of snapshot a full read gives, but holding only the users whose account or memberships
 * can have changed, with every group (as stored, with the changes applied). Planned with scope
 * `delta`, it leaves the store as a full sync would (README, "Incremental sync").
 *
 * Users are affected when their entry changed, when a changed group's member values name them
 * (directly, or through a nested group: `affected-members.ts`), or when they left the search.
 * Affected users whose entries did not come with the changes are read again whole, by unique
 * id, a few hundred per search.
 */
import { type DirectoryConnection, uniqueIdOf } from '../../directory/index.ts';
import { dnKeyOf } from '../../ldap/dn.ts';
import type { DirectoryEntry } from '../../ldap/entry.ts';
import { isMappingActive, mappedAttributes, type UserMappingInput } from '../../mapping/grants.ts';
import { groupAttributesToRequest, type MappedGroup, mapGroupEntry, memberReferencesOf } from '../../mapping/group.ts';
import { resolveMemberships } from '../../mapping/memberships.ts';
import { resolveUniqueIdAttribute } from '../../mapping/unique-id.ts';
import { type MappedUser, mapUserEntry, type SkippedEntry } from '../../mapping/user.ts';
import type { StoredDirectoryGroup } from '../../model/index.ts';
import type { DirectoryIdentity } from '../../store/runs-repository.ts';
import type { Store } from '../../store/store.ts';
import { readGroupNamesForSync } from '../read-mapping-inputs.ts';
import { type SnapshotSettings, userReadAttributes, withMappingInputs } from '../read-snapshot.ts';
import type { DirectorySnapshot } from '../snapshot.ts';
import { affectedMembers, type MemberReferences } from './affected-members.ts';
import type { ChangeFeed, FeedChanges, FeedQuery, ValueChange } from './change-feed.ts';
import { readEntriesById } from './read-entries-by-id.ts';
import { mappedGroupOf, storedGroupOf } from './stored-groups.ts';

/** What an incremental read produced. */
export interface DeltaRead {
  /** The affected users (mapped, with mapping input) and every group, resolved for those users. */
  snapshot: DirectorySnapshot;
  /** Unique ids of users that left the users' search. */
  deletedUserIds: Set<string>;
  /** Unique ids of the groups whose entries this delta changed (added, changed or gone). */
  changedGroupIds: Set<string>;
  /** What to store of the group entries for the next run: the changed ones, and the ids of those gone. */
  groupsToStore: { upserted: StoredDirectoryGroup[]; removed: string[] };
  /** Where the next run reads from. */
  positions: { users: string | null; groups: string | null };
  /** Entries the directory sent (changes, and entries read again). */
  entriesRead: number;
}

/** The feed queries of a sync's settings on this server. */
export function feedQueries(
  settings: SnapshotSettings,
  serverType: DirectoryConnection['rootDse']['serverType'],
): { users: FeedQuery; groups: FeedQuery | undefined } {
  const userIdAttribute = resolveUniqueIdAttribute(settings.users.uniqueIdAttribute, serverType);
  const users: FeedQuery = {
    scope: 'users',
    baseDn: settings.users.baseDn,
    searchScope: settings.users.scope,
    filter: settings.users.filter,
    attributes: userReadAttributes(settings, userIdAttribute),
    uniqueIdAttribute: userIdAttribute,
    pageSize: settings.directory.pageSize,
  };
  const groupSettings = settings.groups;
  if (groupSettings === undefined || !groupSettings.enabled) return { users, groups: undefined };
  const groupIdAttribute = resolveUniqueIdAttribute(groupSettings.uniqueIdAttribute, serverType);
  return {
    users,
    groups: {
      scope: 'groups',
      baseDn: groupSettings.baseDn,
      searchScope: groupSettings.scope,
      filter: groupSettings.filter,
      attributes: groupAttributesToRequest(groupSettings, groupIdAttribute),
      uniqueIdAttribute: groupIdAttribute,
      pageSize: settings.directory.pageSize,
    },
  };
}

/** Reads the changes since `positions` and builds the delta snapshot. Directory faults throw: nothing is planned from a partial delta. */
export async function readDelta(
  directory: DirectoryConnection,
  settings: SnapshotSettings,
  deps: { store: Pick<Store, 'directoryState' | 'runs'>; feed: ChangeFeed; directoryId: string; positions: { users: string | null; groups: string | null } },
): Promise<DeltaRead> {
  const serverType = directory.rootDse.serverType;
  const queries = feedQueries(settings, serverType);
  const mapping = isMappingActive(settings.mapping) ? settings.mapping : undefined;
  const warnings: string[] = [];
  let entriesRead = 0;

  const userChanges = await deps.feed.read(directory, queries.users, deps.positions.users);
  entriesRead += userChanges.entries.length;

  /** The changed entries, each mapped once, by unique id. */
  const changedEntries = new Map<string, { entry: DirectoryEntry; mapped: ReturnType<typeof mapUserEntry> }>();
  // Entries without a unique id cannot be keyed: they are only reported as skipped (as a full read does).
  const unkeyed: SkippedEntry[] = [];
  for (const entry of userChanges.entries) {
    const mapped = mapUserEntry(entry, settings.users, queries.users.uniqueIdAttribute);
    const id = 'user' in mapped ? mapped.user.externalId : mapped.skipped.externalId;
    if (id !== undefined) changedEntries.set(id, { entry, mapped });
    else if ('skipped' in mapped) unkeyed.push(mapped.skipped);
  }
  const changedUsers = [...changedEntries.values()].flatMap(({ mapped }) => ('user' in mapped ? [mapped.user] : []));
  // After a present phase every stored user neither listed nor sent has left.
  const identities = userChanges.presentIds === undefined ? [] : await deps.store.runs.listDirectoryIdentities();
  const deletedUserIds = new Set(userChanges.deletedIds);
  if (userChanges.presentIds !== undefined) {
    const present = userChanges.presentIds;
    for (const { externalId } of identities) {
      if (!present.has(externalId) && !changedEntries.has(externalId) && !userChanges.idsToRead.has(externalId)) deletedUserIds.add(externalId);
    }
  }
  // DNs that stopped naming anyone: users moved, renamed or gone (and, below, groups). A server
  // rewrites the member values that held them (refint, AD's links) without always reporting it in
  // its change feed, so stored groups holding them are read again.
  const staleKeys = new Set<string>();
  const touched = [...changedEntries.keys(), ...deletedUserIds, ...userChanges.idsToRead];
  // Users a run found missing stay missing until the feed brings them back: each run counts them,
  // as each full run does (`sync.missingGraceRuns`).
  for (const id of await deps.store.runs.listMissingDirectoryUsers()) {
    if (!changedEntries.has(id) && !userChanges.idsToRead.has(id)) deletedUserIds.add(id);
  }
  for (const identity of touched.length === 0 ? [] : await deps.store.runs.findDirectoryIdentities(touched)) {
    if (identity.dn === null) continue;
    const entry = changedEntries.get(identity.externalId)?.entry;
    if (entry === undefined || dnKeyOf(entry.dn) !== dnKeyOf(identity.dn)) staleKeys.add(dnKeyOf(identity.dn));
  }

  const nested = settings.groups?.nestedGroups === true;

  // Groups: the stored entries with the changes applied.
  const before = new Map<string, MappedGroup>();
  for (const stored of await deps.store.directoryState.loadGroups(deps.directoryId)) before.set(stored.externalId, mappedGroupOf(stored));
  const after = new Map(before);
  const skippedGroups: SkippedEntry[] = [];
  const changedGroupIds = new Set<string>();
  let groupPosition: string | null = null;
  const groupSettings = settings.groups;
  if (queries.groups !== undefined && groupSettings !== undefined) {
    const groupQuery = queries.groups;
    const applyEntries = (entries: readonly DirectoryEntry[]) => {
      for (const entry of entries) {
        const mapped = mapGroupEntry(entry, groupSettings, groupQuery.uniqueIdAttribute);
        if ('group' in mapped) {
          after.set(mapped.group.externalId, mapped.group);
          warnings.push(...mapped.warnings);
        } else {
          skippedGroups.push(mapped.skipped);
          if (mapped.skipped.externalId !== undefined) after.delete(mapped.skipped.externalId);
        }
      }
    };
    const groupChanges = await deps.feed.read(directory, groupQuery, deps.positions.groups);
    groupPosition = groupChanges.position;
    const valueChanged = applyValueChanges(after, groupChanges.valueChanges, groupSettings.memberAttribute);
    for (const id of valueChanged.unknown) groupChanges.idsToRead.add(id);
    warnings.push(...valueChanged.warnings);
    const reread = await readEntriesById(directory, groupQuery, groupChanges.idsToRead);
    const groupEntries = [...groupChanges.entries, ...reread.entries];
    entriesRead += groupEntries.length;
    const gone = leavers(groupChanges, reread.missingIds, before.keys(), groupEntries, groupQuery.uniqueIdAttribute);
    // Ids sent to be read again are present (unless the read found them gone).
    for (const id of groupChanges.idsToRead) if (!reread.missingIds.has(id)) gone.delete(id);
    applyEntries(groupEntries);
    for (const id of gone) after.delete(id);
    for (const [id, old] of before) if (after.get(id)?.dnKey !== old.dnKey) staleKeys.add(old.dnKey);
    const fresh = new Set([...groupEntries.flatMap((entry) => uniqueIdOf(entry, groupQuery.uniqueIdAttribute) ?? []), ...gone]);
    const stale = new Set(
      [...after.values()]
        .filter((group) => !fresh.has(group.externalId) && group.memberDnKeys.some((key) => staleKeys.has(key.split('\u0000')[0] ?? key)))
        .map((group) => group.externalId),
    );
    // A changed user the stored groups no longer place where the store has it: those groups may
    // hold a DN the server rewrote unreported (the store's DN may already be the new one, after a
    // write-back rename), so they are read again too.
    for (const id of await groupsToRecheck(deps.store, changedUsers, after, nested)) if (!fresh.has(id)) stale.add(id);
    if (stale.size > 0) {
      const again = await readEntriesById(directory, groupQuery, stale);
      entriesRead += again.entries.length;
      applyEntries(again.entries);
      for (const id of again.missingIds) after.delete(id);
    }
    for (const id of new Set([...before.keys(), ...after.keys()])) {
      const old = before.get(id);
      const now = after.get(id);
      // Untouched groups are the very objects loaded: only replaced ones are compared.
      if (old !== now && (old === undefined || now === undefined || storedGroupOf(old).contentHash !== storedGroupOf(now).contentHash)) changedGroupIds.add(id);
    }
  }

  // Users: those changed, those the changed groups name, and those that left.
  const references = affectedMembers(before, after, changedGroupIds, { nested });
  const needsIdentities = (references.dnKeys.size > 0 || references.uids.size > 0) && identities.length === 0;
  if (needsIdentities) identities.push(...(await deps.store.runs.listDirectoryIdentities()));
  const toRead = new Set(userChanges.idsToRead);
  if (references.dnKeys.size > 0 || references.uids.size > 0) {
    for (const externalId of identitiesNamed(identities, references)) toRead.add(externalId);
  }
  for (const id of [...changedEntries.keys(), ...deletedUserIds]) toRead.delete(id);
  const reread = await readEntriesById(directory, queries.users, toRead);
  entriesRead += reread.entries.length;
  for (const id of reread.missingIds) deletedUserIds.add(id);

  const users: MappedUser[] = [];
  const skippedUsers: SkippedEntry[] = [...unkeyed];
  const attributesByUser = new Map<string, Pick<UserMappingInput, 'customFields' | 'abacAttributes'>>();
  const rereadMapped = reread.entries.map((entry) => ({ entry, mapped: mapUserEntry(entry, settings.users, queries.users.uniqueIdAttribute) }));
  for (const { entry, mapped } of [...changedEntries.values(), ...rereadMapped]) {
    if ('user' in mapped) {
      if (deletedUserIds.has(mapped.user.externalId)) continue;
      users.push(mapped.user);
      if (mapping !== undefined) attributesByUser.set(mapped.user.externalId, mappedAttributes(entry, mapping));
    } else {
      skippedUsers.push(mapped.skipped);
    }
  }

  const resolved = resolveMemberships(users, [...after.values()], { nested });
  warnings.push(...resolved.warnings);
  let snapshotUsers: DirectorySnapshot['users'] = users;
  if (mapping !== undefined) {
    const names = await readGroupNamesForSync(directory, { mapping, users: settings.users, groups: settings.groups }, users, resolved.groups, (message) =>
      warnings.push(message),
    );
    snapshotUsers = withMappingInputs(users, names, attributesByUser);
  }
  return {
    snapshot: {
      users: snapshotUsers,
      groups: resolved.groups,
      skippedUsers,
      skippedGroups,
      warnings,
      serverType,
      uniqueIdAttribute: queries.users.uniqueIdAttribute,
    },
    deletedUserIds,
    changedGroupIds,
    groupsToStore: {
      upserted: [...changedGroupIds].flatMap((id) => {
        const group = after.get(id);
        return group === undefined ? [] : [storedGroupOf(group)];
      }),
      removed: [...changedGroupIds].filter((id) => !after.has(id)),
    },
    positions: { users: userChanges.position, groups: groupPosition },
    entriesRead,
  };
}

/**
 * The users the member references name. Stored DNs are matched by their lower-cased text first
 * (what servers send is nearly always canonical already); only when a reference is left unmatched
 * are all stored DNs normalised, which is the cost of a full read's worth of DNs.
 */
function identitiesNamed(identities: readonly DirectoryIdentity[], references: MemberReferences): Set<string> {
  const named = new Set<string>();
  const wanted = new Set([...references.dnKeys].map((key) => key.split('\u0000')[0] ?? key));
  const byText = new Map<string, string>();
  for (const identity of identities) {
    if (identity.dn !== null) byText.set(identity.dn.toLowerCase(), identity.externalId);
    if (references.uids.has(identity.username.toLowerCase())) named.add(identity.externalId);
  }
  const unmatched = new Set<string>();
  for (const key of wanted) {
    const externalId = byText.get(key);
    if (externalId === undefined) unmatched.add(key);
    else named.add(externalId);
  }
  if (unmatched.size === 0) return named;
  for (const identity of identities) if (identity.dn !== null && unmatched.has(dnKeyOf(identity.dn))) named.add(identity.externalId);
  return named;
}

/**
 * Stored groups the store has changed users in, where the stored groups (as they are now) no
 * longer place them: read again, they say whether the user left or the stored entry is stale.
 */
async function groupsToRecheck(
  store: Pick<Store, 'runs'>,
  changedUsers: readonly MappedUser[],
  groups: ReadonlyMap<string, MappedGroup>,
  nested: boolean,
): Promise<Set<string>> {
  const recheck = new Set<string>();
  if (changedUsers.length === 0 || groups.size === 0) return recheck;
  const stored = await store.runs.listGroupsOfUsers(changedUsers.map((user) => user.externalId));
  if (stored.size === 0) return recheck;
  const users = changedUsers.filter((user) => stored.has(user.externalId));
  // Only the groups the store has them in (and, nested, the groups below those) decide.
  const byDnKey = new Map([...groups.values()].map((group) => [group.dnKey, group]));
  const relevant = new Map<string, MappedGroup>();
  const queue = [...stored.values()].flat().flatMap((id) => groups.get(id) ?? []);
  for (let index = 0; index < queue.length; index += 1) {
    const group = queue[index] as MappedGroup;
    if (relevant.has(group.externalId)) continue;
    relevant.set(group.externalId, group);
    if (nested) for (const key of group.memberDnKeys) queue.push(...(byDnKey.has(key) ? [byDnKey.get(key) as MappedGroup] : []));
  }
  const placed = new Map<string, Set<string>>();
  for (const group of resolveMemberships(users, [...relevant.values()], { nested }).groups) {
    for (const userId of group.memberUserIds) {
      const of = placed.get(userId) ?? new Set<string>();
      of.add(group.externalId);
      placed.set(userId, of);
    }
  }
  for (const [userId, groupIds] of stored)
    for (const groupId of groupIds) if (groups.has(groupId) && placed.get(userId)?.has(groupId) !== true) recheck.add(groupId);
  return recheck;
}

/**
 * Applies member values added and removed to the stored groups in `groups` (in place; each changed
 * group is replaced, never mutated). Returns the ids of groups not stored (to be read whole).
 */
function applyValueChanges(
  groups: Map<string, MappedGroup>,
  changes: ReadonlyMap<string, readonly ValueChange[]> | undefined,
  memberAttributes: readonly string[],
): { unknown: string[]; warnings: string[] } {
  const unknown: string[] = [];
  const warnings: string[] = [];
  for (const [id, valueChanges] of changes ?? []) {
    const group = groups.get(id);
    if (group === undefined) {
      unknown.push(id);
      continue;
    }
    const dnKeys = new Set(group.memberDnKeys);
    const uids = new Set(group.memberUids);
    for (const change of valueChanges) {
      if (!memberAttributes.some((attribute) => attribute.toLowerCase() === change.attribute.toLowerCase())) continue;
      const removed = memberReferencesOf(group.dn, change.attribute, change.removed);
      const added = memberReferencesOf(group.dn, change.attribute, change.added);
      warnings.push(...added.warnings);
      for (const key of removed.dnKeys) dnKeys.delete(key);
      for (const uid of removed.uids) uids.delete(uid);
      for (const key of added.dnKeys) dnKeys.add(key);
      for (const uid of added.uids) uids.add(uid);
    }
    groups.set(id, { ...group, memberDnKeys: [...dnKeys], memberUids: [...uids] });
  }
  return { unknown, warnings };
}

/** Ids that left a search: reported deleted, not found when read again, or (after a present phase) not listed present. */
function leavers(
  changes: FeedChanges,
  missing: ReadonlySet<string>,
  known: Iterable<string>,
  entries: readonly DirectoryEntry[],
  uniqueIdAttribute: string,
): Set<string> {
  const gone = new Set([...changes.deletedIds, ...missing]);
  if (changes.presentIds !== undefined) {
    const sent = new Set(entries.flatMap((entry) => uniqueIdOf(entry, uniqueIdAttribute) ?? []));
    for (const id of known) if (!changes.presentIds.has(id) && !sent.has(id)) gone.add(id);
  }
  return gone;
}
