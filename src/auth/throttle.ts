/**
 * Throttles failed logins per username and per client address. Failures live in the store,
 * so the limit holds across every instance that shares the PostgreSQL database.
 */
import type { LoginSettings } from '../settings/schema.ts';
import type { Store } from '../store/store.ts';

/** What the throttle needs. */
export interface ThrottleDeps {
  store: Store;
  settings: LoginSettings['throttle'];
  now: () => Date;
}

/** The keys a login attempt is counted under. */
export function throttleKeys(username: string, clientAddress: string | undefined): string[] {
  const keys = [`user:${username.trim().toLowerCase()}`];
  if (clientAddress !== undefined && clientAddress !== '') keys.push(`address:${clientAddress}`);
  return keys;
}

/** Creates the throttle. */
export function createLoginThrottle(deps: ThrottleDeps) {
  const windowStart = () => new Date(deps.now().getTime() - deps.settings.windowSeconds * 1000).toISOString();
  return {
    /** The first key that reached the limit inside the window, if any. */
    async limitedKey(keys: readonly string[]): Promise<string | undefined> {
      const counts = await deps.store.countLoginFailures(keys, windowStart());
      return keys.find((key) => (counts[key] ?? 0) >= deps.settings.maxFailures);
    },
    /** Counts one failure under every key. */
    async recordFailure(keys: readonly string[]): Promise<void> {
      await deps.store.transaction((tx) => tx.recordLoginFailure(keys, deps.now().toISOString()));
    },
    /** Forgets the username's failures after a successful login (the address keeps its count). */
    async recordSuccess(keys: readonly string[]): Promise<void> {
      const userKeys = keys.filter((key) => key.startsWith('user:'));
      await deps.store.transaction(async (tx) => {
        await tx.clearLoginFailures(userKeys);
        await tx.pruneLoginFailures(windowStart());
      });
    },
  };
}

/** The throttle's public shape. */
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
