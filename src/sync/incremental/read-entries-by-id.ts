/**
 * Reads entries named by their unique ids, within a feed's base and filter: an OR of equality
 * filters per search, never one search per entry. An id that no entry of the search carries has
 * left it (deleted, moved out of the base, or no longer matching the filter).
 */
import type { DirectoryConnection } from '../../directory/index.ts';
import { uniqueIdOf } from '../../directory/index.ts';
import type { DirectoryEntry } from '../../ldap/entry.ts';
import { and, eq, type FilterValue, or, parseFilter } from '../../ldap/filter.ts';
import { parseObjectGuid } from '../../ldap/guid.ts';
import type { FeedQuery } from './change-feed.ts';

/** Ids per search: a filter of this many terms stays well inside every server's limits. */
export const IDS_PER_SEARCH = 200;

/** The filter value for a unique id as dirbridge formats it (objectGUID is matched by its bytes). */
function idValue(attribute: string, id: string): FilterValue {
  return attribute.toLowerCase() === 'objectguid' ? parseObjectGuid(id) : id;
}

/** Reads the entries with these ids; returns them and the ids not found. */
export async function readEntriesById(
  directory: DirectoryConnection,
  query: FeedQuery,
  ids: Iterable<string>,
): Promise<{ entries: DirectoryEntry[]; missingIds: Set<string> }> {
  const wanted = [...new Set(ids)];
  const missingIds = new Set(wanted);
  const entries: DirectoryEntry[] = [];
  const base = parseFilter(query.filter);
  for (let start = 0; start < wanted.length; start += IDS_PER_SEARCH) {
    const batch = wanted.slice(start, start + IDS_PER_SEARCH);
    const terms = batch.map((id) => eq(query.uniqueIdAttribute, idValue(query.uniqueIdAttribute, id)));
    const filter = and(base, terms.length === 1 && terms[0] !== undefined ? terms[0] : or(...terms));
    for await (const page of directory.searchPages({
      baseDn: query.baseDn,
      scope: query.searchScope,
      filter,
      attributes: query.attributes,
      pageSize: query.pageSize,
    })) {
      for (const entry of page) {
        const id = uniqueIdOf(entry, query.uniqueIdAttribute);
        if (id === undefined || !missingIds.has(id)) continue;
        missingIds.delete(id);
        entries.push(entry);
      }
    }
  }
  return { entries, missingIds };
}
