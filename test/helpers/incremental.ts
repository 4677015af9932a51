/**
 * Incremental sync tests' tools: a picture of the store that two stores can be compared by (ids
 * differ between stores, unique ids do not), and a full sync into a fresh second store.
 */
import { type App, openApp } from '../../src/app.ts';
import type { Store } from '../../src/store/store.ts';
import { merge, settingsFor } from './harness.ts';

/**
 * What a sync decides, keyed by the directory's unique ids: users (fields and state), groups and
 * memberships. Users a sync disabled because they left the directory, and their memberships, are
 * left out: a fresh store never holds them.
 */
export async function directoryPicture(store: Store): Promise<{ users: string[]; groups: string[]; memberships: string[] }> {
  const state = await store.runs.loadSyncState();
  const kept = state.users.filter((user) => user.source === 'directory' && user.disabledBy !== 'sync');
  const externalIdOf = new Map(kept.map((user) => [user.id, `${user.externalId} (${user.username})`]));
  const groupIdOf = new Map(state.groups.map((group) => [group.id, `${group.externalId} (${group.name})`]));
  const users = kept
    .map((user) =>
      JSON.stringify([user.externalId, user.username, user.email, user.firstName, user.lastName, user.displayName, user.dn, user.isEnabled, user.disabledBy]),
    )
    .sort();
  const groups = state.groups.map((group) => JSON.stringify([group.externalId, group.name, group.dn])).sort();
  const memberships = state.memberships
    .flatMap((pair) => {
      const user = externalIdOf.get(pair.userId);
      return user === undefined ? [] : [`${user} ${groupIdOf.get(pair.groupId)}`];
    })
    .sort();
  return { users, groups, memberships };
}

/** The picture a full sync of `document` into a new, empty store gives. */
export async function freshFullSyncPicture(document: Record<string, unknown>): Promise<ReturnType<typeof directoryPicture>> {
  const made = await settingsFor(merge(document, { sync: { incremental: { feed: 'off' } } }));
  let app: App | undefined;
  try {
    app = await openApp(made.settings);
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    if (result.status !== 'succeeded') throw new Error(`the reference full sync ${result.status}: ${result.reason}`);
    return await directoryPicture(app.store);
  } finally {
    await app?.close();
    await made.cleanup();
  }
}
