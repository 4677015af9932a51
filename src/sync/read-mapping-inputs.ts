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
 * user, few queries.
 *
 * The User Group Filter decides every mapped group, nested or not. With groups.nestedGroups on,
 * it decides each mapped group's direct members, users AND groups: a user is in a mapped group G
 * when the filter admits the user into G, or admits into G one of the groups the user is in
 * (directly or through nesting, as groups.* resolves them; `memberGroupQuery` asks the filter
 * about a group). So a filter that admits fewer members of G takes G away from exactly the users
 * who reached it only through them, and nesting still reaches users through unmapped groups. A
 * filter with AD's in-chain rule follows nesting itself and gets nothing added. A sync asks the
 * filter once per group (in memory), a login in the same one query per mapped group (or one in
 * all, "once") it always made, over the user and its groups together.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import { dnKeyOf } from '../ldap/dn.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { extensible, type Filter, fillFilterTemplate, LDAP_MATCHING_RULE_IN_CHAIN, or } from '../ldap/filter.ts';
import { mappedGroupNames } from '../mapping/grants.ts';
import {
  attributesFor,
  candidateReadFilter,
  type GroupEntryIndex,
  type GroupQuery,
  type InChainQuery,
  inChainQuery,
  indexGroupEntries,
  isLocallyEvaluable,
  memberGroupQuery,
  parseGroupQuery,
  resolvesNesting,
  userGroupNames,
  withMemberUniqueIdentifiers,
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
      : {
          groups: {
            query: parseGroupQuery(mapping.groupSearch.userGroupFilter, mapping.groupSearch.strategy),
            baseDn: groupBase,
            names,
            nameAttributes: mapping.groupSearch.nameAttribute,
          },
        }),
    ...(teamNames.length === 0
      ? {}
      : {
          teams: {
            query: parseGroupQuery(mapping.teams.userGroupsQuery, 'once'),
            baseDn: mapping.teams.baseDn ?? groupBase,
            names: teamNames,
            nameAttributes: mapping.teams.nameAttribute,
          },
        }),
  };
}

/** Who the filter is asked about: a user, or (nested groups) a group in a user's place. */
interface Member {
  /** The user's external id, or the group's DN key (`ResolvedGroup.dnKey`). */
  key: string;
  dn: string;
  /** Undefined for a group: its question has no `#{username}` (see `memberGroupQuery`). */
  username?: string;
  uniqueIdentifiers?: readonly string[] | undefined;
}

const userMember = (user: MappedUser): Member => ({ key: user.externalId, dn: user.dn, username: user.username, uniqueIdentifiers: user.uniqueIdentifiers });
/** A group in a user's place; its key is its DN key (only the sync's answers are kept by key). */
const groupMember = (group: { dn: string; dnKey?: string; uniqueIdentifiers?: readonly string[] | undefined }): Member => ({
  key: group.dnKey ?? group.dn,
  dn: group.dn,
  uniqueIdentifiers: group.uniqueIdentifiers,
});

/** The question about groups as members of mapped groups, when nesting adds memberships; undefined otherwise. */
function nestingQuestion(question: Question | undefined, groups: GroupSettings | undefined): Question | undefined {
  if (question === undefined || groups?.enabled !== true || !groups.nestedGroups || resolvesNesting(question.query)) return undefined;
  const query = memberGroupQuery(question.query);
  return query === undefined ? undefined : { ...question, query };
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
  const members = users.map(userMember);
  const answer = async (question: Question | undefined, label: string, nesting?: Question): Promise<Map<string, string[]>> => {
    const result = new Map<string, string[]>();
    if (question === undefined) return result;
    // Groups that hold users are asked about in the users' place (see the module comment).
    const memberGroups = nesting === undefined ? [] : resolvedGroups.filter((group) => group.memberUserIds.length > 0);
    const byGroup = new Map<string, string[]>();
    if (!isLocallyEvaluable(question.query)) {
      const perGroup = directory.rootDse.serverType === 'active-directory' ? inChainQuery(question.query) : undefined;
      if (perGroup !== undefined) return askServerPerGroup(directory, question, perGroup, settings.users.baseDn, users);
      warn(
        `${label} ${question.query.template.text} cannot be evaluated locally; asking the server for each user${nesting === undefined ? '' : ' and each group that holds users'}`,
      );
      await askServerFor(directory, question, members, result);
      if (nesting !== undefined) await askServerFor(directory, nesting, memberGroups.map(groupMember), byGroup);
      return withNestedNames(result, question.names, byGroup, memberGroups);
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
    // Never guess "no groups" (auto-remove would take grants away): ask the server instead.
    const undecided = answerLocally(index, question, members, result);
    if (undecided.length > 0) {
      warn(`${label} could not be decided locally for some users; asked the server for them`);
      await askServerFor(directory, question, undecided, result);
    }
    if (nesting !== undefined) {
      const groupsUndecided = answerLocally(index, nesting, memberGroups.map(groupMember), byGroup);
      if (groupsUndecided.length > 0) {
        warn(`${label} could not be decided locally for some member groups; asked the server for them`);
        await askServerFor(directory, nesting, groupsUndecided, byGroup);
      }
    }
    return withNestedNames(result, question.names, byGroup, memberGroups);
  };
  const groupNames = await answer(asked.groups, 'the User Group Filter', nestingQuestion(asked.groups, settings.groups));
  return { groupNames, teamGroupNames: await answer(asked.teams, 'the LDAP query to get user groups') };
}

/** Answers from the index; returns the members it could not decide (the caller asks the server). */
function answerLocally(index: GroupEntryIndex, question: Question, members: readonly Member[], result: Map<string, string[]>): Member[] {
  const undecided: Member[] = [];
  for (const member of members) {
    const local = userGroupNames(
      index,
      question.query,
      { username: member.username ?? '', dn: member.dn, uniqueIdentifiers: member.uniqueIdentifiers },
      question.names,
      question.nameAttributes,
    );
    if (local !== undefined) result.set(member.key, local);
    else undecided.push(member);
  }
  return undecided;
}

/**
 * Adds to each user the names its groups were admitted into (`byGroup`, by group DN key), once
 * each, in `names` order. Every user with an answer keeps it; users only reached through groups
 * get one. Without nesting `byGroup` is empty and `result` is returned as it is.
 */
function withNestedNames(
  result: Map<string, string[]>,
  names: readonly string[],
  byGroup: ReadonlyMap<string, readonly string[]>,
  groups: readonly ResolvedGroup[],
): Map<string, string[]> {
  if (byGroup.size === 0) return result;
  const added = new Map<string, Set<string>>();
  for (const group of groups) {
    const granted = byGroup.get(group.dnKey) ?? [];
    if (granted.length === 0) continue;
    for (const userId of group.memberUserIds) {
      let set = added.get(userId);
      if (set === undefined) added.set(userId, (set = new Set(result.get(userId) ?? [])));
      for (const name of granted) set.add(name);
    }
  }
  for (const [userId, set] of added)
    result.set(
      userId,
      names.filter((name) => set.has(name)),
    );
  return result;
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

/** The per-member fallback: every member's names from the server, `SERVER_QUERY_CONCURRENCY` at a time. */
async function askServerFor(directory: DirectoryConnection, question: Question, members: readonly Member[], result: Map<string, string[]>): Promise<void> {
  const found = new Map<string, string[]>();
  await forEachLimited(members, SERVER_QUERY_CONCURRENCY, async (member) => {
    found.set(member.key, await askServer(directory, question, [fillerOf(question, member)]));
  });
  // Set in the members' order, whatever order the answers came in.
  for (const member of members) {
    const names = found.get(member.key);
    if (names !== undefined) result.set(member.key, names);
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
    for await (const page of directory.searchPages({
      baseDn: question.baseDn,
      scope: 'sub',
      filter: fillFilterTemplate(query.groupSide, values),
      attributes: question.nameAttributes,
    })) {
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

/** Filled filters per server query at most: a login's user and groups are asked in OR filters of this many. */
export const MEMBERS_PER_QUERY = 100;

/**
 * Reads group names for one user (a login, a one-user sync) with server queries. `memberOf` is
 * the user's groups as `findUserGroups` resolves them (nested ones included); with
 * groups.nestedGroups each is asked about in the user's place, in the same query as the user (an
 * OR of the filled filters, split every MEMBERS_PER_QUERY), so the names are those a full sync
 * gives this user and the number of queries is what it was: one per mapped group ("each"), or one.
 */
export async function readGroupNamesForUser(
  directory: DirectoryConnection,
  settings: MappingReadSettings,
  user: MappedUser,
  memberOf: ReadonlyArray<{ dn: string; uniqueIdentifiers?: readonly string[] | undefined }>,
): Promise<{ groupNames: string[]; teamGroupNames: string[] }> {
  const asked = questions(settings);
  const ask = async (question: Question | undefined, nesting?: Question): Promise<string[]> => {
    if (question === undefined) return [];
    const fillers = [fillerOf(question, userMember(user))];
    if (nesting !== undefined) for (const group of memberOf) fillers.push(fillerOf(nesting, groupMember(group)));
    return askServer(directory, question, fillers);
  };
  return { groupNames: await ask(asked.groups, nestingQuestion(asked.groups, settings.groups)), teamGroupNames: await ask(asked.teams) };
}

/** Fills a question's filter for one member, given the group name ("each") or none ("once"). */
type Filler = (groupName?: string) => Filter;

function fillerOf(question: Question, member: Member): Filler {
  return (groupName) => {
    const values: Record<string, string> = {
      userdn: member.dn,
      ...(member.username === undefined ? {} : { username: member.username }),
      ...(groupName === undefined ? {} : { groupName }),
    };
    return withMemberUniqueIdentifiers(fillFilterTemplate(question.query.template, values), member.dn, member.uniqueIdentifiers);
  };
}

/**
 * Asks the server which mapped names the members (together) are in: per mapped group ("each":
 * does any entry match?) or once ("once": the names of the entries found), the members' filled
 * filters joined in OR filters of at most MEMBERS_PER_QUERY.
 */
async function askServer(directory: DirectoryConnection, question: Question, fillers: readonly Filler[]): Promise<string[]> {
  const search = (filters: Filter[]) =>
    directory.searchAll({
      baseDn: question.baseDn,
      scope: 'sub',
      filter: filters.length === 1 && filters[0] !== undefined ? filters[0] : or(...filters),
      attributes: question.nameAttributes,
      maxEntries: 10_000,
    });
  const batches: Filler[][] = [];
  for (let start = 0; start < fillers.length; start += MEMBERS_PER_QUERY) batches.push(fillers.slice(start, start + MEMBERS_PER_QUERY));
  if (question.query.strategy === 'each') {
    const found: string[] = [];
    for (const name of question.names) {
      for (const batch of batches) {
        if ((await search(batch.map((fill) => fill(name)))).length > 0) {
          found.push(name);
          break;
        }
      }
    }
    return found;
  }
  const wanted = new Map(question.names.map((name) => [name.toLowerCase(), name]));
  const found = new Set<string>();
  for (const batch of batches) {
    for (const entry of await search(batch.map((fill) => fill()))) {
      for (const attribute of question.nameAttributes) {
        const name = firstText(entry, [attribute]);
        const key = name?.toLowerCase();
        if (key !== undefined && wanted.has(key)) found.add(wanted.get(key) ?? key);
      }
    }
  }
  return question.names.filter((name) => found.has(name));
}
