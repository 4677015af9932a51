/**
 * Which change feed a run reads: the one `sync.incremental.feed` names, or on `auto` the best the
 * server offers, as its RootDSE shows it. Feeds this build cannot read on the server are never
 * chosen; a named one that the server lacks is reported, and the run reads everything.
 *
 * A feed the server offers may still be closed to the bind account: DirSync needs the
 * "Replicating Directory Changes" right, which the RootDSE cannot show. Such a feed is probed
 * (one DirSync search that matches nothing); on `auto` a refusal moves on to the next feed
 * (uSNChanged polling), and a named feed that is refused is reported like one the server lacks.
 */

import { DIRSYNC_OID } from '../../directory/controls/dirsync.ts';
import { type DirectoryConnection, defaultUniqueIdAttribute, type RootDse, supportsContentSync } from '../../directory/index.ts';
import { isDirbridgeError } from '../../errors.ts';
import { resolveUniqueIdAttribute } from '../../mapping/unique-id.ts';
import type { ChangeSource } from '../../model/index.ts';
import type { DirectorySettings, SyncSettings } from '../../settings/schema.ts';
import type { ChangeFeed } from './change-feed.ts';
import { createContentSyncFeed } from './content-sync-feed.ts';
import { createDirSyncFeed, dirSyncCookieNow, namingContextOf } from './dirsync-feed.ts';
import { createModifyTimestampFeed } from './modify-timestamp-feed.ts';
import { createUsnChangedFeed } from './usn-changed-feed.ts';

/** The feed to read, or why there is none (the run then reads everything). */
export type FeedChoice = { feed: ChangeFeed } | { reason: string };

/** One feed this build can read. */
interface FeedEntry {
  /** Whether the server offers it (RootDSE) for these settings. */
  isOffered: (rootDse: RootDse, settings: FeedSettings) => boolean;
  /** Why the bind account may not use it, or null; only for feeds that need a right the RootDSE does not show. */
  refusal?: (directory: DirectoryConnection, settings: FeedSettings) => Promise<string | null>;
  create: (settings: FeedSettings) => ChangeFeed;
}

/** Why the bind account may not read DirSync (probed with a search that matches nothing), or null. */
async function dirSyncRefusal(directory: DirectoryConnection, settings: FeedSettings): Promise<string | null> {
  try {
    await dirSyncCookieNow(directory, namingContextOf(directory, settings.baseDn ?? directory.rootDse.defaultNamingContext ?? ''));
    return null;
  } catch (error) {
    // Not permitted, or a server that lists the control without serving it: the next feed.
    if (isDirbridgeError(error, 'directory.sync_not_permitted', 'directory.unsupported')) return error.message;
    throw error;
  }
}

const isActiveDirectory = (rootDse: RootDse): boolean => rootDse.serverType === 'active-directory';

/**
 * Content sync and DirSync name deleted entries by the server's own id (entryUUID, nsUniqueId,
 * objectGUID): usable only when dirbridge keys users and groups by that same attribute.
 */
function usesNativeIds(rootDse: RootDse, settings: FeedSettings): boolean {
  const native = defaultUniqueIdAttribute(rootDse.serverType).toLowerCase();
  return settings.uniqueIdAttributes.every((configured) => resolveUniqueIdAttribute(configured, rootDse.serverType).toLowerCase() === native);
}

/** The feeds this build can read, by source; each says whether the server offers it. */
const FEEDS: Partial<Record<ChangeSource, FeedEntry>> = {
  contentSync: {
    isOffered: (rootDse, settings) => rootDse.serverType !== 'active-directory' && supportsContentSync(rootDse) && usesNativeIds(rootDse, settings),
    create: (settings) => createContentSyncFeed(settings.directory),
  },
  dirSync: {
    isOffered: (rootDse, settings) => isActiveDirectory(rootDse) && rootDse.supportedControls.includes(DIRSYNC_OID) && usesNativeIds(rootDse, settings),
    refusal: dirSyncRefusal,
    create: () => createDirSyncFeed(),
  },
  usnChanged: {
    isOffered: isActiveDirectory,
    create: () => createUsnChangedFeed(),
  },
  modifyTimestamp: {
    isOffered: () => true,
    create: (settings) => createModifyTimestampFeed({ overlapSeconds: settings.incremental.timestampOverlapSeconds }),
  },
};

/** Preference on `auto`, best first. */
const AUTO_ORDER: readonly ChangeSource[] = ['contentSync', 'dirSync', 'usnChanged', 'modifyTimestamp'];

/** What the feeds are made with. */
export interface FeedSettings {
  incremental: SyncSettings['incremental'];
  directory: DirectorySettings;
  /** `users.uniqueIdAttribute` and `groups.uniqueIdAttribute`: feeds that name entries by the server's own ids need them to be those. */
  uniqueIdAttributes: readonly string[];
  /** The users' base DN: the naming context a permission probe searches (default: the server's default one). */
  baseDn?: string;
}

/**
 * Chooses the feed for this server and settings. Probes only the feeds that need it (DirSync on
 * Active Directory); a probe's failure other than a refusal throws, as any directory fault does.
 */
export async function chooseFeed(settings: FeedSettings, directory: DirectoryConnection): Promise<FeedChoice> {
  const rootDse = directory.rootDse;
  const wanted = settings.incremental.feed;
  if (wanted === 'off') return { reason: 'incremental sync is off (sync.incremental.feed)' };
  if (wanted !== 'auto') {
    const named = FEEDS[wanted];
    if (named === undefined) return { reason: `sync.incremental.feed names ${wanted}, which this version cannot read` };
    if (!named.isOffered(rootDse, settings))
      return {
        reason: `sync.incremental.feed names ${wanted}, which the server does not offer for these settings (it names entries by its own ids: users and groups must be keyed by them)`,
      };
    const refused = (await named.refusal?.(directory, settings)) ?? null;
    if (refused !== null) return { reason: `sync.incremental.feed names ${wanted}, which the bind account may not read: ${refused}` };
    return { feed: named.create(settings) };
  }
  for (const source of AUTO_ORDER) {
    const candidate = FEEDS[source];
    if (candidate === undefined || !candidate.isOffered(rootDse, settings)) continue;
    if (((await candidate.refusal?.(directory, settings)) ?? null) !== null) continue;
    return { feed: candidate.create(settings) };
  }
  return { reason: 'the server offers no change feed' };
}
