/**
 * The store's side of an incremental run: only the users the delta holds or names (and the
 * accounts that decide for them: merge candidates, channel owners, the Channel Admin), their
 * memberships and grants, every group, and the memberships of groups that left. The write-back
 * state is read by the run, as a full run reads it (around the directory read).
 */
import type { MappingSettings, Settings } from '../../settings/schema.ts';
import type { Store } from '../../store/store.ts';
import type { CurrentState } from '../plan.ts';
import type { DirectorySnapshot } from '../snapshot.ts';
import type { WriteBackState } from '../write-back-state.ts';

/** Loads the slice of the store a delta plan diffs against. */
export async function loadDeltaState(
  store: Store,
  settings: Pick<Settings, 'sync'>,
  snapshot: DirectorySnapshot,
  deletedUserIds: ReadonlySet<string>,
  mapping: MappingSettings | undefined,
  writeBack: WriteBackState | undefined,
): Promise<CurrentState> {
  const channels = mapping === undefined ? [] : (await store.mapping.loadState({ userIds: [] })).channels;
  const usernames = snapshot.users.map((user) => user.username);
  if (mapping !== undefined) {
    for (const channel of channels) if (channel.ownerUsername !== null) usernames.push(channel.ownerUsername);
    if (mapping.channels.channelAdmin !== undefined) usernames.push(mapping.channels.channelAdmin);
  }
  const mergeByEmail = settings.sync.mergeExistingUsers.enabled && settings.sync.mergeExistingUsers.matchBy === 'email';
  const state = await store.runs.loadSyncStateOf({
    externalIds: [...snapshot.users.map((user) => user.externalId), ...deletedUserIds],
    usernames,
    emails: mergeByEmail ? snapshot.users.flatMap((user) => (user.email === null ? [] : [user.email])) : [],
  });
  // Groups that left take their memberships with them: the guard counts who loses access.
  const present = new Set([...snapshot.groups.map((group) => group.externalId), ...snapshot.skippedGroups.flatMap((skipped) => skipped.externalId ?? [])]);
  const leaving = state.groups
    .filter((group) => group.source === 'directory' && group.externalId !== null && !present.has(group.externalId))
    .map((group) => group.id);
  const memberships =
    leaving.length === 0 ? state.memberships : mergeMemberships(state.memberships, (await store.runs.loadSyncStateOf({ groupIds: leaving })).memberships);
  return {
    users: state.users,
    groups: state.groups,
    memberships,
    ...(mapping === undefined ? {} : { mapping: await store.mapping.loadState({ userIds: state.users.map((user) => user.id) }) }),
    ...(writeBack === undefined ? {} : { writeBack }),
  };
}

function mergeMemberships(a: CurrentState['memberships'], b: CurrentState['memberships']): Array<{ userId: string; groupId: string }> {
  const seen = new Set(a.map((pair) => `${pair.userId} ${pair.groupId}`));
  return [...a, ...b.filter((pair) => !seen.has(`${pair.userId} ${pair.groupId}`))];
}
