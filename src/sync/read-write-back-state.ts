/**
 * Reads the write-back state a sync plan needs (`write-back-state.ts`): the open outbox rows, and
 * in `unsynced` mode the users' baselines. A whole-directory sync reads each kind in one query; a
 * login or one-user sync reads only its user's and its groups'.
 */
import { PRIMARY_DIRECTORY_ID } from '../model/writeback.ts';
import { effectiveWriteBackMode, type WriteBackSettings } from '../settings/schema.ts';
import type { WriteBackReader } from '../store/writeback-repository.ts';
import { type FieldAttributes, isEmptyWriteBackState, type WriteBackState, writeBackState } from './write-back-state.ts';

/** Whether the settings keep local changes out of the directory (`writeBack.mode` unsynced). */
export function isUnsynced(writeBack: Pick<WriteBackSettings, 'enabled' | 'mode'> | undefined): boolean {
  return writeBack !== undefined && effectiveWriteBackMode(writeBack) === 'unsynced';
}

/**
 * The write-back state of everything (`only` undefined) or of the given users and groups.
 * Undefined when nothing is held and nothing kept locally, so the planner takes its plain path.
 */
export async function readWriteBackState(
  store: { writeBack: WriteBackReader },
  settings: { users: FieldAttributes; writeBack?: Pick<WriteBackSettings, 'enabled' | 'mode'> | undefined },
  only?: { userIds: readonly string[]; groupIds: readonly string[] },
): Promise<WriteBackState | undefined> {
  const read = (kind: 'user' | 'group', ids: readonly string[] | undefined) =>
    ids !== undefined && ids.length === 0 ? [] : store.writeBack.listOpenOf(PRIMARY_DIRECTORY_ID, kind, ids === undefined ? {} : { objectIds: ids });
  const rows = [...(await read('user', only?.userIds)), ...(await read('group', only?.groupIds))];
  // A login or one-user sync must not bring back an entry whose delete is pending: its record is gone, so it is not among the ids.
  if (only !== undefined) {
    rows.push(...(await store.writeBack.listOpenOf(PRIMARY_DIRECTORY_ID, 'user', { stepKinds: ['deleteUser'] })));
    rows.push(...(await store.writeBack.listOpenOf(PRIMARY_DIRECTORY_ID, 'group', { stepKinds: ['deleteGroup'] })));
  }
  const baselines = !isUnsynced(settings.writeBack)
    ? []
    : only === undefined
      ? await store.writeBack.listBaselines(PRIMARY_DIRECTORY_ID, 'user')
      : await store.writeBack.readBaselines(
          PRIMARY_DIRECTORY_ID,
          only.userIds.map((objectId) => ({ objectKind: 'user' as const, objectId })),
        );
  const state = writeBackState(rows, baselines, settings.users);
  return isEmptyWriteBackState(state) ? undefined : state;
}

/**
 * Two reads of the state as one: whatever either holds is held (a pending write delivered
 * between them may not be in the directory read yet); the baselines are the later read's.
 */
export function mergeWriteBackStates(earlier: WriteBackState | undefined, later: WriteBackState | undefined): WriteBackState | undefined {
  if (earlier === undefined || later === undefined) return later ?? (earlier === undefined ? undefined : { ...earlier, baselines: new Map() });
  const union = <T>(a: ReadonlyMap<string, ReadonlySet<T>>, b: ReadonlyMap<string, ReadonlySet<T>>) => {
    const merged = new Map<string, Set<T>>();
    for (const map of [a, b]) for (const [id, values] of map) merged.set(id, new Set([...(merged.get(id) ?? []), ...values]));
    return merged;
  };
  return {
    held: union(earlier.held, later.held),
    heldGroups: union(earlier.heldGroups, later.heldGroups),
    heldMembers: union(earlier.heldMembers, later.heldMembers),
    deletedDns: new Set([...earlier.deletedDns, ...later.deletedDns]),
    baselines: later.baselines,
  };
}
