/**
 * Timestamps: ISO-8601 UTC strings exactly as `Date#toISOString()` writes them
 * (`2024-05-01T12:00:00.000Z`), so they sort as text and compare equal across backends.
 */

/** An ISO-8601 UTC timestamp as written by `Date#toISOString()`. */
export type Timestamp = string;
