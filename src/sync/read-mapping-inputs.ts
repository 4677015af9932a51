/**
 * Reads what the role/channel/team mapping needs: which mapped groups each user is in, and
 * which team groups. A sync reads the candidate group entries once and evaluates the User
 * Group Filter in memory, so the number of searches does not grow with users × groups; only a
 * filter the server alone can evaluate (e.g. AD's in-chain rule) falls back to server queries,
 * which is reported once per run. A single login always asks the server: one user, few queries;
 * with nested groups it adds the same names a sync adds, from the user's resolved groups.
 */
import type { DirectoryConnection } from '../directory/index.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { fillFilterTemplate } from '../ldap/filter.ts';
import { mappedGroupNames, withMemberGroupNames } from '../mapping/grants.ts';
import { attributesFor, candidateReadFilter, indexGroupEntries, isLocallyEvaluable, parseGroupQuery, userGroupNames, type GroupQuery } from '../mapping/group-filter.ts';
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
      warn(`${label} ${question.query.template.text} cannot be evaluated locally; asking the server for each user`);
      for (const user of users) result.set(user.externalId, await askServer(directory, question, user));
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
    let hasWarned = false;
    for (const user of users) {
      const local = userGroupNames(index, question.query, { username: user.username, dn: user.dn }, question.names, question.nameAttributes);
      if (local !== undefined) {
        result.set(user.externalId, local);
        continue;
      }
      // Never guess "no groups" (auto-remove would take grants away): ask the server instead.
      if (!hasWarned) warn(`${label} could not be decided locally for some users; asked the server for them`);
      hasWarned = true;
      result.set(user.externalId, await askServer(directory, question, user));
    }
    return result;
  };
  const groupNames = await answer(asked.groups, 'the User Group Filter');
  if (asked.groups !== undefined && settings.groups?.nestedGroups === true) addNestedMemberships(groupNames, asked.groups.names, resolvedGroups);
  return { groupNames, teamGroupNames: await answer(asked.teams, 'the LDAP query to get user groups') };
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
