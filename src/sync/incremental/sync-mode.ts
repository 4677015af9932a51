/**
 * Whether a run reads everything or only what changed, and what it keeps for the next run. A run
 * is incremental when the chosen feed has a stored position for every part it reads, taken with
 * the same settings on the same server; otherwise it is full, and says why. A full run takes its
 * positions before it reads, so nothing changed during its read is lost; every run that applies
 * stores the groups it ended with and the positions, in one transaction after its changes.
 */
import type { DirectoryConnection } from '../../directory/index.ts';
import { isDirbridgeError } from '../../errors.ts';
import type { MappedGroup } from '../../mapping/group.ts';
import { PRIMARY_DIRECTORY_ID, type StoredDirectoryGroup, type SyncCursor } from '../../model/index.ts';
import type { Settings } from '../../settings/schema.ts';
import type { Store, StoreWriter } from '../../store/store.ts';
import type { ProgressLog } from '../progress.ts';
import type { ChangeFeed } from './change-feed.ts';
import { chooseFeed } from './choose-feed.ts';
import { feedQueries } from './read-delta.ts';
import { settingsFingerprint } from './settings-fingerprint.ts';
import { storedGroupChanges } from './stored-groups.ts';

/** Positions of the users' and the groups' feeds (groups: null when groups are not synced). */
export interface FeedPositions {
  users: string | null;
  groups: string | null;
}

/** How a run reads, decided after connecting. */
export interface ModeDecision {
  /** The feed, when the server has one and incremental sync is on; a full run then takes positions from it. */
  feed: ChangeFeed | undefined;
  serverIdentity: string | null;
  fingerprint: string;
  /** Set when the run is incremental: the stored positions to read from. */
  from?: FeedPositions;
  /** Why the run reads everything; null for an incremental run. */
  fullReason: string | null;
}

/** The settings a decision reads. */
export type ModeSettings = Pick<Settings, 'directory' | 'users' | 'groups' | 'mapping' | 'sync'>;

/** Decides how this run reads. `full`: `sync --full`. Never throws for a feed the server lacks: the run is then full. */
export async function decideMode(
  directory: DirectoryConnection,
  store: Pick<Store, 'directoryState'>,
  settings: ModeSettings,
  options: { full: boolean },
): Promise<ModeDecision> {
  const fingerprint = settingsFingerprint(settings);
  const choice = await chooseFeed(
    {
      incremental: settings.sync.incremental,
      directory: settings.directory,
      baseDn: settings.users.baseDn,
      uniqueIdAttributes: [settings.users.uniqueIdAttribute, ...(settings.groups?.enabled === true ? [settings.groups.uniqueIdAttribute] : [])],
    },
    directory,
  );
  if ('reason' in choice) return { feed: undefined, serverIdentity: null, fingerprint, fullReason: choice.reason };
  const { feed } = choice;
  let serverIdentity: string | null;
  try {
    serverIdentity = await feed.serverIdentity(directory);
  } catch (error) {
    // A feed that cannot say which server it reads is not used: the run reads everything.
    if (!isDirbridgeError(error)) throw error;
    return { feed: undefined, serverIdentity: null, fingerprint, fullReason: `the ${feed.source} feed cannot be used: ${error.message}` };
  }
  const full = (fullReason: string): ModeDecision => ({ feed, serverIdentity, fingerprint, fullReason });
  if (options.full) return full('a full sync was asked for');
  const cursors = await store.directoryState.listCursors(PRIMARY_DIRECTORY_ID);
  const syncGroups = settings.groups?.enabled === true;
  const needed: Array<SyncCursor['scope']> = syncGroups ? ['users', 'groups'] : ['users'];
  const positions: FeedPositions = { users: null, groups: null };
  for (const scope of needed) {
    const cursor = cursors.find((candidate) => candidate.scope === scope);
    if (cursor === undefined) return full('no stored position yet: the first sync reads everything');
    if (cursor.settingsFingerprint !== fingerprint) return full('the settings changed since the last full sync');
    if (cursor.source !== feed.source) return full(`the change feed is now ${feed.source} (the stored position is from ${cursor.source})`);
    if (cursor.serverIdentity !== serverIdentity) return full('the directory server is not the one the stored position came from');
    positions[scope] = cursor.position;
  }
  return { feed, serverIdentity, fingerprint, from: positions, fullReason: null };
}

/**
 * Positions to store after a full read, taken before it. A feed that cannot give one (a
 * permission, a server fault) leaves the run full and the next one too, with a warning.
 */
export async function startPositions(
  directory: DirectoryConnection,
  decision: ModeDecision,
  settings: ModeSettings,
  log: ProgressLog | undefined,
): Promise<FeedPositions | undefined> {
  if (decision.feed === undefined) return undefined;
  const queries = feedQueries(settings, directory.rootDse.serverType);
  try {
    return {
      users: await decision.feed.start(directory, queries.users),
      groups: queries.groups === undefined ? null : await decision.feed.start(directory, queries.groups),
    };
  } catch (error) {
    if (!isDirbridgeError(error)) throw error;
    log?.warn({ source: decision.feed.source, code: error.code, error: error.message }, 'change feed position not taken; the next sync reads everything too');
    return undefined;
  }
}

/**
 * Stores what the next run starts from, in one transaction: the groups as this run ended with them
 * and the feed's positions. Without positions (no feed), the stored ones are removed.
 * `groups`: every group a full read saw, or the changes an incremental read made.
 */
export async function recordFeedState(
  store: Pick<Store, 'transaction' | 'directoryState'>,
  decision: ModeDecision,
  positions: FeedPositions | undefined,
  groups: { all: readonly MappedGroup[] } | { changes: { upserted: StoredDirectoryGroup[]; removed: string[] } },
  syncGroups: boolean,
): Promise<void> {
  const feed = decision.feed;
  if (feed === undefined || positions === undefined) {
    await store.transaction((tx) => tx.directoryState.clearCursors(PRIMARY_DIRECTORY_ID));
    return;
  }
  // A full read stores what differs from the stored entries; an incremental one, what it changed.
  const changes =
    'changes' in groups ? groups.changes : storedGroupChanges(await store.directoryState.loadGroupHashes(PRIMARY_DIRECTORY_ID), syncGroups ? groups.all : []);
  await store.transaction(async (tx: StoreWriter) => {
    await tx.directoryState.saveGroups(PRIMARY_DIRECTORY_ID, changes);
    const common = { source: feed.source, serverIdentity: decision.serverIdentity, settingsFingerprint: decision.fingerprint };
    await tx.directoryState.putCursors(PRIMARY_DIRECTORY_ID, [
      { scope: 'users', position: positions.users, ...common },
      ...(syncGroups ? [{ scope: 'groups' as const, position: positions.groups, ...common }] : []),
    ]);
  });
}
