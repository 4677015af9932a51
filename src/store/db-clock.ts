/**
 * The database's own clock as a stored timestamp (`2024-05-01T12:00:00.000Z`, the text
 * `Date#toISOString()` writes), for leases that instances on several machines compare: on
 * PostgreSQL every instance reads the one server clock, so their own clocks' skew does not matter.
 */
import { type RawBuilder, sql } from 'kysely';
import type { StoreDialect } from './store.ts';

/** An SQL expression for the database's current time plus `offsetMs`, in the store's timestamp text. */
export function databaseNow(dialect: StoreDialect, offsetMs = 0): RawBuilder<string> {
  if (!Number.isFinite(offsetMs)) throw new RangeError(`offsetMs must be finite, not ${offsetMs}`);
  const milliseconds = Math.round(offsetMs);
  if (dialect === 'postgres') {
    // clock_timestamp(), not now(): the time of this statement, not of the transaction's start.
    return sql<string>`to_char((clock_timestamp() + ${milliseconds} * interval '1 millisecond') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  }
  // SQLite's %f is seconds with milliseconds (SS.SSS).
  return sql<string>`strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ${`${(milliseconds / 1000).toFixed(3)} seconds`})`;
}
