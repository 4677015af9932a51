/**
 * Searching through ldapts, page by page.
 *
 * A base DN that does not exist is an error on every server. OpenLDAP and AD answer such a search
 * with noSuchObject (32), but 389-DS answers a paged one with success and no entries. So a search
 * (other than a base-scope one) that returns nothing reads its base entry once more, unpaged, with
 * scope base and no attributes, and throws `directory.no_such_object` naming the DN (and the
 * setting that holds it, when the caller says which) if that entry is not there. A base found once
 * is remembered for the connection's life, so this costs one small request per base DN at most.
 *
 * Size limits are enforced here, never sent to the server: ldapts swallows a sizeLimitExceeded
 * result whenever the request carried a size limit, and would hand back a truncated list as if it
 * were complete. With no client size limit on the wire, a server-side limit raises an error that we
 * translate into `directory.size_limit`, and our own limit is checked as entries arrive.
 */
import type { Client, Control, Entry, SearchOptions } from 'ldapts';
import { DirbridgeError } from '../errors.ts';
import { normalizeDn, parseDn } from '../ldap/dn.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { type Filter, parseFilter } from '../ldap/filter.ts';
import { toLdaptsFilter } from './ldapts-filter.ts';
import { bufferAttributeNames, normalizeEntry } from './normalize-entry.ts';
import { completeRangedValues, type FetchRange, hasRangedValues } from './ranged-values.ts';
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
  /** The setting that holds `baseDn` (e.g. `users.baseDn`), named when the base does not exist. */
  baseDnSetting?: string;
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
  /** Base DNs (normalised) seen to exist on this connection; a missing one is never recorded. */
  knownBases?: Set<string>;
}

const ANY_OBJECT = parseFilter('(objectClass=*)');

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

/** The error for a base DN that does not exist, naming the setting that holds it when known. */
export function missingBaseError(
  request: Pick<SearchRequest, 'baseDn' | 'baseDnSetting'>,
  url: string,
  options: { cause?: unknown; isHidden?: boolean } = {},
): DirbridgeError {
  const what = options.isHidden === true ? 'does not exist or is not visible to the bind DN' : 'does not exist';
  const setting = request.baseDnSetting === undefined ? '' : `${request.baseDnSetting}: `;
  return new DirbridgeError('directory.no_such_object', `${setting}the base DN ${JSON.stringify(request.baseDn)} ${what} (searching ${url})`, {
    ...(options.cause === undefined ? {} : { cause: options.cause }),
    details: { url, baseDn: request.baseDn, ...(request.baseDnSetting === undefined ? {} : { setting: request.baseDnSetting }) },
  });
}

/**
 * Reads the base entry alone (scope base, no attributes, never paged: 389-DS answers a paged
 * search under a missing base with success) and throws `directory.no_such_object` when it is not there.
 */
async function assertBaseExists(context: SearchContext, request: SearchRequest, key: string): Promise<void> {
  context.assertUsable();
  let found: Entry[];
  try {
    const result = await context.client.search(request.baseDn, {
      scope: 'base',
      filter: toLdaptsFilter(ANY_OBJECT),
      attributes: ['1.1'],
      sizeLimit: 0,
      timeLimit: request.timeLimitSeconds ?? 0,
      paged: false,
    });
    found = result.searchEntries;
  } catch (error) {
    const translated = translateLdapError(error, { operation: 'search', url: context.url, baseDn: request.baseDn });
    if (translated.code === 'directory.no_such_object') throw missingBaseError(request, context.url, { cause: error });
    throw translated;
  }
  if (found.length === 0) throw missingBaseError(request, context.url, { isHidden: true });
  context.knownBases?.add(key);
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
    let result;
    try {
      result = await context.client.search(dn, {
        scope: 'base',
        filter: toLdaptsFilter(ANY_OBJECT),
        attributes: [attribute],
        explicitBufferAttributes: bufferAttributeNames([attribute], binary),
        sizeLimit: 0,
        timeLimit: request.timeLimitSeconds ?? 0,
        paged: false,
      });
    } catch (error) {
      // About that entry, not the search's base.
      throw translateLdapError(error, { ...errorContext, baseDn: dn });
    }
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

  // The root DSE and base-scope reads answer "not there" with no entries, which is their answer.
  const baseKey = request.scope === 'base' || request.baseDn.trim() === '' ? undefined : normalizeDn(request.baseDn);
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
    const translated = translateLdapError(error, errorContext);
    // noSuchObject from the server for this search (not a referral, and not a DirbridgeError such as
    // a ranged-value read of another entry or a size limit, which keep their meaning).
    if (!(error instanceof DirbridgeError) && translated.details['resultCode'] === 32 && baseKey !== undefined) {
      throw missingBaseError(request, context.url, { cause: error });
    }
    throw translated;
  }
  if (baseKey === undefined) return;
  if (count > 0) context.knownBases?.add(baseKey);
  else if (context.knownBases?.has(baseKey) !== true) await assertBaseExists(context, request, baseKey);
}

/** Collects a small search into one array; throws `directory.size_limit` when more than `maxEntries` match. */
export async function searchAll(context: SearchContext, request: SearchRequest & { maxEntries: number }): Promise<DirectoryEntry[]> {
  const limit = Math.min(request.maxEntries, request.sizeLimit ?? Number.POSITIVE_INFINITY);
  const pageSize = Math.min(request.pageSize ?? context.pageSize, limit + 1);
  const entries: DirectoryEntry[] = [];
  for await (const page of searchPages(context, { ...request, sizeLimit: limit, pageSize })) entries.push(...page);
  return entries;
}

/**
 * One unpaged search carrying request `controls`; response controls of the same OIDs are decoded
 * into those control objects, in place (how ldapts works), so pass fresh instances each time.
 * Entries come back as the server sent them: ranged attributes (`member;range=1-1`) are not
 * completed, because controls such as DirSync give them a meaning of their own. Referrals are
 * ignored. Throws typed errors; `maxEntries` bounds the entries kept (`directory.size_limit`).
 */
export async function searchWithControls(
  context: SearchContext,
  request: SearchRequest & { maxEntries?: number },
  controls: readonly Control[],
): Promise<DirectoryEntry[]> {
  const { filter } = prepare(request, context.pageSize);
  const binary = request.binaryAttributes ?? [];
  const options: SearchOptions = {
    scope: request.scope,
    filter: toLdaptsFilter(filter),
    attributes: request.attributes,
    explicitBufferAttributes: bufferAttributeNames(request.attributes, binary),
    sizeLimit: 0,
    timeLimit: request.timeLimitSeconds ?? 0,
    paged: false,
  };
  let result;
  try {
    context.assertUsable();
    result = await context.client.search(request.baseDn, options, [...controls]);
  } catch (error) {
    const translated = translateLdapError(error, { operation: context.operation ?? 'search', url: context.url, baseDn: request.baseDn });
    if (!(error instanceof DirbridgeError) && translated.details['resultCode'] === 32) throw missingBaseError(request, context.url, { cause: error });
    throw translated;
  }
  const limit = Math.min(request.maxEntries ?? Number.POSITIVE_INFINITY, request.sizeLimit ?? Number.POSITIVE_INFINITY);
  if (result.searchEntries.length > limit) {
    throw new DirbridgeError('directory.size_limit', `more than ${limit} entries match (search under ${request.baseDn})`, {
      details: { url: context.url, baseDn: request.baseDn, sizeLimit: limit },
    });
  }
  return result.searchEntries.map((item) => normalizeEntry(item, binary));
}
