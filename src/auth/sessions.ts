/** Sessions: opaque tokens for clients, hashes with an expiry in the store, revocation. */

import type { SessionRecord, UserRecord } from '../model/index.ts';
import type { LoginSettings } from '../settings/schema.ts';
import type { Store } from '../store/store.ts';
import { hashToken, newSessionToken } from './tokens.ts';

const TOUCH_INTERVAL_MS = 60_000;

/** What the session service needs. */
export interface SessionDeps {
  store: Store;
  settings: Pick<LoginSettings, 'sessionTtlMinutes'>;
  now: () => Date;
}

/** A valid session with its (enabled) user. */
export interface ValidSession {
  session: SessionRecord;
  user: UserRecord;
}

/** Creates the session service. */
export function createSessionService(deps: SessionDeps) {
  const { store } = deps;
  return {
    /** Starts a session for a user; the token is returned once and never stored. */
    async start(userId: string, clientAddress?: string): Promise<{ token: string; session: SessionRecord }> {
      const token = newSessionToken();
      const expiresAt = new Date(deps.now().getTime() + deps.settings.sessionTtlMinutes * 60_000).toISOString();
      const session = await store.transaction((tx) =>
        tx.sessions.insert({ userId, tokenHash: hashToken(token), expiresAt, clientAddress: clientAddress ?? null }),
      );
      return { token, session };
    },

    /** The session and user behind a token, or undefined when it is unknown, expired, revoked or its user is disabled. */
    async validate(token: string): Promise<ValidSession | undefined> {
      if (token.trim() === '') return undefined;
      const session = await store.sessions.findByTokenHash(hashToken(token));
      const now = deps.now().toISOString();
      if (session === undefined || session.revokedAt !== null || session.expiresAt <= now) return undefined;
      const user = await store.users.get(session.userId);
      if (user === undefined || !user.isEnabled) return undefined;
      // Recording use at most once a minute keeps validation from taking the write lock on every request.
      if (session.lastSeenAt === null || Date.parse(now) - Date.parse(session.lastSeenAt) >= TOUCH_INTERVAL_MS) {
        await store.transaction((tx) => tx.sessions.touch(session.id, now));
      }
      return { session, user };
    },

    /** Revokes the session behind a token (logout); true when there was one to revoke. */
    async logout(token: string): Promise<boolean> {
      const session = await store.sessions.findByTokenHash(hashToken(token));
      if (session === undefined) return false;
      const revoked = await store.transaction((tx) => tx.sessions.revoke({ ids: [session.id] }, 'logout', deps.now().toISOString()));
      return revoked.length > 0;
    },
  };
}

/** The session service's public shape. */
export type SessionService = ReturnType<typeof createSessionService>;
