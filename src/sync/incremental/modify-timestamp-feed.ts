/**
 * The change feed every server has: entries whose modification time is at or after the last read,
 * less a safety overlap (`modifyTimestamp`; `whenChanged` on Active Directory). It cannot see
 * deletions, nor entries that stopped matching the filter: the periodic full sync catches those.
 * Positions are dirbridge's clock when a read started; the overlap absorbs clock skew between
 * dirbridge and the server, and changes committed while a read was in progress.
 */
import type { DirectoryConnection } from '../../directory/index.ts';
import { and, gte, parseFilter } from '../../ldap/filter.ts';
import type { ChangeFeed, FeedChanges, FeedQuery } from './change-feed.ts';

/** LDAP GeneralizedTime (UTC, whole seconds) of a time. */
export function generalizedTime(at: Date, options: { fraction?: boolean } = {}): string {
  const iso = at.toISOString();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  return `${digits}${options.fraction === true ? '.0' : ''}Z`;
}

/** A modification-time feed; `overlapSeconds` is read again each time. */
export function createModifyTimestampFeed(options: { overlapSeconds: number; now?: () => Date }): ChangeFeed {
  const now = options.now ?? (() => new Date());
  return {
    source: 'modifyTimestamp',
    serverIdentity: async (directory) => directory.url,
    start: async () => now().toISOString(),
    read: async (directory: DirectoryConnection, query: FeedQuery, position: string | null): Promise<FeedChanges> => {
      const startedAt = now();
      const isActiveDirectory = directory.rootDse.serverType === 'active-directory';
      const base = parseFilter(query.filter);
      let filter = base;
      if (position !== null) {
        const since = new Date(Date.parse(position) - options.overlapSeconds * 1_000);
        filter = and(base, gte(isActiveDirectory ? 'whenChanged' : 'modifyTimestamp', generalizedTime(since, { fraction: isActiveDirectory })));
      }
      const entries = [];
      for await (const page of directory.searchPages({
        baseDn: query.baseDn,
        scope: query.searchScope,
        filter,
        attributes: query.attributes,
        pageSize: query.pageSize,
      })) {
        entries.push(...page);
      }
      return { entries, idsToRead: new Set(), deletedIds: new Set(), position: startedAt.toISOString() };
    },
  };
}
