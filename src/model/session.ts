/**
 * Login sessions.
 */
import type { Timestamp } from './timestamp.ts';

/** A login session. The token itself is never stored: only its SHA-256 hash, hex-encoded. */
export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: Timestamp;
  expiresAt: Timestamp;
  lastSeenAt: Timestamp | null;
  revokedAt: Timestamp | null;
  revokedReason: string | null;
  clientAddress: string | null;
}

/** A session to insert. */
export interface NewSession {
  userId: string;
  tokenHash: string;
  expiresAt: Timestamp;
  clientAddress?: string | null;
}

/** A session with its user's name, as listed. */
export type SessionWithUsername = SessionRecord & { username: string };
