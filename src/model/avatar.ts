/**
 * User avatars.
 */
import type { Timestamp } from './timestamp.ts';

/** A user's avatar: the image bytes and the SHA-256 that tells whether they changed. */
export interface AvatarRecord {
  userId: string;
  contentHash: string;
  mimeType: string;
  data: Buffer;
  updatedAt: Timestamp;
}

/** A stored avatar without its bytes: enough for an ETag, a cache-busting URL or a page of users. */
export interface AvatarInfo {
  userId: string;
  contentHash: string;
  mimeType: string;
  byteLength: number;
  updatedAt: Timestamp;
}
