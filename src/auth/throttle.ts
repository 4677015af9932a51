/**
 * The login throttle: reserve, then guess, then settle.
 *
 * Every attempt is counted before anything is asked: one store transaction (holding a lock per key)
 * checks the limits and inserts a pending row under each key, so concurrent attempts see each other
 * and a burst gets exactly as far as the limit, on one instance or many sharing PostgreSQL. Pending
 * rows count as failures; a failed guess keeps them, an attempt that was no guess (the directory was
 * down, the attempt was refused) releases them, and a successful login clears the subject's failures.
 * A process that dies in between leaves its rows pending: they go on counting as failures (the bind
 * may have reached the directory), and the next successful login clears them once they are older
 * than `inFlightMs`, so a crash never reserves anything for good.
 *
 * Keys:
 * - `user:<typed name>` — per name over all addresses; every name, existing or not, local or from the
 *   directory, is held to the same limit, so a throttled answer tells nothing about the name;
 * - `account:<external id>` — per directory account, reserved after the lookup and right before the
 *   bind, whatever name found it (uid or cn, `DOMAIN\name` or a UPN): what the directory counts. Its
 *   limit stays below the directory's lockout threshold, its failures are kept as long as the
 *   directory keeps them, and the directory's own counter (other applications' failures) counts too;
 * - `address:<client address>` — per client address (IPv6 by /64), only for attempts at a name the
 *   address has not signed in with before.
 * After a successful login the (subject, address) pair is remembered for `knownAddressDays`. From
 * such an address the per-address limit does not apply, and the last `knownAddressReserve` attempts
 * of the per-name and per-account limits are kept for it: strangers stop earlier.
 *
 * An administrator may clear one account's failures (`clear`, with `status` to see whether strangers
 * are refused); the directory's own counter stays, and keeps counting where it is seen.
 */
import { randomUUID } from 'node:crypto';
import type { DirectoryEntry } from '../ldap/entry.ts';
import type { NewAuditEntry } from '../model/index.ts';
import type { ClearedLoginFailures, LoginAttemptReader } from '../store/login-attempts-repository.ts';
import type { Store } from '../store/store.ts';
import { addressKey } from './client-address.ts';
import type { LockoutPolicies } from './lockout-policies.ts';
import { accountLimit, accountMemorySeconds, attemptLimit, directoryFailureCount, type LockoutPolicy, type ThrottleSettings } from './lockout-policy.ts';

/** What the throttle needs. */
export interface ThrottleDeps {
  store: Store;
  settings: ThrottleSettings;
  policies: LockoutPolicies;
  now: () => Date;
  /** The longest an attempt runs from its reservation to its settling; pending rows older than this belong to a process that is gone. */
  inFlightMs: number;
}

/** A reserved login attempt. Settle it exactly once: `failed`, `released` or `succeeded`. */
export interface LoginAttempt {
  /**
   * Reserves the attempt under the directory account about to be bound to, right before the bind.
   * False when the account's limit, or the directory's own failure counter, leaves no room: the
   * whole attempt is then released and the login must be refused as throttled.
   */
  reserveAccount(account: { externalId: string; entry: DirectoryEntry; lookupStartedAt: Date }): Promise<boolean>;
  /** A guess that failed (wrong password, unknown name, ...): it stays counted. */
  failed(): Promise<void>;
  /** Not a guess (the directory was unavailable, or the login failed after the password was accepted): forgotten. */
  released(): Promise<void>;
  /** A successful login: the subject's failures are cleared and the address is remembered. */
  succeeded(): Promise<void>;
}

/** Whose throttle an administrator looks at or clears: a dirbridge account, by its username and (for directory users) its directory account. */
export interface ThrottleSubject {
  username: string;
  /** The directory account's unique id; null for a local account. */
  externalId: string | null;
}

/** Whether dirbridge's throttle refuses strangers' logins to an account now (see `status`). */
export interface ThrottleStatus {
  /** True when a login from an address the account has not signed in from is refused as throttled. */
  isThrottled: boolean;
  /** The failed (or unsettled) attempts counted: the more of those under the username and under the directory account. */
  failures: number;
  /** How many a stranger's login may find before it is refused (the per-account limit less the known-address reserve). */
  limit: number;
}

/** The start of time, as a `since` that counts everything. */
const EPOCH = new Date(0).toISOString();
const DAY_MS = 86_400_000;
/** How often expired attempts and addresses are deleted, at most. */
const PRUNE_INTERVAL_MS = 60_000;

/**
 * The longest a login attempt can take from its reservation to its settling, from the directory
 * timeouts: the lookup (a connection, its retry, the search) and the bind (waiting for a pooled
 * connection, opening one, the bind), with a minute to spare. Erring long is safe: a pending row is
 * then counted a little longer than needed.
 */
export function inFlightBoundMs(directory: { connectTimeoutMs: number; operationTimeoutMs: number }): number {
  return Math.max(120_000, 2 * (directory.connectTimeoutMs + 5 * directory.operationTimeoutMs) + 60_000);
}

/** The key a typed login name is counted under (trimmed, Unicode-normalised, case-folded). */
export function nameKey(username: string): string {
  return `user:${username.trim().normalize('NFKC').toLowerCase()}`;
}

/** The key a directory account is counted under. */
export function accountKey(externalId: string): string {
  return `account:${externalId}`;
}

/** Creates the throttle. */
export function createLoginThrottle(deps: ThrottleDeps) {
  const { store, settings } = deps;
  const iso = (ms: number) => new Date(ms).toISOString();
  const knownSince = (at: number) => iso(at - settings.knownAddressDays * DAY_MS);
  /** The longest account memory (ms) seen by this instance; null once a policy never forgets. */
  let longestAccountMemoryMs: number | null = settings.windowSeconds * 1000;
  let prunedAt = Number.NEGATIVE_INFINITY;

  const noteAccountMemory = (seconds: number | null) => {
    if (longestAccountMemoryMs === null) return;
    longestAccountMemoryMs = seconds === null ? null : Math.max(longestAccountMemoryMs, seconds * 1000);
  };

  /** Deletes what no limit looks at any more; housekeeping, so a failure here never fails a login (the next one retries). */
  const prune = async (at: number, policy: LockoutPolicy) => {
    if (at - prunedAt < PRUNE_INTERVAL_MS) return;
    prunedAt = at;
    const windowStart = iso(at - settings.windowSeconds * 1000);
    // Account rows are kept as long as any policy seen keeps failures; while the default policy is
    // unknown or never forgets, they are not pruned by age (they are few: an account takes no more
    // rows once its limit is reached).
    noteAccountMemory(policy.kind === 'unknown' ? null : accountMemorySeconds(settings, policy, false));
    const attempts = [
      { keyPrefix: 'user:', before: windowStart },
      { keyPrefix: 'address:', before: windowStart },
      ...(longestAccountMemoryMs === null ? [] : [{ keyPrefix: 'account:', before: iso(at - longestAccountMemoryMs) }]),
    ];
    await store.loginAttempts.prune({ attempts, knownAddressesBefore: settings.knownAddressDays === 0 ? iso(at + 1) : knownSince(at) }).catch(() => undefined);
  };

  /** The keys an account's failures are counted under: its username and, for a directory account, the account itself. */
  const keysOf = (subject: ThrottleSubject) => ({
    name: nameKey(subject.username),
    account: subject.externalId === null ? undefined : accountKey(subject.externalId),
  });

  return {
    /**
     * Whether strangers' logins to `subject` are refused now, from dirbridge's own count alone: no
     * directory call, so the directory's own counter (pwdFailureTime, badPwdCount,
     * passwordRetryCount), a policy an entry names, and a lockout in the directory are not seen. The
     * default policy is the one this instance last read (before its first login, the bound for an
     * unreadable policy), or with `readPolicy` the one in force (read, or waited for, when it is not cached).
     */
    async status(subject: ThrottleSubject, options: { readPolicy?: boolean } = {}): Promise<ThrottleStatus> {
      const policy = options.readPolicy === true ? await deps.policies.current() : deps.policies.peek();
      const at = deps.now().getTime();
      const { name, account } = keysOf(subject);
      const limit = attemptLimit(accountLimit(settings, policy), settings.knownAddressReserve, false);
      const names = (await store.loginAttempts.count([name], iso(at - settings.windowSeconds * 1000)))[name] ?? 0;
      const memory = accountMemorySeconds(settings, policy, false);
      const accounts =
        account === undefined ? 0 : ((await store.loginAttempts.count([account], memory === null ? EPOCH : iso(at - memory * 1000)))[account] ?? 0);
      const failures = Math.max(names, accounts);
      return { isThrottled: failures >= limit, failures, limit };
    },

    /**
     * Clears dirbridge's throttle for `subject`: its failed attempts under its username, its directory
     * account and the other names that account was tried by (`store.loginAttempts.clearFailures`),
     * with the audit entry `audit` makes. Attempts still running are left to settle. The directory's
     * own counter is not touched (dirbridge never writes to the directory): where it shows one, logins
     * stay refused until the directory's count allows another attempt.
     */
    clear(subject: ThrottleSubject, audit: (cleared: ClearedLoginFailures) => NewAuditEntry): Promise<ClearedLoginFailures> {
      const { name, account } = keysOf(subject);
      return store.loginAttempts.clearFailures({ nameKeys: [name], accountKey: account, abandonedBefore: iso(deps.now().getTime() - deps.inFlightMs), audit });
    },

    /** The lockout policy that governs a directory entry (cached; `unknown` when it cannot be read). */
    policyFor: (entry: DirectoryEntry): Promise<LockoutPolicy> => deps.policies.forEntry(entry),

    /**
     * Reserves an attempt at `username` from `clientAddress` (the end user's IP address; absent for
     * the CLI and for applications that do not pass it on: then no address is counted, and none is
     * known). Undefined when a limit is reached: refuse the login as throttled.
     */
    async begin(input: { username: string; clientAddress?: string | undefined }): Promise<LoginAttempt | undefined> {
      const attemptId = randomUUID();
      const name = nameKey(input.username);
      const address = input.clientAddress === undefined ? undefined : addressKey(input.clientAddress);
      const addressCounter = address === undefined ? undefined : `address:${address}`;
      const policy = await deps.policies.current();
      const limit = accountLimit(settings, policy);
      const startedAt = deps.now().getTime();
      const windowStart = iso(startedAt - settings.windowSeconds * 1000);
      const isKnownHere = async (tx: Pick<LoginAttemptReader, 'knownAddressKeys'>, key: string) =>
        address !== undefined && settings.knownAddressDays > 0 && (await tx.knownAddressKeys([key], address, knownSince(startedAt))).length > 0;

      const reserved = await store.loginAttempts.lockKeys(addressCounter === undefined ? [name] : [name, addressCounter], async (tx) => {
        const isKnown = await isKnownHere(tx, name);
        const keys = isKnown || addressCounter === undefined ? [name] : [name, addressCounter];
        const counts = await tx.countAttempts(keys, windowStart);
        if ((counts[name] ?? 0) >= attemptLimit(limit, settings.knownAddressReserve, isKnown)) return false;
        if (addressCounter !== undefined && !isKnown && (counts[addressCounter] ?? 0) >= settings.maxFailuresPerAddress) return false;
        await tx.insertPendingAttempt(attemptId, keys, iso(startedAt));
        return true;
      });
      if (!reserved) return undefined;

      const subjects = [name];
      const release = () => store.loginAttempts.settle(attemptId, 'released', deps.now().toISOString());
      return {
        async reserveAccount(account) {
          const key = accountKey(account.externalId);
          const accountPolicy = await deps.policies.forEntry(account.entry);
          const at = deps.now().getTime();
          // A policy that cannot be read may lock too: the directory's counter counts then as well.
          const counter =
            settings.stayBelowDirectoryLockout && accountPolicy.kind !== 'no-lockout'
              ? directoryFailureCount(account.entry, accountPolicy, new Date(at))
              : undefined;
          const memory = accountMemorySeconds(settings, accountPolicy, counter !== undefined);
          noteAccountMemory(accountMemorySeconds(settings, accountPolicy, false));
          const isAllowed = await store.loginAttempts.lockKeys([key], async (tx) => {
            const allowed = attemptLimit(accountLimit(settings, accountPolicy), settings.knownAddressReserve, await isKnownHere(tx, key));
            const count = (await tx.countAttempts([key], memory === null ? EPOCH : iso(at - memory * 1000)))[key] ?? 0;
            if (count >= allowed) return false;
            if (counter !== undefined) {
              // The directory's count, plus ours that its read may not show yet: one more failure must stay below the limit.
              const unsettled = await tx.countUnsettledAttempts(key, {
                pendingSince: iso(at - deps.inFlightMs),
                settledSince: account.lookupStartedAt.toISOString(),
              });
              if (counter + unsettled >= allowed) return false;
            }
            await tx.insertPendingAttempt(attemptId, [key], iso(at));
            return true;
          });
          if (!isAllowed) {
            await release();
            return false;
          }
          subjects.push(key);
          return true;
        },
        failed: () => store.loginAttempts.settle(attemptId, 'failed', deps.now().toISOString()),
        released: release,
        async succeeded() {
          const at = deps.now().getTime();
          await store.loginAttempts.recordSuccess({
            attemptId,
            clearKeys: subjects,
            abandonedBefore: iso(at - deps.inFlightMs),
            ...(address === undefined || settings.knownAddressDays === 0 ? {} : { knownAddress: { keys: subjects, address, at: iso(at) } }),
          });
          await prune(at, policy);
        },
      };
    },
  };
}

/** The throttle's public shape. */
export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
