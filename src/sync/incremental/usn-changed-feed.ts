/**
 * Active Directory's fallback feed when the bind account may not use DirSync: entries whose
 * `uSNChanged` is above the USN stored last time, on the same domain controller (USNs are
 * numbered per DC, so the feed's identity is the DC's `dsServiceName` and `invocationId`).
 * Changed entries come whole, as a search returns them.
 *
 * The next position is the DC's `highestCommittedUSN` read before each poll, so a change committed
 * during the poll is read again next time, never lost.
 *
 * What it cannot see: deletions and moves out of the base (the entry is no longer in the search),
 * and entries that stopped matching the filter (disabled, when the filter leaves disabled users
 * out). The periodic full sync (`sync.fullSchedule`) catches those. A membership change moves the
 * group's uSNChanged, not the member's: it arrives with the group, which is read whole. A member
 * renamed or moved changes the DN its groups show without changing the groups: the pipeline reads
 * again the stored groups holding a stored user's old DN, but a member dirbridge never stored (out
 * of the users' base or filter) that is later moved into it shows up without those groups until
 * the next full sync (the DirSync feed looks such members up; this one cannot tell them apart).
 */
import { type DirectoryConnection, readAdServerIdentity, readUsnChanges } from '../../directory/index.ts';
import { DirbridgeError } from '../../errors.ts';
import type { DirectoryEntry } from '../../ldap/entry.ts';
import type { ChangeFeed, FeedChanges, FeedQuery } from './change-feed.ts';

/** A uSNChanged polling feed. */
export function createUsnChangedFeed(): ChangeFeed {
  return {
    source: 'usnChanged',
    serverIdentity: async (directory) => {
      const identity = await readAdServerIdentity(directory);
      return `${identity.invocationId} ${identity.dsServiceName}`;
    },
    start: async (directory) => (await readAdServerIdentity(directory)).highestCommittedUsn,
    read: (directory, query, position) => readChanges(directory, query, position),
  };
}

async function readChanges(directory: DirectoryConnection, query: FeedQuery, position: string | null): Promise<FeedChanges> {
  const identity = await readAdServerIdentity(directory);
  if (position === null || !/^\d+$/.test(position)) {
    throw new DirbridgeError('sync.cursor_invalid', `the stored uSNChanged position ${JSON.stringify(position)} is not a USN; a full sync is needed`);
  }
  if (BigInt(position) > BigInt(identity.highestCommittedUsn)) {
    throw new DirbridgeError(
      'sync.cursor_invalid',
      `the stored USN ${position} is ahead of the DC's highestCommittedUSN ${identity.highestCommittedUsn} (a restored or another DC); a full sync is needed`,
      { details: { url: directory.url, position, highestCommittedUsn: identity.highestCommittedUsn } },
    );
  }
  const entries: DirectoryEntry[] = [];
  for await (const page of readUsnChanges(directory, {
    baseDn: query.baseDn,
    scope: query.searchScope,
    filter: query.filter,
    attributes: query.attributes,
    pageSize: query.pageSize,
    sinceUsn: position,
  })) {
    entries.push(...page);
  }
  return { entries, idsToRead: new Set(), deletedIds: new Set(), position: identity.highestCommittedUsn };
}
