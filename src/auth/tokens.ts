/** Session tokens: 256 random bits for the client, and only their SHA-256 hash for the store. */
import { createHash, randomBytes } from 'node:crypto';

/** A new opaque session token (base64url, 43 characters). */
export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The hash under which a token is stored and looked up. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
