/**
 * The fallback when DirSync is not allowed: poll for entries whose `uSNChanged` is above the last
 * high-water mark, on the same domain controller (USNs are per DC; check readAdServerIdentity).
 *
 * What it does not see: deletions (a deleted object leaves the search scope; catch them with a
 * periodic full sync, or a Show Deleted search), and group membership changes on the member's side
 * (adding a user to a group moves the group's uSNChanged, not the user's, so `memberOf` changes
 * arrive through the group entries). Take the next high-water mark from `highestCommittedUsn`
 * read *before* the poll, so that a change made during the poll is read again next time, never lost.
 */
import { DirbridgeError } from '../../errors.ts';
import type { DirectoryEntry } from '../../ldap/entry.ts';
import { and, type Filter, gte, parseFilter } from '../../ldap/filter.ts';
import type { DirectoryConnection } from '../connect.ts';

/** A poll for entries changed since a USN. */
export interface UsnChangesRequest {
  baseDn: string;
  scope: 'base' | 'one' | 'sub';
  /** Which entries (RFC 4515 text or our filter AST); combined with the USN condition. */
  filter: Filter | string;
  /** Attributes to return (`uSNChanged` is added when a list is given). */
  attributes: readonly string[];
  pageSize: number;
  /** The high-water mark: entries with uSNChanged > sinceUsn are returned (decimal text). */
  sinceUsn: string;
}

/** The filter `(&(filter)(uSNChanged>=sinceUsn+1))`, built as an AST. */
export function usnChangesFilter(filter: Filter | string, sinceUsn: string): Filter {
  if (!/^\d+$/.test(sinceUsn)) throw new DirbridgeError('usage.invalid', `sinceUsn must be a non-negative decimal integer, got ${JSON.stringify(sinceUsn)}`);
  const next = (BigInt(sinceUsn) + 1n).toString();
  return and(typeof filter === 'string' ? parseFilter(filter) : filter, gte('uSNChanged', next));
}

/** Yields, page by page, the entries matching `filter` whose uSNChanged is above `sinceUsn`. */
export function readUsnChanges(connection: DirectoryConnection, request: UsnChangesRequest): AsyncIterable<DirectoryEntry[]> {
  const filter = usnChangesFilter(request.filter, request.sinceUsn);
  const attributes =
    request.attributes.length === 0 || request.attributes.some((name) => name.toLowerCase() === 'usnchanged')
      ? [...request.attributes]
      : [...request.attributes, 'uSNChanged'];
  return connection.searchPages({ baseDn: request.baseDn, scope: request.scope, filter, attributes, pageSize: request.pageSize });
}
