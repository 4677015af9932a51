/**
 * The RFC 4533 content synchronisation feed (OpenLDAP's syncprov, 389-DS's Content
 * Synchronization plugin): a refreshOnly search with the stored cookie returns the entries added
 * or changed since, and the deletes (as ids, or as the ids still present). The cookie is the
 * position. 389-DS sends changed entries without their operational attributes (nsUniqueId,
 * nsAccountLock, memberOf), so there the changed ids are read again whole.
 *
 * A position is taken with a refresh that asks for no attributes: the server lists the ids and
 * ends with a cookie, which covers everything from then on. Refreshes are not paged: the bind
 * account needs no size limit (README, "Incremental sync").
 */
import type { DirectoryConnection } from '../../directory/index.ts';
import { readContentSync } from '../../directory/index.ts';
import { DirbridgeError, isDirbridgeError } from '../../errors.ts';
import type { DirectorySettings } from '../../settings/schema.ts';
import type { ChangeFeed, FeedChanges, FeedQuery } from './change-feed.ts';

/** Cookie errors: the position cannot be continued, and the run reads everything. */
const COOKIE_REJECTED = ['directory.sync_refresh_required', 'directory.sync_cookie_invalid'] as const;

/** A content synchronisation feed over the directory settings (it opens its own connection for each refresh). */
export function createContentSyncFeed(directorySettings: DirectorySettings): ChangeFeed {
  const refresh = async (directory: DirectoryConnection, query: FeedQuery, cookie: Buffer | undefined, attributes: readonly string[]): Promise<FeedChanges> => {
    const rereadChanged = directory.rootDse.serverType === '389-ds';
    const changes: FeedChanges = {
      entries: [],
      idsToRead: new Set(),
      deletedIds: new Set(),
      position: cookie === undefined ? null : cookie.toString('base64'),
    };
    let present: Set<string> | undefined;
    let isFullListing = cookie === undefined;
    try {
      for await (const event of readContentSync(directorySettings, {
        baseDn: query.baseDn,
        scope: query.searchScope,
        filter: query.filter,
        attributes,
        uniqueIdAttribute: query.uniqueIdAttribute,
        ...(cookie === undefined ? {} : { cookie }),
        mode: 'refreshOnly',
      })) {
        switch (event.type) {
          case 'entry':
            if (rereadChanged) changes.idsToRead.add(event.uniqueId);
            else changes.entries.push(event.entry);
            break;
          case 'delete':
            changes.deletedIds.add(event.uniqueId);
            break;
          case 'present':
            present ??= new Set();
            for (const id of event.uniqueIds) present.add(id);
            break;
          case 'cookie':
            changes.position = event.cookie.toString('base64');
            break;
          case 'presentPhaseDone':
            isFullListing = true;
            if (event.cookie !== undefined) changes.position = event.cookie.toString('base64');
            break;
          case 'refreshDone':
            if (!event.refreshDeletes) isFullListing = true;
            if (event.cookie !== undefined) changes.position = event.cookie.toString('base64');
            // No cookie after nothing changed: the one sent still holds. After entries (a server that
            // ignored a cookie it could not read), there is nothing to continue from.
            else if (changes.entries.length > 0 || changes.idsToRead.size > 0 || present !== undefined) changes.position = null;
            break;
        }
      }
    } catch (error) {
      if (isDirbridgeError(error, ...COOKIE_REJECTED)) throw new DirbridgeError('sync.cursor_invalid', error.message, { cause: error });
      // slapd refuses a cookie ahead of its own state (it lost writes, or was restored from a
      // backup): "consumer state is newer than provider". Only a full read can follow it.
      if (cookie !== undefined && isDirbridgeError(error, 'directory.unwilling_to_perform')) {
        throw new DirbridgeError('sync.cursor_invalid', error.message, { cause: error });
      }
      throw error;
    }
    if (isFullListing) changes.presentIds = present ?? new Set();
    return changes;
  };
  return {
    source: 'contentSync',
    serverIdentity: async (directory) => directory.url,
    start: async (directory, query) => (await refresh(directory, query, undefined, ['1.1'])).position,
    read: (directory, query, position) => refresh(directory, query, position === null ? undefined : Buffer.from(position, 'base64'), query.attributes),
  };
}
