/**
 * Searching through ldapts, page by page.
 *
 * Size limits are enforced here, never sent to the server: ldapts swallows a sizeLimitExceeded
 * result whenever the request carried a size limit, and would hand back a truncated list as if it
 * were complete. With no client size limit on the wire, a server-side limit raises an error that we
 * translate into `directory.size_limit`, and our own limit is checked as entries arrive.
 */
import type { Client, Entry, SearchOptions } from 'ldapts';
import { DirbridgeError } from '../errors.ts';
import { parseDn } from '../ldap/dn.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { parseFilter, type Filter } from '../ldap/filter.ts';
import { toLdaptsFilter } from './ldapts-filter.ts';
import { bufferAttributeNames, normalizeEntry } from './normalize-entry.ts';
import { completeRangedValues, hasRangedValues, type FetchRange } from './ranged-values.ts';
import { translateLdapError } from './translate-error.ts';

/** One search: where, what and how much. */
export interface SearchRequest {
  baseDn: string;
  scope: 'base' | 'one' | 'sub';
  /** Our filter AST, or RFC 4515 text (parsed here; ldapts never sees filter text). */
  filter: Filter | string;
  /** Attributes to return; `[]` means all user attributes. */
  attributes: string[];
  /** Entries per page (defaults to the connection's `pageSize` setting). */
  pageSize?: number;
  /** Throw `directory.size_limit` as soon as more than this many entries arrive. */
  sizeLimit?: number;
  /** Server-side time limit, in seconds. */
  timeLimitSeconds?: number;
  /** Extra attributes to treat as binary (returned as Buffers). */
  binaryAttributes?: string[];
}

/** What a search needs from its connection. */
export interface SearchContext {
  client: Client;
  url: string;
  pageSize: number;
  supportsPaging: boolean;
  /** Throws when the connection must not be used (closed or lost); called right before each request. */
  assertUsable: () => void;
  /** How errors describe the operation (default 'search'). */
  operation?: 'search' | 'rootdse';
}

const ANY_OBJECT = parseFilter('(objectClass=*)');

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

/** Validates a request before anything is sent; throws `directory.invalid_dn` / `directory.invalid_filter` / `usage.invalid`. */
function prepare(request: SearchRequest, defaultPageSize: number): { filter: Filter; pageSize: number } {
  parseDn(request.baseDn);
  const filter = typeof request.filter === 'string' ? parseFilter(request.filter) : request.filter;
  const pageSize = request.pageSize ?? defaultPageSize;
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new DirbridgeError('usage.invalid', `pageSize must be a positive integer, got ${pageSize}`);
  }
  if (request.sizeLimit !== undefined && (!Number.isInteger(request.sizeLimit) || request.sizeLimit < 0)) {
    throw new DirbridgeError('usage.invalid', `sizeLimit must be a non-negative integer, got ${request.sizeLimit}`);
  }
  return { filter, pageSize };
}

/** Runs a search and yields normalised entries in pages; any failure (including a size limit) throws, never ends early. */
export async function* searchPages(context: SearchContext, request: SearchRequest): AsyncGenerator<DirectoryEntry[], void, undefined> {
  const { filter, pageSize } = prepare(request, context.pageSize);
  const binary = request.binaryAttributes ?? [];
  const options: SearchOptions = {
    scope: request.scope,
    filter: toLdaptsFilter(filter),
    attributes: request.attributes,
    explicitBufferAttributes: bufferAttributeNames(request.attributes, binary),
    sizeLimit: 0,
    timeLimit: request.timeLimitSeconds ?? 0,
    paged: context.supportsPaging ? { pageSize } : false,
  };
  const errorContext = { operation: context.operation ?? 'search', url: context.url, baseDn: request.baseDn };
  let count = 0;
  // AD cuts large multi-valued attributes into ranges; fetch the rest of each from that entry alone.
  const fetchRange: FetchRange = async (dn, attribute) => {
    context.assertUsable();
    const result = await context.client.search(dn, {
      scope: 'base',
      filter: toLdaptsFilter(ANY_OBJECT),
      attributes: [attribute],
      explicitBufferAttributes: bufferAttributeNames([attribute], binary),
      sizeLimit: 0,
      timeLimit: request.timeLimitSeconds ?? 0,
      paged: false,
    });
    const [raw] = result.searchEntries;
    return raw === undefined ? undefined : normalizeEntry(raw, binary);
  };
  const accept = async (raw: Entry[]): Promise<DirectoryEntry[][]> => {
    count += raw.length;
    if (request.sizeLimit !== undefined && count > request.sizeLimit) {
      throw new DirbridgeError('directory.size_limit', `more than ${request.sizeLimit} entries match (search under ${request.baseDn})`, {
        details: { url: context.url, baseDn: request.baseDn, sizeLimit: request.sizeLimit },
      });
    }
    const entries: DirectoryEntry[] = [];
    for (const entry of raw.map((item) => normalizeEntry(item, binary))) {
      entries.push(hasRangedValues(entry) ? await completeRangedValues(entry, fetchRange) : entry);
    }
    return chunk(entries, pageSize);
  };

  try {
    // Checked synchronously right before ldapts looks at the socket: a lost connection must fail,
    // never be silently re-opened by ldapts (in plain text, unauthenticated).
    context.assertUsable();
    if (context.supportsPaging) {
      for await (const result of context.client.searchPaginated(request.baseDn, options)) {
        for (const page of await accept(result.searchEntries)) yield page;
      }
    } else {
      const result = await context.client.search(request.baseDn, options);
      for (const page of await accept(result.searchEntries)) yield page;
    }
  } catch (error) {
    throw translateLdapError(error, errorContext);
  }
}

/** Collects a small search into one array; throws `directory.size_limit` when more than `maxEntries` match. */
export async function searchAll(context: SearchContext, request: SearchRequest & { maxEntries: number }): Promise<DirectoryEntry[]> {
  const limit = Math.min(request.maxEntries, request.sizeLimit ?? Number.POSITIVE_INFINITY);
  const pageSize = Math.min(request.pageSize ?? context.pageSize, limit + 1);
  const entries: DirectoryEntry[] = [];
  for await (const page of searchPages(context, { ...request, sizeLimit: limit, pageSize })) entries.push(...page);
  return entries;
}
