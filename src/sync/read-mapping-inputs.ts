/**
 * Reads what the role/channel/team mapping needs: which mapped groups each user is in, and
 * which team groups. A sync reads the candidate group entries once and evaluates the User
 * Group Filter in memory, so the number of searches does not grow with users × groups. A filter
 * using AD's in-chain rule as `(&G (member:1.2.840.113556.1.4.1941:=#{userdn}))` is asked per
 * GROUP instead: the entries matching G (once, or once per mapped group name with #{groupName}),
 * then each one's transitive members with one paged `(memberOf:1.2.840.113556.1.4.1941:=<DN>)`
 * search under the users' base, inverted to user → groups. Only another filter the server alone
 * can evaluate (or the in-chain rule on a server that is not AD) falls back to per-user server
 * queries, a few at a time, reported once per run. A single login always asks the server: one
 * user, few queries; with nested groups it adds the same names a sync adds, from the user's
 * resolved groups.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { normalizeDn } from '../ldap/dn.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { extensible, fillFilterTemplate, LDAP_MATCHING_RULE_IN_CHAIN } from '../ldap/filter.ts';
import { mappedGroupNames, withMemberGroupNames } from '../mapping/grants.ts';
import {
  attributesFor,
  candidateReadFilter,
  inChainQuery,
  indexGroupEntries,
  isLocallyEvaluable,
  parseGroupQuery,
  userGroupNames,
  type GroupQuery,
  type InChainQuery,
} from '../mapping/group-filter.ts';
import type { ResolvedGroup } from '../mapping/memberships.ts';
import { firstText, type MappedUser } from '../mapping/user.ts';
import type { GroupSettings, MappingSettings, UserSettings } from '../settings/schema.ts';

/** Group names per user external id: mapped groups (roles, channels, admin) and team groups. */
export interface GroupNamesByUser {
  groupNames: Map<string, string[]>;
  teamGroupNames: Map<string, string[]>;
}

/** The settings slices the mapping read needs. */
export interface MappingReadSettings {
  mapping: MappingSettings;
  users: Pick<UserSettings, 'baseDn'>;
  groups?: GroupSettings | undefined;
}

/** One group-name question: the query, where to ask it, which names matter and where names live. */
interface Question {
  query: GroupQuery;
  baseDn: string;
  names: string[];
  nameAttributes: string[];
}

function questions(settings: MappingReadSettings): { groups?: Question; teams?: Question } {
  const { mapping } = settings;
  const groupBase = mapping.groupSearch.baseDn ?? settings.groups?.baseDn ?? settings.users.baseDn;
  const names = mappedGroupNames(mapping);
  const teamNames = mapping.teams.enabled ? Object.keys(mapping.teams.map) : [];
  return {
    ...(names.length === 0
      ? {}
      : { groups: { query: parseGroupQuery(mapping.groupSearch.userGroupFilter, mapping.groupSearch.strategy), baseDn: groupBase, names, nameAttributes: mapping.groupSearch.nameAttribute } }),
    ...(teamNames.length === 0
      ? {}
      : { teams: { query: parseGroupQuery(mapping.teams.userGroupsQuery, 'once'), baseDn: mapping.teams.baseDn ?? groupBase, names: teamNames, nameAttributes: mapping.teams.nameAttribute } }),
  };
}

/** Reads group names for every user of a sync; `warn` is called once per question that needs the server. */
export async function readGroupNamesForSync(
  directory: DirectoryConnection,
  settings: MappingReadSettings,
  users: readonly MappedUser[],
  resolvedGroups: readonly ResolvedGroup[],
  warn: (message: string) => void,
): Promise<GroupNamesByUser> {
  const asked = questions(settings);
  const answer = async (question: Question | undefined, label: string): Promise<Map<string, string[]>> => {
    const result = new Map<string, string[]>();
    if (question === undefined) return result;
    if (!isLocallyEvaluable(question.query)) {
      const perGroup = directory.rootDse.serverType === 'active-directory' ? inChainQuery(question.query) : undefined;
      if (perGroup !== undefined) return askServerPerGroup(directory, question, perGroup, settings.users.baseDn, users);
      warn(`${label} ${question.query.template.text} cannot be evaluated locally; asking the server for each user`);
      await askServerForUsers(directory, question, users, result);
      return result;
    }
    const entries: DirectoryEntry[] = [];
    for await (const page of directory.searchPages({
      baseDn: question.baseDn,
      scope: 'sub',
      filter: candidateReadFilter(question.query),
      attributes: attributesFor(question.query, question.nameAttributes),
    })) {
      for (const entry of page) entries.push(entry);
    }
    const index = indexGroupEntries(entries);
    const undecided: MappedUser[] = [];
    for (const user of users) {
      const local = userGroupNames(index, question.query, { username: user.username, dn: user.dn }, question.names, question.nameAttributes);
      if (local !== undefined) result.set(user.externalId, local);
      else undecided.push(user);
    }
    // Never guess "no groups" (auto-remove would take grants away): ask the server instead.
    if (undecided.length > 0) {
      warn(`${label} could not be decided locally for some users; asked the server for them`);
      await askServerForUsers(directory, question, undecided, result);
    }
    return result;
  };
  const groupNames = await answer(asked.groups, 'the User Group Filter');
  if (asked.groups !== undefined && settings.groups?.nestedGroups === true) addNestedMemberships(groupNames, asked.groups.names, resolvedGroups);
  return { groupNames, teamGroupNames: await answer(asked.teams, 'the LDAP query to get user groups') };
}

/** How many per-user (or per-group) server queries are in flight at once on the one connection. */
export const SERVER_QUERY_CONCURRENCY = 8;

/**
 * Runs `work` for every item, at most `limit` at a time. On the first failure no new work starts,
 * the work in flight is waited for (so nothing is left running on the connection), and that first
 * failure is thrown: a fault fails the whole read, never yields a partial answer.
 */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next] as T;
      next += 1;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

/** The per-user fallback: every user's names from the server, `SERVER_QUERY_CONCURRENCY` users at a time. */
async function askServerForUsers(directory: DirectoryConnection, question: Question, users: readonly MappedUser[], result: Map<string, string[]>): Promise<void> {
  const found = new Map<string, string[]>();
  await forEachLimited(users, SERVER_QUERY_CONCURRENCY, async (user) => {
    found.set(user.externalId, await askServer(directory, question, user));
  });
  // Set in the users' order, whatever order the answers came in.
  for (const user of users) {
    const names = found.get(user.externalId);
    if (names !== undefined) result.set(user.externalId, names);
  }
}

/** The mapped names an entry stands for: the first value of each name attribute that is a wanted name (case-insensitively), in the wanted spelling. */
function wantedNamesOf(entry: DirectoryEntry, nameAttributes: readonly string[], wanted: ReadonlyMap<string, string>): string[] {
  const names: string[] = [];
  for (const attribute of nameAttributes) {
    const key = firstText(entry, [attribute])?.toLowerCase();
    const name = key === undefined ? undefined : wanted.get(key);
    if (name !== undefined && !names.includes(name)) names.push(name);
  }
  return names;
}

function dnKeyOf(dn: string): string {
  try {
    return normalizeDn(dn);
  } catch {
    return dn.toLowerCase();
  }
}

/**
 * The in-chain filter asked per group (see `InChainQuery`): the group entries the filter's
 * group-side conditions find (one paged search, or one per mapped name when they use
 * #{groupName}), then one paged `(memberOf:1.2.840.113556.1.4.1941:=<group DN>)` search per
 * distinct group entry under the users' base, inverted to user → names. Gives every user the
 * names the per-user queries give (AD keeps `memberOf` as the back link of `member`), in
 * `question.names` order; users in no group get `[]`. A fault throws.
 */
async function askServerPerGroup(
  directory: DirectoryConnection,
  question: Question,
  query: InChainQuery,
  usersBaseDn: string,
  users: readonly MappedUser[],
): Promise<Map<string, string[]>> {
  const wanted = new Map(question.names.map((name) => [name.toLowerCase(), name]));
  /** Group entries by DN key: their DN and the mapped names they stand for. */
  const groups = new Map<string, { dn: string; names: Set<string> }>();
  const addGroup = (entry: DirectoryEntry, names: readonly string[]) => {
    if (names.length === 0) return;
    const key = dnKeyOf(entry.dn);
    const known = groups.get(key) ?? { dn: entry.dn, names: new Set<string>() };
    for (const name of names) known.names.add(name);
    groups.set(key, known);
  };
  const readGroupSide = async (values: Record<string, string>, namesOf: (entry: DirectoryEntry) => readonly string[]) => {
    for await (const page of directory.searchPages({ baseDn: question.baseDn, scope: 'sub', filter: fillFilterTemplate(query.groupSide, values), attributes: question.nameAttributes })) {
      for (const entry of page) addGroup(entry, namesOf(entry));
    }
  };
  if (question.query.strategy === 'once') await readGroupSide({}, (entry) => wantedNamesOf(entry, question.nameAttributes, wanted));
  else if (!query.usesGroupName) await readGroupSide({}, () => question.names);
  else await forEachLimited(question.names, SERVER_QUERY_CONCURRENCY, (name) => readGroupSide({ groupName: name }, () => [name]));

  const userKeys = new Set(users.map((user) => user.dnKey));
  const namesByUserKey = new Map<string, Set<string>>();
  await forEachLimited([...groups.values()], SERVER_QUERY_CONCURRENCY, async (group) => {
    const filter = extensible({ attribute: 'memberOf', matchingRule: LDAP_MATCHING_RULE_IN_CHAIN, value: group.dn });
    for await (const page of directory.searchPages({ baseDn: usersBaseDn, scope: 'sub', filter, attributes: ['1.1'] })) {
      for (const entry of page) {
        const key = dnKeyOf(entry.dn);
        if (!userKeys.has(key)) continue;
        const names = namesByUserKey.get(key) ?? new Set<string>();
        for (const name of group.names) names.add(name);
        namesByUserKey.set(key, names);
      }
    }
  });
  const result = new Map<string, string[]>();
  for (const user of users) {
    const names = namesByUserKey.get(user.dnKey);
    result.set(user.externalId, names === undefined ? [] : question.names.filter((name) => names.has(name)));
  }
  return result;
}

/**
 * Reads group names for one user (a login, a one-user sync) with server queries. `memberOf` is
 * the user's groups as `findUserGroups` resolves them (nested ones included), so with
 * groups.nestedGroups the names are those a full sync would give this user.
 */
export async function readGroupNamesForUser(
  directory: DirectoryConnection,
  settings: MappingReadSettings,
  user: MappedUser,
  memberOf: ReadonlyArray<{ name: string }>,
): Promise<{ groupNames: string[]; teamGroupNames: string[] }> {
  const asked = questions(settings);
  let groupNames = asked.groups === undefined ? [] : await askServer(directory, asked.groups, user);
  if (asked.groups !== undefined && settings.groups?.nestedGroups === true) {
    groupNames = withMemberGroupNames(groupNames, asked.groups.names, memberOf.map((group) => group.name));
  }
  return { groupNames, teamGroupNames: asked.teams === undefined ? [] : await askServer(directory, asked.teams, user) };
}

/** Asks the server: once per user ('once'), or once per mapped group ('each'). */
async function askServer(directory: DirectoryConnection, question: Question, user: MappedUser): Promise<string[]> {
  const search = (values: Record<string, string>) =>
    directory.searchAll({ baseDn: question.baseDn, scope: 'sub', filter: fillFilterTemplate(question.query.template, values), attributes: question.nameAttributes, maxEntries: 10_000 });
  if (question.query.strategy === 'each') {
    const found: string[] = [];
    for (const name of question.names) {
      if ((await search({ username: user.username, userdn: user.dn, groupName: name })).length > 0) found.push(name);
    }
    return found;
  }
  const wanted = new Map(question.names.map((name) => [name.toLowerCase(), name]));
  const found = new Set<string>();
  for (const entry of await search({ username: user.username, userdn: user.dn })) {
    for (const attribute of question.nameAttributes) {
      const name = firstText(entry, [attribute]);
      const key = name?.toLowerCase();
      if (key !== undefined && wanted.has(key)) found.add(wanted.get(key) ?? key);
    }
  }
  return [...found];
}

/** With nesting on, a user in a mapped group through a nested group counts as a member too. */
function addNestedMemberships(groupNames: Map<string, string[]>, names: readonly string[], resolvedGroups: readonly ResolvedGroup[]): void {
  const wanted = new Set(names.map((name) => name.toLowerCase()));
  const memberOf = new Map<string, string[]>();
  for (const group of resolvedGroups) {
    if (!wanted.has(group.name.toLowerCase())) continue;
    for (const userId of group.memberUserIds) memberOf.set(userId, [...(memberOf.get(userId) ?? []), group.name]);
  }
  for (const [userId, groups] of memberOf) groupNames.set(userId, withMemberGroupNames(groupNames.get(userId) ?? [], names, groups));
}
