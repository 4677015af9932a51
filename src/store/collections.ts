/**
 * Small helpers for the lists repositories write: de-duplication and primary-key order.
 */

/** Distinct strings, in first-seen order. */
export function distinct(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Orders string pairs lexicographically (the primary-key order of the two-column tables). */
export function compareTuples(a: readonly [string, string], b: readonly [string, string]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}
