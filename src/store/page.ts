/**
 * Page and search arguments of the listings, checked and turned into SQL values.
 */
import { DirbridgeError } from '../errors.ts';
import type { PageQuery } from '../model/index.ts';

/** Escapes LIKE wildcards so `search` matches literally (used with `escape '\'`). */
export function containsPattern(search: string): string {
  return `%${search.toLowerCase().replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

/** Rejects page arguments that would produce surprising SQL. */
export function checkPage(page: PageQuery): void {
  if (!Number.isSafeInteger(page.limit) || page.limit < 0 || !Number.isSafeInteger(page.offset) || page.offset < 0) {
    throw new DirbridgeError('usage.invalid', 'limit and offset must be non-negative integers', { details: { ...page } });
  }
}
