/**
 * Resolves group memberships in memory from the group entries read once per sync, never
 * with a query per user. With nesting on, members of member groups count too, transitively,
 * and cycles are detected and reported instead of looping.
 */
import { memberKey } from '../ldap/unique-member.ts';
import type { MappedGroup } from './group.ts';
import type { MappedUser } from './user.ts';

/** A group with the external ids of the users that are (effectively) its members. */
export interface ResolvedGroup extends MappedGroup {
  memberUserIds: string[];
}

/** Resolves every group's user members; returns the groups and any cycle warnings. */
export function resolveMemberships(
  users: readonly MappedUser[],
  groups: readonly MappedGroup[],
  options: { nested: boolean },
): { groups: ResolvedGroup[]; warnings: string[] } {
  // Member references: the canonical DN, and (uniqueMember with a UID) the DN with each of the
  // entry's unique identifiers, so `dn#'0101'B` names the entry only while it holds '0101'B.
  const userIdByDn = new Map<string, string>();
  const userIdByName = new Map<string, string>();
  for (const user of users) {
    userIdByDn.set(user.dnKey, user.externalId);
    for (const uid of user.uniqueIdentifiers ?? []) userIdByDn.set(withUid(user.dnKey, uid), user.externalId);
    userIdByName.set(user.username.toLowerCase(), user.externalId);
  }
  const groupByDn = new Map<string, MappedGroup>();
  for (const group of groups) {
    groupByDn.set(group.dnKey, group);
    for (const uid of group.uniqueIdentifiers ?? []) groupByDn.set(withUid(group.dnKey, uid), group);
  }

  const directUsers = new Map<string, Set<string>>();
  const childGroups = new Map<string, string[]>();
  for (const group of groups) {
    const members = new Set<string>();
    const children: string[] = [];
    for (const dnKey of group.memberDnKeys) {
      const userId = userIdByDn.get(dnKey);
      if (userId !== undefined) members.add(userId);
      else {
        const child = groupByDn.get(dnKey);
        if (child !== undefined) children.push(child.dnKey);
      }
    }
    for (const uid of group.memberUids) {
      const userId = userIdByName.get(uid.toLowerCase());
      if (userId !== undefined) members.add(userId);
    }
    directUsers.set(group.dnKey, members);
    childGroups.set(group.dnKey, children);
  }

  const warnings: string[] = [];
  const resolved = groups.map((group): ResolvedGroup => {
    const members = new Set(directUsers.get(group.dnKey));
    if (options.nested) {
      const visited = new Set<string>([group.dnKey]);
      const queue = [...(childGroups.get(group.dnKey) ?? [])];
      let isCyclic = false;
      for (let index = 0; index < queue.length; index += 1) {
        const next = queue[index];
        if (next === undefined) break;
        if (next === group.dnKey) isCyclic = true;
        if (visited.has(next)) continue;
        visited.add(next);
        for (const userId of directUsers.get(next) ?? []) members.add(userId);
        for (const child of childGroups.get(next) ?? []) queue.push(child);
      }
      if (isCyclic) warnings.push(`group ${group.dn} is part of a nesting cycle; each member was counted once`);
    }
    return { ...group, memberUserIds: [...members] };
  });
  return { groups: resolved, warnings };
}

/** The member key of an already canonical DN with a UID (see `memberKey`). */
function withUid(dnKey: string, uid: string): string {
  return memberKey(dnKey, uid);
}
