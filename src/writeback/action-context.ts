/**
 * What every write-back action starts from: the mode the settings put it in, the stored record it
 * is about, whether write-back covers that record (a directory record in writable mode, within
 * `writeBack.scopeGroups`), and the directory connection its read step uses.
 */
import type { WritableDirectoryConnection } from '../directory/index.ts';
import { DirbridgeError } from '../errors.ts';
import type { GroupRecord, UserRecord } from '../model/index.ts';
import { effectiveWriteBackMode, type Settings } from '../settings/schema.ts';
import type { Store } from '../store/store.ts';
import type { WriteBackDeps, WriteMode } from './apply-write-plan.ts';
import { type EntryShape, resolveEntryShape } from './entry-shape.ts';

/** The mode actions run in: `writable` and `unsynced` only when write-back is enabled. */
export function writeModeOf(settings: Settings): WriteMode {
  const mode = effectiveWriteBackMode(settings.writeBack);
  return mode === 'readOnly' ? 'local' : mode;
}

/** Why an action changed dirbridge only, for its message. */
export function localReason(settings: Settings, record: { source: string }): string {
  if (record.source !== 'directory') return 'it is a local record';
  if (!settings.writeBack.enabled) return 'write-back is off (writeBack.enabled)';
  return `writeBack.mode is ${settings.writeBack.mode}`;
}

/** Common options of every action. */
export interface ActionOptions {
  actor: string;
  isDryRun?: boolean;
}

/** Finds a user by username (case-insensitive), or throws `users.not_found`. */
export async function userNamed(store: Store, username: string): Promise<UserRecord> {
  const user = await store.users.findByUsername(username);
  if (user === undefined) throw new DirbridgeError('users.not_found', `no user named ${JSON.stringify(username)}`);
  return user;
}

/** Finds a group by its exact name (case-insensitive), or throws `users.not_found`; two groups of that name are ambiguous. */
export async function groupNamed(store: Store, name: string): Promise<GroupRecord> {
  const page = await store.groups.list({ search: name, limit: 100, offset: 0 });
  const matches = page.groups.filter((group) => group.name.toLowerCase() === name.toLowerCase());
  if (matches.length > 1)
    throw new DirbridgeError('store.ambiguous', `${matches.length} groups are named ${JSON.stringify(name)}; rename one of them in the directory`);
  const [group] = matches;
  if (group === undefined) throw new DirbridgeError('users.not_found', `no group named ${JSON.stringify(name)}`);
  return group;
}

/** A directory record's DN, required to write it back. */
export function dnOf(record: { dn: string | null; source: string }, what: string): string {
  if (record.dn === null) throw new DirbridgeError('writeback.entry_missing', `${what} has no directory DN yet; run a sync first`);
  return record.dn;
}

/**
 * Refuses a user outside `writeBack.scopeGroups` (when it lists any): write-back does not cover
 * it, and a change here would be undone by the next sync.
 */
export async function checkUserInScope(store: Store, settings: Settings, user: UserRecord): Promise<void> {
  const scope = settings.writeBack.scopeGroups;
  if (scope.length === 0) return;
  const names = new Set((await store.groups.listOfUser(user.id)).map((group) => group.name.toLowerCase()));
  if (!scope.some((name) => names.has(name.toLowerCase()))) {
    throw new DirbridgeError(
      'writeback.out_of_scope',
      `${user.username} is in none of writeBack.scopeGroups (${scope.join(', ')}): write-back does not cover this user, whose directory fields stay read-only here`,
    );
  }
}

/** Runs the read step on a writable service connection (closed after), with the entry shape of its server. */
export async function withDirectory<T>(
  deps: Pick<WriteBackDeps, 'openWritable'>,
  settings: Settings,
  work: (directory: WritableDirectoryConnection, shape: EntryShape) => Promise<T>,
): Promise<T> {
  await using directory = await deps.openWritable();
  return await work(directory, resolveEntryShape(settings.writeBack, directory.rootDse.serverType));
}
