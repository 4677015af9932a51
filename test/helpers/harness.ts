/** Shared set-up for integration tests: settings for a fixture directory and a throwaway store. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { App } from '../../src/app.ts';
import type { UserRecord } from '../../src/model/index.ts';
import { validateSettings } from '../../src/settings/load.ts';
import type { Settings } from '../../src/settings/schema.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import type { SyncResult } from '../../src/sync/run-sync.ts';

/** Deep-merges plain objects; arrays and scalars in `override` replace. */
export function merge<T>(base: T, override: unknown): T {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return (override ?? base) as T;
  if (typeof override !== 'object' || override === null || Array.isArray(override)) return base;
  const result: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(override)) result[key] = key in result ? merge(result[key], value) : value;
  return result as T;
}

/** Validated settings from a plain document, with the store in a fresh temporary directory. */
export async function settingsFor(document: Record<string, unknown>): Promise<{ settings: Settings; cleanup: () => Promise<void> }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'dirbridge-test-'));
  const settings = validateSettings(merge(document, { store: { dataDir } }), 'test');
  return { settings, cleanup: () => rm(dataDir, { recursive: true, force: true }) };
}

/** A comparable picture of every account and membership, to prove a run changed nothing. */
export async function storePicture(store: Store): Promise<string> {
  const state = await store.runs.loadSyncState();
  const users = [...state.users].sort((a, b) => a.id.localeCompare(b.id));
  const memberships = state.memberships.map((pair) => `${pair.userId}:${pair.groupId}`).sort();
  const groups = [...state.groups].sort((a, b) => a.id.localeCompare(b.id));
  return JSON.stringify({ users, groups, memberships });
}

/** Users by username, lower-cased. */
export async function usersByName(store: Store): Promise<Map<string, UserRecord>> {
  const state = await store.runs.loadSyncState();
  return new Map(state.users.map((user) => [user.username.toLowerCase(), user]));
}

/** Group members by group name, as sorted usernames. */
export async function membersByGroup(store: Store): Promise<Map<string, string[]>> {
  const state = await store.runs.loadSyncState();
  const usernames = new Map(state.users.map((user) => [user.id, user.username]));
  const names = new Map(state.groups.map((group) => [group.id, group.name]));
  const result = new Map<string, string[]>();
  for (const group of state.groups) result.set(group.name, []);
  for (const { userId, groupId } of state.memberships) result.get(names.get(groupId) ?? '')?.push(usernames.get(userId) ?? userId);
  for (const list of result.values()) list.sort();
  return result;
}

/** Runs a full sync (a paged read) that calls `interrupt` once `afterEntries` users have been read, e.g. to kill the server mid-read. */
export async function syncInterruptedAfter(app: App, afterEntries: number, interrupt: () => void): Promise<{ result: SyncResult; interrupted: boolean }> {
  let interrupted = false;
  const result = await app.sync.runSync({
    trigger: 'cli',
    isDryRun: false,
    full: true,
    onProgress: (progress) => {
      if (!interrupted && progress.phase === 'users' && progress.entriesRead >= afterEntries) {
        interrupted = true;
        interrupt();
      }
    },
  });
  return { result, interrupted };
}

/**
 * Settings for the Samba fixture: the service account over LDAPS, users from the domain root
 * (so the search also meets AD's referrals to other partitions), nested groups.
 */
export function adSettingsDocument(
  dc: { ldapsUrl: string; caFile: string; baseDn: string; ous: { groups: string } },
  service: { dn: string; password?: string },
): Record<string, unknown> {
  return {
    directory: { urls: [dc.ldapsUrl], tls: { caFile: dc.caFile }, bindDn: service.dn, bindPassword: service.password },
    users: { baseDn: dc.baseDn, filter: '(&(objectClass=user)(objectCategory=person))', usernameAttribute: 'sAMAccountName' },
    groups: { baseDn: dc.ous.groups, filter: '(objectClass=group)', memberAttribute: ['member'], nestedGroups: true },
  };
}

export { openStore };
