/**
 * Where an account or group comes from.
 */

/** Where an account or group comes from. */
export type RecordSource = 'local' | 'directory';
