/**
 * An in-memory DirectoryConnection for unit tests: entries held in a list, searches evaluated
 * with `matchesFilter` (the server's matching rules as dirbridge models them), scopes honoured,
 * `maxEntries` enforced like the real connection, and every search counted.
 */
import type { DirectoryConnection } from '../../src/directory/index.ts';
import type { ServerType } from '../../src/directory/root-dse.ts';
import { DirbridgeError } from '../../src/errors.ts';
import { isDescendantOf, normalizeDn, parentDn } from '../../src/ldap/dn.ts';
import type { DirectoryEntry } from '../../src/ldap/entry.ts';
import { type Filter, formatFilter, matchesFilter, parseFilter } from '../../src/ldap/filter.ts';

/** What a memory directory records of each search. */
export interface RecordedSearch {
  baseDn: string;
  filter: string;
}

/** A memory directory: the connection, its searches so far, and a switch to fail the next ones. */
export interface MemoryDirectory extends DirectoryConnection {
  readonly searches: RecordedSearch[];
  /** Makes a search throw `directory.unavailable` when `predicate` says so (undefined: never). */
  failWhen(predicate: ((search: RecordedSearch, index: number) => boolean) | undefined): void;
}

function inScope(dn: string, baseDn: string, scope: 'base' | 'one' | 'sub'): boolean {
  if (scope === 'base') return normalizeDn(dn) === normalizeDn(baseDn);
  if (scope === 'one') {
    const parent = parentDn(dn);
    return parent !== undefined && normalizeDn(parent) === normalizeDn(baseDn);
  }
  return isDescendantOf(dn, baseDn, { includeSelf: true });
}

function project(entry: DirectoryEntry, attributes: readonly string[]): DirectoryEntry {
  if (attributes.length === 0 || attributes.includes('*')) return entry;
  const wanted = new Set(attributes.map((attribute) => attribute.toLowerCase()));
  return { dn: entry.dn, attributes: Object.fromEntries(Object.entries(entry.attributes).filter(([name]) => wanted.has(name))) };
}

/** Entries with lower-cased attribute names, as the real connection normalises them. */
export function entry(dn: string, attributes: Record<string, Array<string | Buffer>>): DirectoryEntry {
  return {
    dn,
    attributes: Object.fromEntries(
      Object.entries(attributes)
        .filter(([, values]) => values.length > 0)
        .map(([name, values]) => [name.toLowerCase(), values]),
    ),
  };
}

/** Opens a memory directory over `entries`. */
export function memoryDirectory(entries: readonly DirectoryEntry[], serverType: ServerType = 'openldap'): MemoryDirectory {
  const searches: RecordedSearch[] = [];
  let failing: ((search: RecordedSearch, index: number) => boolean) | undefined;
  const run = (request: { baseDn: string; scope: 'base' | 'one' | 'sub'; filter: Filter | string; attributes: string[] }): DirectoryEntry[] => {
    const filter = typeof request.filter === 'string' ? parseFilter(request.filter) : request.filter;
    const search = { baseDn: request.baseDn, filter: formatFilter(filter) };
    searches.push(search);
    if (failing?.(search, searches.length - 1) === true) throw new DirbridgeError('directory.unavailable', `injected fault on search ${searches.length}`);
    return entries
      .filter((candidate) => inScope(candidate.dn, request.baseDn, request.scope) && matchesFilter(candidate, filter) === true)
      .map((found) => project(found, request.attributes));
  };
  const close = async () => {};
  return {
    url: 'ldap://memory',
    security: 'plain',
    rootDse: { serverType, supportedControls: [], supportedExtensions: [], supportedSaslMechanisms: [], namingContexts: [], supportsPaging: true },
    searches,
    failWhen(predicate) {
      failing = predicate;
    },
    async *searchPages(request) {
      yield run(request);
    },
    async searchAll(request) {
      const found = run(request);
      if (found.length > request.maxEntries) throw new DirbridgeError('directory.size_limit', `more than ${request.maxEntries} entries`);
      return found;
    },
    async searchWithControls() {
      throw new DirbridgeError('directory.unsupported', 'the memory directory sends no controls');
    },
    async bind() {},
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Options of {@link randomOrganisation}. */
export interface RandomOrganisationOptions {
  seed: number;
  users?: number;
  groups?: number;
  /** Groups the sync does not read (outside ou=groups, or of a class groups.filter leaves out) that still hold users and sit in read groups. */
  outsiders?: number;
  /**
   * RFC 4517 unique identifiers: some users and groups get `x500UniqueIdentifier` values, and some
   * `uniqueMember` values a `#'…'B` UID: the member's own (a membership), a stale one, or one for a
   * member without any (neither is). Drawn from a separate random stream, so the rest of the
   * organisation is the same as without.
   */
  uniqueIds?: boolean;
}

/** The base DN of {@link randomOrganisation}. */
export const MEMORY_BASE_DN = 'dc=example,dc=org';

/**
 * A random organisation for the memory directory: users under ou=people; groupOfNames,
 * groupOfUniqueNames and posixGroup groups under ou=groups with random user members and random
 * member groups (cycles included, DNs written in varying case); and "outsider" groups the sync
 * does not read that still list users and sit inside read groups. Group cn is `g<n>` (`x<n>`
 * for outsiders), user uid `u<n>`. Deterministic for a seed.
 */
export function randomOrganisation(options: RandomOrganisationOptions): DirectoryEntry[] {
  let state = options.seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (count: number) => Math.floor(random() * count);
  const userCount = options.users ?? 30;
  const groupCount = options.groups ?? 24;
  const outsiderCount = options.outsiders ?? 4;
  const shout = (dn: string) => (random() < 0.3 ? dn.toUpperCase().replace(/,/g, ', ') : dn);
  const userDn = (index: number) => `uid=u${index},ou=people,${MEMORY_BASE_DN}`;
  const groupDn = (index: number) => `cn=g${index},ou=groups,${MEMORY_BASE_DN}`;
  const kinds = ['groupOfNames', 'groupOfNames', 'groupOfUniqueNames', 'posixGroup'] as const;
  const entries: DirectoryEntry[] = [];
  for (let index = 0; index < userCount; index += 1) {
    entries.push(
      entry(userDn(index), { objectClass: ['inetOrgPerson'], uid: [`u${index}`], cn: [`User ${index}`], sn: ['User'], entryUUID: [`user-${index}`] }),
    );
  }
  const kindOf = Array.from({ length: groupCount }, () => kinds[pick(kinds.length)] ?? 'groupOfNames');
  const outsiderDn = (index: number) => (index % 2 === 0 ? `cn=x${index},ou=other,${MEMORY_BASE_DN}` : `cn=x${index},ou=groups,${MEMORY_BASE_DN}`);
  const outsiderParents = new Map<number, string[]>();
  for (let index = 0; index < outsiderCount; index += 1) {
    const parent = pick(groupCount);
    if (kindOf[parent] !== 'posixGroup') outsiderParents.set(parent, [...(outsiderParents.get(parent) ?? []), outsiderDn(index)]);
    const members = Array.from({ length: 1 + pick(3) }, () => userDn(pick(userCount)));
    // Even indexes live outside groups.baseDn; odd ones are of a class groups.filter does not match.
    entries.push(
      entry(outsiderDn(index), {
        objectClass: [index % 2 === 0 ? 'groupOfNames' : 'groupOfEntries'],
        cn: [`x${index}`],
        member: members,
        entryUUID: [`outsider-${index}`],
      }),
    );
  }
  for (let index = 0; index < groupCount; index += 1) {
    const kind = kindOf[index] ?? 'groupOfNames';
    const users = [...new Set(Array.from({ length: pick(5) }, () => pick(userCount)))];
    const attributes: Record<string, string[]> = { objectClass: [kind], cn: [`g${index}`], entryUUID: [`group-${index}`] };
    if (kind === 'posixGroup') {
      attributes['memberUid'] = users.map((user) => `u${user}`);
    } else {
      // Member groups: mostly lower-numbered (a forest), sometimes any (cycles).
      const children = [...new Set(Array.from({ length: pick(3) }, () => (random() < 0.8 && index > 0 ? pick(index) : pick(groupCount))))].filter(
        (child) => child !== index || random() < 0.5,
      );
      const values = [...users.map((user) => shout(userDn(user))), ...children.map((child) => shout(groupDn(child))), ...(outsiderParents.get(index) ?? [])];
      attributes[kind === 'groupOfNames' ? 'member' : 'uniqueMember'] = values;
    }
    entries.push(entry(groupDn(index), attributes));
  }
  return options.uniqueIds === true ? withUniqueIdentifiers(entries, options.seed) : entries;
}

/** Adds unique identifiers and UID-suffixed uniqueMember values (see `RandomOrganisationOptions.uniqueIds`). */
function withUniqueIdentifiers(entries: readonly DirectoryEntry[], seed: number): DirectoryEntry[] {
  let state = (seed ^ 0x9e3779b9) >>> 0;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  const bits = () => Array.from({ length: 1 + Math.floor(random() * 6) }, () => (random() < 0.5 ? '0' : '1')).join('');
  const uidsByDn = new Map<string, string[]>();
  const withIds = entries.map((found) => {
    const classes = (found.attributes['objectclass'] ?? []).map(String);
    const mayHold = classes.includes('inetOrgPerson') || classes.includes('groupOfUniqueNames') || classes.includes('groupOfNames');
    if (!mayHold || random() < 0.5) return found;
    const uids = [...new Set(Array.from({ length: random() < 0.8 ? 1 : 2 }, bits))];
    uidsByDn.set(normalizeDn(found.dn), uids);
    return { dn: found.dn, attributes: { ...found.attributes, x500uniqueidentifier: uids.map((uid) => `'${uid}'B`) } };
  });
  return withIds.map((found) => {
    const values = found.attributes['uniquemember'];
    if (values === undefined) return found;
    const suffixed = values.map((value) => {
      const own = uidsByDn.get(normalizeDn(String(value)));
      const roll = random();
      if (roll < 0.4) return value;
      // The member's own UID (counts), a stale one, or one for a member that has none (neither counts).
      const uid = own !== undefined && roll < 0.8 ? (own[Math.floor(random() * own.length)] ?? bits()) : `${bits()}${own === undefined ? '' : '0'}`;
      return `${String(value)}#'${uid}'B`;
    });
    return { dn: found.dn, attributes: { ...found.attributes, uniquemember: suffixed } };
  });
}
