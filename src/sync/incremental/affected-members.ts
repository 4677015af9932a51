/**
 * Which users a set of changed group entries can move in or out of groups: the member values
 * added or removed, and, where a value names a group (nesting), every member below that group.
 * A group that appears, disappears or changes its DN also changes what its parents contain, so
 * every member below it counts too. Pure; the graph is the groups before and after the change.
 */
import type { MappedGroup } from '../../mapping/group.ts';

/** Member references to users: DN keys (`memberKey` form) and lower-cased `memberUid` names. */
export interface MemberReferences {
  dnKeys: Set<string>;
  uids: Set<string>;
}

/** The references of users whose memberships the changed groups may alter. */
export function affectedMembers(
  before: ReadonlyMap<string, MappedGroup>,
  after: ReadonlyMap<string, MappedGroup>,
  changedGroupIds: Iterable<string>,
  options: { nested: boolean },
): MemberReferences {
  const found: MemberReferences = { dnKeys: new Set(), uids: new Set() };
  const changed = [...changedGroupIds];
  if (changed.length === 0) return found;
  const groupsByDnKey = new Map<string, MappedGroup[]>();
  for (const graph of before === after ? [after] : [before, after]) {
    for (const group of graph.values()) {
      const same = groupsByDnKey.get(group.dnKey) ?? [];
      same.push(group);
      groupsByDnKey.set(group.dnKey, same);
    }
  }
  // DN keys some group lists as a member (nesting); built only when a group appeared, went or moved.
  let parents: Set<string> | undefined;
  const isNested = (dnKey: string): boolean => {
    parents ??= new Set([...before.values(), ...after.values()].flatMap((group) => group.memberDnKeys.filter((key) => groupsByDnKey.has(key))));
    return parents.has(dnKey);
  };
  const expanded = new Set<string>();
  /** Adds everything below the group with this DN key, in both graphs, once. */
  const expand = (dnKey: string): void => {
    const queue = [dnKey];
    for (let index = 0; index < queue.length; index += 1) {
      const key = queue[index] as string;
      if (expanded.has(key)) continue;
      expanded.add(key);
      for (const group of groupsByDnKey.get(key) ?? []) {
        for (const member of group.memberDnKeys) {
          found.dnKeys.add(member);
          if (groupsByDnKey.has(member)) queue.push(member);
        }
        for (const uid of group.memberUids) found.uids.add(uid);
      }
    }
  };
  for (const externalId of changed) {
    const old = before.get(externalId);
    const now = after.get(externalId);
    const addedOrRemoved = (a: readonly string[], b: readonly string[]): string[] => {
      const inB = new Set(b);
      return a.filter((value) => !inB.has(value));
    };
    const oldKeys = old?.memberDnKeys ?? [];
    const newKeys = now?.memberDnKeys ?? [];
    for (const key of [...addedOrRemoved(oldKeys, newKeys), ...addedOrRemoved(newKeys, oldKeys)]) {
      found.dnKeys.add(key);
      if (options.nested && groupsByDnKey.has(key)) expand(key);
    }
    for (const uid of [...addedOrRemoved(old?.memberUids ?? [], now?.memberUids ?? []), ...addedOrRemoved(now?.memberUids ?? [], old?.memberUids ?? [])])
      found.uids.add(uid);
    // A renamed group changes what its members are mapped to (roles, channels, teams by group name):
    // every member counts.
    if (old !== undefined && now !== undefined && (old.name !== now.name || old.dnKey !== now.dnKey)) {
      if (options.nested) {
        expand(old.dnKey);
        expand(now.dnKey);
      } else {
        for (const key of [...old.memberDnKeys, ...now.memberDnKeys]) found.dnKeys.add(key);
        for (const uid of [...old.memberUids, ...now.memberUids]) found.uids.add(uid);
      }
    }
    if (!options.nested) continue;
    // A group that appeared, went or moved changes its parents' members: all of its own count.
    if (old === undefined || now === undefined || old.dnKey !== now.dnKey) {
      for (const key of [old?.dnKey, now?.dnKey]) if (key !== undefined && isNested(key)) expand(key);
    }
  }
  return found;
}
