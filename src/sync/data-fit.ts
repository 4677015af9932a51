/**
 * Warnings about settings that do not fit the directory's data: reads that succeed but leave
 * users or memberships out without an error. Each warning starts with the setting to change and
 * gives counts; none lists more than a few examples, so a directory of 100k entries gives a few
 * lines, never one per entry. Pure: read-snapshot feeds it what it saw.
 */
import type { DirectoryEntry } from '../ldap/entry.ts';
import type { MappedGroup } from '../mapping/group.ts';
import type { MappedUser, SkippedEntry } from '../mapping/user.ts';
import type { GroupSettings, UserSettings } from '../settings/schema.ts';

/** Every attribute dirbridge reads group members from. */
export const MEMBER_ATTRIBUTES = ['member', 'uniqueMember', 'memberUid'] as const;

/** How many examples a warning quotes at most. */
export const WARNING_EXAMPLES = 3;

/** The member attributes `groups.memberAttribute` leaves out: read only to count their values. */
export function unlistedMemberAttributes(settings: Pick<GroupSettings, 'memberAttribute'>): string[] {
  const listed = new Set(settings.memberAttribute.map((attribute) => attribute.toLowerCase()));
  return MEMBER_ATTRIBUTES.filter((attribute) => !listed.has(attribute.toLowerCase()));
}

/** Groups and values seen in one member attribute that is not listed. */
export interface UnlistedMemberCount {
  attribute: string;
  groups: number;
  values: number;
}

/** Counts, per unlisted attribute, the group entries that hold values in it and the values; keeps nothing else. */
export function createUnlistedMemberCounter(attributes: readonly string[]) {
  const counts = attributes.map((attribute): UnlistedMemberCount => ({ attribute, groups: 0, values: 0 }));
  return {
    /** Counts one group entry's values. */
    count(entry: DirectoryEntry): void {
      for (const tally of counts) {
        const values = entry.attributes[tally.attribute.toLowerCase()]?.length ?? 0;
        if (values === 0) continue;
        tally.groups += 1;
        tally.values += values;
      }
    },
    /** The attributes that held values, in the order given. */
    result(): UnlistedMemberCount[] {
      return counts.filter((tally) => tally.values > 0).map((tally) => ({ ...tally }));
    },
  };
}

const plural = (count: number, one: string, many: string): string => `${count} ${count === 1 ? one : many}`;

/** One warning per unlisted member attribute that holds values. */
export function unlistedMemberWarnings(counts: readonly UnlistedMemberCount[], settings: Pick<GroupSettings, 'memberAttribute'>): string[] {
  const listed = settings.memberAttribute.join(', ');
  return counts.map(
    (tally) =>
      `groups.memberAttribute: ${plural(tally.groups, 'group holds', 'groups hold')} ${plural(tally.values, `${tally.attribute} value`, `${tally.attribute} values`)} that ${tally.values === 1 ? 'is' : 'are'} ignored, because groups.memberAttribute lists only ${listed}; add ${tally.attribute} to groups.memberAttribute to count ${tally.values === 1 ? 'it' : 'them'}`,
  );
}

/** The warning for a user search that returned no entry at all. */
export function noUsersWarning(settings: Pick<UserSettings, 'filter' | 'baseDn' | 'scope'>): string {
  return `users.filter: ${settings.filter} matches no entry under ${settings.baseDn} (scope ${settings.scope}); check users.filter and users.baseDn`;
}

/**
 * One warning per setting that made entries be skipped (an entry without a username, unique id or
 * group name), with the count and a few DNs.
 */
export function skippedWarnings(skipped: readonly SkippedEntry[], kind: 'user' | 'group'): string[] {
  const bySetting = new Map<string, { attributes: string[]; dns: string[] }>();
  const warnings: string[] = [];
  for (const entry of skipped) {
    const group = bySetting.get(entry.setting) ?? { attributes: entry.missingAttributes, dns: [] };
    group.dns.push(entry.dn);
    bySetting.set(entry.setting, group);
  }
  for (const [setting, { attributes, dns }] of bySetting) {
    const examples = dns.slice(0, WARNING_EXAMPLES).join('; ');
    const more = dns.length > WARNING_EXAMPLES ? `; ${dns.length - WARNING_EXAMPLES} more` : '';
    const which = attributes.length === 1 ? `no ${attributes[0]} value` : `no value in any of ${attributes.join(', ')}`;
    const they = dns.length === 1 ? 'it has' : 'they have';
    warnings.push(
      `${setting}: ${plural(dns.length, `${kind} entry was`, `${kind} entries were`)} skipped because ${they} ${which} (${examples}${more}); change ${setting} to an attribute ${they}`,
    );
  }
  return warnings;
}

/** The warning for `memberUid` values that name no user read, if any. */
export function unmatchedMemberUidWarning(
  users: readonly Pick<MappedUser, 'username'>[],
  groups: readonly Pick<MappedGroup, 'memberUids'>[],
  settings: { users: Pick<UserSettings, 'usernameAttribute'> },
): string | undefined {
  const usernames = new Set(users.map((user) => user.username.toLowerCase()));
  let values = 0;
  let groupCount = 0;
  const examples: string[] = [];
  for (const group of groups) {
    let isCounted = false;
    for (const uid of group.memberUids) {
      if (usernames.has(uid.toLowerCase())) continue;
      values += 1;
      if (!isCounted) groupCount += 1;
      isCounted = true;
      if (examples.length < WARNING_EXAMPLES && !examples.includes(uid)) examples.push(uid);
    }
  }
  if (values === 0) return undefined;
  const quoted = examples.map((example) => JSON.stringify(example)).join(', ');
  return `groups.memberAttribute: ${plural(values, 'memberUid value', 'memberUid values')} in ${plural(groupCount, 'group', 'groups')} ${values === 1 ? 'matches' : 'match'} no user's username (e.g. ${quoted}); memberUid is compared with the username that users.usernameAttribute (${settings.users.usernameAttribute.join(', ')}) gives, so check users.usernameAttribute, users.baseDn and users.filter`;
}
