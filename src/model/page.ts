/**
 * Page requests of the listings.
 */

/** A page request. */
export interface PageQuery {
  limit: number;
  offset: number;
}
