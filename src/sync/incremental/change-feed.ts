/**
 * A change feed: how an incremental run learns what changed in one part of the directory (the
 * users, or the groups) since a position it stored. Each server's feed (RFC 4533 content sync,
 * AD DirSync, uSNChanged or modifyTimestamp polling) implements this, and the rest of the run is
 * the same for all of them.
 */
import type { DirectoryConnection } from '../../directory/index.ts';
import type { DirectoryEntry } from '../../ldap/entry.ts';
import type { ChangeSource, CursorScope } from '../../model/index.ts';

/** The part of the directory one feed follows: the users' or the groups' search. */
export interface FeedQuery {
  scope: CursorScope;
  baseDn: string;
  searchScope: 'base' | 'one' | 'sub';
  filter: string;
  attributes: string[];
  uniqueIdAttribute: string;
  pageSize: number;
}

/** Values of one attribute added to and removed from an entry. */
export interface ValueChange {
  attribute: string;
  added: string[];
  removed: string[];
}

/** What changed since a position. */
export interface FeedChanges {
  /** Entries added or changed, whole, as a search would return them. */
  entries: DirectoryEntry[];
  /** Unique ids of entries that changed but came without all their attributes: read again whole. */
  idsToRead: Set<string>;
  /**
   * Member values added and removed, by the unique id of a group whose other attributes did not
   * change (AD DirSync's incremental values): applied to the stored group, so one member added to
   * a 50,000-member group costs one value. A group not stored yet is read whole instead.
   */
  valueChanges?: Map<string, ValueChange[]>;
  /** Unique ids of entries that left the search: deleted, moved out of the base or no longer matching. */
  deletedIds: Set<string>;
  /**
   * Set after the server listed the ids still present instead of the deleted ones (an RFC 4533
   * present phase): every stored id neither here nor among `entries` has left.
   */
  presentIds?: Set<string>;
  /** Where the next read starts. */
  position: string | null;
}

/** One server's change feed. */
export interface ChangeFeed {
  readonly source: ChangeSource;
  /**
   * Who the positions belong to (a server's identity, such as AD's invocationId); a stored
   * position taken on another identity is not used. Null when the feed cannot tell.
   */
  serverIdentity(directory: DirectoryConnection): Promise<string | null>;
  /** A position from which `read` returns every change made from now on; taken before a full read. */
  start(directory: DirectoryConnection, query: FeedQuery): Promise<string | null>;
  /** The changes since `position`; throws `sync.cursor_invalid` when the position can no longer be read from. */
  read(directory: DirectoryConnection, query: FeedQuery, position: string | null): Promise<FeedChanges>;
}
