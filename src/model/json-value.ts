/**
 * JSON values, as stored in JSON text columns.
 */

/** A JSON value, as stored in JSON text columns. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
