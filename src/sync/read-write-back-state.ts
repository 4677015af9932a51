/**
 * Reads the write-back state a sync plan needs (`write-back-state.ts`): the open outbox rows about
 * users, and in `unsynced` mode the users' baselines. A whole-directory sync reads each in one
 * query; a login or one-user sync reads only its user's.
 */
import { PRIMARY_DIRECTORY_ID } from '../model/writeback.ts';
import type { WriteBackSettings } from '../settings/schema.ts';
import type { WriteBackReader } from '../store/writeback-repository.ts';
import { userWriteBackState, type FieldAttributes, type HeldField, type UserWriteBackState } from './write-back-state.ts';

/** Whether the settings keep local changes out of the directory (`writeBack.mode` unsynced). */
export function isUnsynced(writeBack: Pick<WriteBackSettings, 'enabled' | 'mode'> | undefined): boolean {
  return writeBack !== undefined && writeBack.enabled && writeBack.mode === 'unsynced';
}

/**
 * The write-back state of every user (`userIds` undefined) or of the given users. Undefined when
 * nothing is held and nothing kept locally, so the planner takes its plain path.
 */
export async function readWriteBackState(
  store: { writeBack: WriteBackReader },
  settings: { users: FieldAttributes; writeBack?: Pick<WriteBackSettings, 'enabled' | 'mode'> | undefined },
  userIds?: readonly string[],
): Promise<UserWriteBackState | undefined> {
  if (userIds !== undefined && userIds.length === 0) return undefined;
  const rows = await store.writeBack.listOpenOf(PRIMARY_DIRECTORY_ID, 'user', userIds);
  const baselines = !isUnsynced(settings.writeBack)
    ? []
    : userIds === undefined
      ? await store.writeBack.listBaselines(PRIMARY_DIRECTORY_ID, 'user')
      : await store.writeBack.readBaselines(PRIMARY_DIRECTORY_ID, userIds.map((objectId) => ({ objectKind: 'user' as const, objectId })));
  const state = userWriteBackState(rows, baselines, settings.users);
  return state.held.size === 0 && state.baselines.size === 0 ? undefined : state;
}

/**
 * Two reads of the state as one: a field held in either is held (a pending write delivered
 * between them may not be in the directory read yet); the baselines are the later read's.
 */
export function mergeWriteBackStates(earlier: UserWriteBackState | undefined, later: UserWriteBackState | undefined): UserWriteBackState | undefined {
  if (earlier === undefined || earlier.held.size === 0) return later;
  const held = new Map<string, Set<HeldField>>();
  for (const state of [earlier, later]) {
    for (const [userId, fields] of state?.held ?? []) held.set(userId, new Set([...(held.get(userId) ?? []), ...fields]));
  }
  return { held, baselines: later?.baselines ?? new Map() };
}
