/**
 * Teams, created by mapping.
 */
import type { RecordSource } from './record-source.ts';
import type { Timestamp } from './timestamp.ts';

/** A team, created by mapping when missing. */
export interface TeamRecord {
  id: string;
  name: string;
  source: RecordSource;
  createdAt: Timestamp;
}
