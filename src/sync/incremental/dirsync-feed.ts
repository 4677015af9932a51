/**
 * Active Directory's DirSync feed (control 1.2.840.113556.1.4.841): a DirSync search from the
 * stored cookie returns the objects changed since, each with only its changed attributes, deleted
 * objects as tombstones, and (with incremental values) the member values added and removed. The
 * cookie, base64, is the position; it belongs to one DC, so the feed's identity is the DC's
 * `dsServiceName` and `invocationId` (a restored database gets a new invocationId).
 *
 * How events become changes:
 * - A changed group inside the query's base whose only changes are `member` values goes into
 *   `valueChanges`: one member added to a 50,000-member group costs one value. Anything else
 *   changed (a rename or a move changes `name`) puts its id in `idsToRead`: the pipeline reads it
 *   again whole with the query's base, scope and filter, so an object that no longer matches (or
 *   is deeper than a one-level scope) becomes a deletion there.
 * - A tombstone, or a changed object outside the base (moved out), is a deletion.
 *
 * DirSync always searches a whole naming context, and the server evaluates its filter on
 * tombstones and on objects as they are now, so it cannot be the query's filter: a user who stops
 * matching it (disabled, say) would not be reported, and a tombstone has lost most attributes
 * (mail, department...). The DirSync filter keeps only the query filter's top-level
 * `(objectClass=...)` conditions, which neither change on an object nor leave its tombstone;
 * without any it is `(objectClass=*)`. The attributes asked for are the query's and those its
 * filter names: an object is reported only when one of them changed.
 *
 * Groups hold their members as links, which AD keeps pointing at the member: renaming, moving or
 * deleting a member changes the DN values a group shows without changing the group, so DirSync
 * does not report the group (Samba drops even the removed value of a deleted member). The stored
 * groups would keep the old DNs. So the groups' read also asks, from the same cookie, which objects
 * of the naming context were renamed, moved, added or deleted (their `name` or `isDeleted` changed),
 * and reads again whole the groups that now list a renamed or moved one; after a deletion it reads
 * the changes once more without incremental values, which reports every group that lost a member,
 * and reads those again whole.
 *
 * What DirSync cannot see: back-links. `memberOf` is never reported, so a users' filter on
 * `memberOf` learns of a new member only through the groups' feed (when that group is synced) or
 * the periodic full sync; the same holds for every feed.
 *
 * A position is taken with a DirSync search whose filter matches no object (a zero objectGUID):
 * the server ends every DirSync search with a cookie at its highest committed USN whatever
 * matched (Samba's dirsync module; AD documents the cookie as the state after the search), so
 * this gives "now" without listing the directory, which a search without a cookie would.
 */
import { type DirectoryConnection, readAdServerIdentity, readDirSync, uniqueIdOf } from '../../directory/index.ts';
import { DirbridgeError, isDirbridgeError } from '../../errors.ts';
import { isDescendantOf } from '../../ldap/dn.ts';
import { and, eq, type Filter, or, parseFilter, present } from '../../ldap/filter.ts';
import type { ChangeFeed, FeedChanges, FeedQuery, ValueChange } from './change-feed.ts';
import { IDS_PER_SEARCH } from './read-entries-by-id.ts';

/** The only link attribute AD sends as incremental values that dirbridge reads as membership. */
const MEMBER_ATTRIBUTE = 'member';

/** Attributes DirSync sends with every changed object, whatever changed (besides the unique id). */
const ALWAYS_SENT = new Set(['instancetype']);

/** The naming context root holding `baseDn` (DirSync searches whole naming contexts). */
export function namingContextOf(directory: DirectoryConnection, baseDn: string): string {
  const holding = directory.rootDse.namingContexts.filter((context) => isDescendantOf(baseDn, context, { includeSelf: true }));
  holding.sort((a, b) => b.length - a.length);
  const found = holding[0] ?? directory.rootDse.defaultNamingContext;
  if (found === undefined) {
    throw new DirbridgeError('usage.invalid', `no naming context of ${directory.url} holds ${JSON.stringify(baseDn)}, so DirSync cannot follow it`, {
      details: { baseDn, namingContexts: directory.rootDse.namingContexts },
    });
  }
  return found;
}

/** The query filter's top-level `(objectClass=value)` conditions: true of an object for its life, and of its tombstone. */
export function dirSyncFilterOf(queryFilter: string): Filter {
  const parsed = parseFilter(queryFilter);
  const conjuncts = parsed.type === 'and' ? parsed.filters : [parsed];
  const classes = conjuncts.filter((node) => node.type === 'equality' && node.attribute.toLowerCase() === 'objectclass' && typeof node.value === 'string');
  if (classes.length === 0) return present('objectClass');
  return classes.length === 1 && classes[0] !== undefined ? classes[0] : and(...classes);
}

/** Attribute names a filter tests (lower case); `undefined` when it matches on DN components (`:dn:`). */
export function filterAttributes(filter: Filter): Set<string> | undefined {
  const names = new Set<string>();
  const visit = (node: Filter): boolean => {
    switch (node.type) {
      case 'and':
      case 'or':
        return node.filters.every(visit);
      case 'not':
        return visit(node.filter);
      case 'extensible':
        if (node.dnAttributes || node.attribute === undefined) return false;
        names.add(node.attribute.toLowerCase());
        return true;
      default:
        names.add(node.attribute.toLowerCase());
        return true;
    }
  };
  return visit(filter) ? names : undefined;
}

/** What DirSync is asked for a query: the query's attributes and the ones its filter tests. */
function dirSyncAttributes(query: FeedQuery): string[] {
  const attributes = [...query.attributes];
  const known = new Set(attributes.map((name) => name.toLowerCase()));
  for (const name of filterAttributes(parseFilter(query.filter)) ?? []) {
    if (!known.has(name)) {
      known.add(name);
      attributes.push(name);
    }
  }
  return attributes;
}

/** True when the query's filter may change its answer on a member value change (it tests member, or DN components). */
function filterDependsOnMembers(query: FeedQuery): boolean {
  const names = filterAttributes(parseFilter(query.filter));
  return names === undefined || names.has(MEMBER_ATTRIBUTE);
}

/** A DirSync changes feed. Throws `directory.sync_not_permitted` when the bind account lacks the replication right. */
export function createDirSyncFeed(): ChangeFeed {
  return {
    source: 'dirSync',
    serverIdentity: async (directory) => {
      const identity = await readAdServerIdentity(directory);
      return `${identity.invocationId} ${identity.dsServiceName}`;
    },
    start: async (directory, query) => (await dirSyncCookieNow(directory, namingContextOf(directory, query.baseDn))).toString('base64'),
    read: (directory, query, position) => readChanges(directory, query, position),
  };
}

/**
 * A DirSync cookie for "now": a DirSync search matching no object (a zero objectGUID), read to its
 * end. Also the cheapest check that the bind account may use DirSync at all.
 */
export async function dirSyncCookieNow(directory: DirectoryConnection, namingContext: string): Promise<Buffer> {
  let cookie: Buffer | undefined;
  for await (const event of readDirSync(directory, {
    namingContext,
    baseDn: namingContext,
    filter: eq('objectGUID', Buffer.alloc(16)),
    attributes: ['objectGUID'],
    incrementalValues: false,
    uniqueIdAttribute: 'objectGUID',
  })) {
    if (event.type === 'cookie') cookie = event.cookie;
  }
  if (cookie === undefined || cookie.length === 0) {
    throw new DirbridgeError('directory.protocol', `${directory.url} ended a DirSync search without a cookie`, { details: { url: directory.url } });
  }
  return cookie;
}

async function readChanges(directory: DirectoryConnection, query: FeedQuery, position: string | null): Promise<FeedChanges> {
  if (position === null || position === '') throw new DirbridgeError('sync.cursor_invalid', 'no DirSync cookie is stored; a full sync is needed');
  const cookie = Buffer.from(position, 'base64');
  const changes: FeedChanges = { entries: [], idsToRead: new Set(), deletedIds: new Set(), position };
  const valueChanges = new Map<string, ValueChange[]>();
  const rereadOnMemberChange = filterDependsOnMembers(query);
  const uniqueIdKey = query.uniqueIdAttribute.toLowerCase();
  const gone = (id: string): void => {
    changes.idsToRead.delete(id);
    valueChanges.delete(id);
    changes.deletedIds.add(id);
  };
  try {
    for await (const event of readDirSync(directory, {
      namingContext: namingContextOf(directory, query.baseDn),
      baseDn: query.baseDn,
      filter: dirSyncFilterOf(query.filter),
      attributes: dirSyncAttributes(query),
      cookie,
      incrementalValues: true,
      uniqueIdAttribute: query.uniqueIdAttribute,
    })) {
      switch (event.type) {
        case 'changed': {
          const id = event.uniqueId;
          changes.deletedIds.delete(id);
          const otherChanges = Object.keys(event.entry.attributes).some((name) => {
            const key = name.toLowerCase();
            return key !== uniqueIdKey && !ALWAYS_SENT.has(key);
          });
          const onlyMembers = event.valueChanges.every((change) => change.attribute.toLowerCase() === MEMBER_ATTRIBUTE);
          // Member values are applied to stored groups only; a user is always read again.
          if (query.scope !== 'groups' || otherChanges || !onlyMembers || rereadOnMemberChange || changes.idsToRead.has(id)) {
            valueChanges.delete(id);
            changes.idsToRead.add(id);
          } else if (event.valueChanges.length > 0) {
            valueChanges.set(id, [...(valueChanges.get(id) ?? []), ...event.valueChanges]);
          }
          break;
        }
        case 'deleted':
        case 'outside':
          gone(event.uniqueId);
          break;
        case 'cookie':
          changes.position = event.cookie.toString('base64');
          break;
      }
    }
    if (query.scope === 'groups') {
      const reread = await groupsWithMovedMembers(directory, query, cookie);
      for (const id of reread) {
        if (changes.deletedIds.has(id)) continue;
        valueChanges.delete(id);
        changes.idsToRead.add(id);
      }
    }
  } catch (error) {
    if (isDirbridgeError(error, 'directory.sync_cookie_invalid')) throw new DirbridgeError('sync.cursor_invalid', error.message, { cause: error });
    throw error;
  }
  changes.valueChanges = valueChanges;
  return changes;
}

/**
 * Ids of the groups (in the query's base, matching its filter) whose member values changed
 * because a member was renamed, moved or deleted since `cookie`: changes DirSync does not report
 * on the group (module notes).
 */
async function groupsWithMovedMembers(directory: DirectoryConnection, query: FeedQuery, cookie: Buffer): Promise<Set<string>> {
  const namingContext = namingContextOf(directory, query.baseDn);
  const moved: string[] = [];
  let sawDeletion = false;
  // Only `name` and `isDeleted` are asked (the reader adds them): an object comes back when it was
  // added, renamed, moved, deleted or undeleted.
  for await (const event of readDirSync(directory, {
    namingContext,
    baseDn: namingContext,
    filter: present('objectClass'),
    attributes: [],
    cookie,
    incrementalValues: false,
    uniqueIdAttribute: query.uniqueIdAttribute,
  })) {
    if (event.type === 'deleted') sawDeletion = true;
    else if (event.type !== 'cookie') moved.push(event.dn);
  }
  const found = new Set<string>();
  const base = parseFilter(query.filter);
  for (let start = 0; start < moved.length; start += IDS_PER_SEARCH) {
    const terms = moved.slice(start, start + IDS_PER_SEARCH).map((dn) => eq(MEMBER_ATTRIBUTE, dn));
    const filter = and(base, terms.length === 1 && terms[0] !== undefined ? terms[0] : or(...terms));
    for await (const page of directory.searchPages({
      baseDn: query.baseDn,
      scope: query.searchScope,
      filter,
      attributes: [query.uniqueIdAttribute],
      pageSize: query.pageSize,
    })) {
      for (const entry of page) {
        const id = uniqueIdOf(entry, query.uniqueIdAttribute);
        if (id !== undefined) found.add(id);
      }
    }
  }
  if (sawDeletion) {
    // Without incremental values a group that lost a deleted member comes back (with its whole
    // member list, which is not used: the group is read again with the query's attributes).
    for await (const event of readDirSync(directory, {
      namingContext,
      baseDn: query.baseDn,
      filter: dirSyncFilterOf(query.filter),
      attributes: [MEMBER_ATTRIBUTE],
      cookie,
      incrementalValues: false,
      uniqueIdAttribute: query.uniqueIdAttribute,
    })) {
      if (event.type === 'changed') found.add(event.uniqueId);
    }
  }
  return found;
}
