/**
 * Saved versions of the settings document.
 */
import type { JsonValue } from './json-value.ts';
import type { Timestamp } from './timestamp.ts';

/** One saved version of the settings document (without the store section; secrets sealed). */
export interface StoredSettingsVersion {
  version: number;
  document: JsonValue;
  createdAt: Timestamp;
  createdBy: string;
}
