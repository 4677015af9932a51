/**
 * Channels (Rocket.Chat's rooms), created by mapping.
 */
import type { RecordSource } from './record-source.ts';
import type { Timestamp } from './timestamp.ts';

/** A channel (Rocket.Chat's rooms): created by mapping when missing, owned by the configured channel admin. */
export interface ChannelRecord {
  id: string;
  name: string;
  /** Username of the owner (the seed's Channel Admin), or null. */
  ownerUsername: string | null;
  source: RecordSource;
  createdAt: Timestamp;
}
