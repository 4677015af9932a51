/**
 * Which change feed a run reads: the one `sync.incremental.feed` names, or on `auto` the best the
 * server offers, as its RootDSE shows it. Feeds this build cannot read on the server are never
 * chosen; a named one that the server lacks is reported, and the run reads everything.
 */
import { type RootDse, supportsContentSync } from '../../directory/index.ts';
import type { ChangeSource } from '../../model/index.ts';
import type { DirectorySettings, SyncSettings } from '../../settings/schema.ts';
import type { ChangeFeed } from './change-feed.ts';
import { createContentSyncFeed } from './content-sync-feed.ts';
import { createModifyTimestampFeed } from './modify-timestamp-feed.ts';

/** The feed to read, or why there is none (the run then reads everything). */
export type FeedChoice = { feed: ChangeFeed } | { reason: string };

/** The feeds this build can read, by source; each says whether the server offers it. */
const FEEDS: Partial<Record<ChangeSource, { isOffered: (rootDse: RootDse) => boolean; create: (settings: FeedSettings) => ChangeFeed }>> = {
  contentSync: {
    isOffered: (rootDse) => rootDse.serverType !== 'active-directory' && supportsContentSync(rootDse),
    create: (settings) => createContentSyncFeed(settings.directory),
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
}

/** Chooses the feed for this server and settings. */
export function chooseFeed(settings: FeedSettings, rootDse: RootDse): FeedChoice {
  const wanted = settings.incremental.feed;
  if (wanted === 'off') return { reason: 'incremental sync is off (sync.incremental.feed)' };
  if (wanted !== 'auto') {
    const named = FEEDS[wanted];
    if (named === undefined) return { reason: `sync.incremental.feed names ${wanted}, which this version cannot read` };
    if (!named.isOffered(rootDse)) return { reason: `sync.incremental.feed names ${wanted}, which the server does not offer` };
    return { feed: named.create(settings) };
  }
  for (const source of AUTO_ORDER) {
    const candidate = FEEDS[source];
    if (candidate?.isOffered(rootDse)) return { feed: candidate.create(settings) };
  }
  return { reason: 'the server offers no change feed' };
}
