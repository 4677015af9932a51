/**
 * Which change feed a run reads: the one `sync.incremental.feed` names, or on `auto` the best the
 * server offers, as its RootDSE shows it. Feeds this build cannot read on the server are never
 * chosen; a named one that the server lacks is reported, and the run reads everything.
 */
import type { RootDse } from '../../directory/index.ts';
import type { ChangeSource } from '../../model/index.ts';
import type { SyncSettings } from '../../settings/schema.ts';
import type { ChangeFeed } from './change-feed.ts';
import { createModifyTimestampFeed } from './modify-timestamp-feed.ts';

/** The feed to read, or why there is none (the run then reads everything). */
export type FeedChoice = { feed: ChangeFeed } | { reason: string };

/** The feeds this build can read, by source; each says whether the server offers it. */
const FEEDS: Partial<Record<ChangeSource, { isOffered: (rootDse: RootDse) => boolean; create: (settings: SyncSettings['incremental']) => ChangeFeed }>> = {
  modifyTimestamp: {
    isOffered: () => true,
    create: (settings) => createModifyTimestampFeed({ overlapSeconds: settings.timestampOverlapSeconds }),
  },
};

/** Preference on `auto`, best first. */
const AUTO_ORDER: readonly ChangeSource[] = ['contentSync', 'dirSync', 'usnChanged', 'modifyTimestamp'];

/** Chooses the feed for this server and settings. */
export function chooseFeed(settings: SyncSettings['incremental'], rootDse: RootDse): FeedChoice {
  if (settings.feed === 'off') return { reason: 'incremental sync is off (sync.incremental.feed)' };
  if (settings.feed !== 'auto') {
    const named = FEEDS[settings.feed];
    if (named === undefined) return { reason: `sync.incremental.feed names ${settings.feed}, which this version cannot read` };
    if (!named.isOffered(rootDse)) return { reason: `sync.incremental.feed names ${settings.feed}, which the server does not offer` };
    return { feed: named.create(settings) };
  }
  for (const source of AUTO_ORDER) {
    const candidate = FEEDS[source];
    if (candidate?.isOffered(rootDse)) return { feed: candidate.create(settings) };
  }
  return { reason: 'the server offers no change feed' };
}
