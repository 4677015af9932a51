/**
 * The directory's account lockout policy, and the limits the login throttle derives from it. Pure:
 * entries in, numbers out (`lockout-policies.ts` reads the entries).
 *
 * Read from:
 * - OpenLDAP and 389-DS ppolicy `pwdPolicy` entries (draft-behera): `pwdMaxFailure` with
 *   `pwdLockout: TRUE`, and `pwdFailureCountInterval` (0: failures are kept until a successful bind);
 * - Active Directory's domain head (`lockoutThreshold`, `lockOutObservationWindow`) and fine-grained
 *   password settings objects (`msDS-LockoutThreshold`, `msDS-LockoutObservationWindow`);
 * - 389-DS's global policy in `cn=config` and its local policies (`passwordLockout`,
 *   `passwordMaxFailure`, `passwordResetFailureCount`).
 * The entry's own counter: OpenLDAP `pwdFailureTime`, AD `badPwdCount`/`badPasswordTime`, 389-DS
 * `passwordRetryCount`/`retryCountResetTime`.
 */
import { allStrings, firstString, type DirectoryEntry } from '../ldap/entry.ts';
import type { LoginSettings } from '../settings/schema.ts';

/** What the directory does after failed binds. */
export type LockoutPolicy =
  /** The `threshold`-th failure locks the account; failures are remembered `memorySeconds` (null: until a successful bind). */
  | { kind: 'lockout'; threshold: number; memorySeconds: number | null; source: string }
  /** The directory never locks accounts. */
  | { kind: 'no-lockout'; source: string }
  /** Nothing could be read: the documented default bound applies. */
  | { kind: 'unknown'; source: string; problem: string };

/** The failures per account allowed when the directory's policy cannot be read (documented in the README). */
export const UNKNOWN_POLICY_LIMIT = 3;

/** The attributes of a policy entry of any kind. */
export const POLICY_ATTRIBUTES: readonly string[] = [
  'objectClass',
  'pwdMaxFailure',
  'pwdLockout',
  'pwdFailureCountInterval',
  'lockoutThreshold',
  'lockOutObservationWindow',
  'msDS-LockoutThreshold',
  'msDS-LockoutObservationWindow',
  'passwordLockout',
  'passwordMaxFailure',
  'passwordResetFailureCount',
];

/**
 * Attributes of a user entry that tell its own policy and failure counter. Operational, so they are
 * requested by name; servers ignore the names they do not know (RFC 4511 §4.5.1.8).
 */
export const ENTRY_LOCKOUT_ATTRIBUTES: readonly string[] = [
  'pwdFailureTime',
  'pwdPolicySubentry',
  'badPwdCount',
  'badPasswordTime',
  'msDS-ResultantPSO',
  'passwordRetryCount',
  'retryCountResetTime',
];

/** AD's "never" for an interval (the most negative 64-bit integer). */
const AD_NEVER = -9223372036854775808n;
/** 100-ns intervals between 1601-01-01 (FILETIME) and 1970-01-01. */
const FILETIME_EPOCH_OFFSET = 116444736000000000n;

function integerOf(entry: DirectoryEntry, attribute: string): number | undefined {
  const text = firstString(entry, attribute)?.trim();
  if (text === undefined || !/^-?\d+$/.test(text)) return undefined;
  return Number.parseInt(text, 10);
}

function booleanOf(entry: DirectoryEntry, attribute: string): boolean | undefined {
  const text = firstString(entry, attribute)?.trim().toLowerCase();
  if (text === undefined) return undefined;
  return text === 'true' || text === 'on' || text === '1';
}

/** An AD interval (negative 100-ns units) in seconds; null for "never" or 0 (failures are then treated as kept until a successful bind). */
function adIntervalSeconds(entry: DirectoryEntry, attribute: string): number | null {
  const text = firstString(entry, attribute)?.trim();
  if (text === undefined || !/^-?\d+$/.test(text)) return null;
  const value = BigInt(text);
  if (value === AD_NEVER || value === 0n) return null;
  const magnitude = value < 0n ? -value : value;
  return Number(magnitude / 10_000_000n);
}

/** Parses an LDAP GeneralizedTime (`20240102030405Z`, `20240102030405.123456Z`, or with a ±hhmm offset) to epoch ms. */
export function parseGeneralizedTime(text: string): number | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{4})$/.exec(text.trim());
  if (match === null) return undefined;
  const [, year, month, day, hour, minute = '00', second = '00', fraction = '', zone = 'Z'] = match;
  const ms = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second), Math.floor(Number(`0.${fraction || '0'}`) * 1000));
  if (Number.isNaN(ms)) return undefined;
  if (zone === 'Z') return ms;
  const sign = zone.startsWith('-') ? -1 : 1;
  const offsetMinutes = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5));
  return ms - sign * offsetMinutes * 60_000;
}

/** Parses an AD FILETIME (100-ns intervals since 1601) to epoch ms; undefined for 0 or garbage. */
function parseFileTime(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  const value = BigInt(text.trim());
  if (value === 0n) return undefined;
  return Number((value - FILETIME_EPOCH_OFFSET) / 10_000n);
}

/** Reads the lockout policy an entry states (any of the kinds above), or undefined when it states none. */
export function readLockoutPolicy(entry: DirectoryEntry): LockoutPolicy | undefined {
  const source = entry.dn === '' ? 'the root DSE' : entry.dn;
  const classes = allStrings(entry, 'objectClass').map((name) => name.toLowerCase());
  const pwdMaxFailure = integerOf(entry, 'pwdMaxFailure');
  if (pwdMaxFailure !== undefined || classes.includes('pwdpolicy')) {
    if (booleanOf(entry, 'pwdLockout') !== true || pwdMaxFailure === undefined || pwdMaxFailure <= 0) return { kind: 'no-lockout', source };
    const interval = integerOf(entry, 'pwdFailureCountInterval') ?? 0;
    return { kind: 'lockout', threshold: pwdMaxFailure, memorySeconds: interval > 0 ? interval : null, source };
  }
  for (const [threshold, window] of [
    ['msDS-LockoutThreshold', 'msDS-LockoutObservationWindow'],
    ['lockoutThreshold', 'lockOutObservationWindow'],
  ] as const) {
    const value = integerOf(entry, threshold);
    if (value === undefined) continue;
    if (value <= 0) return { kind: 'no-lockout', source };
    return { kind: 'lockout', threshold: value, memorySeconds: adIntervalSeconds(entry, window), source };
  }
  const passwordMaxFailure = integerOf(entry, 'passwordMaxFailure');
  const passwordLockout = booleanOf(entry, 'passwordLockout');
  if (passwordLockout !== undefined || passwordMaxFailure !== undefined) {
    // 389-DS's default for passwordMaxFailure is 3.
    const max = passwordMaxFailure ?? 3;
    if (passwordLockout !== true || max <= 0) return { kind: 'no-lockout', source };
    const reset = integerOf(entry, 'passwordResetFailureCount') ?? 600;
    return { kind: 'lockout', threshold: max, memorySeconds: reset > 0 ? reset : null, source };
  }
  return undefined;
}

/** The DN of the policy that governs this entry when it names one (ppolicy `pwdPolicySubentry`, AD `msDS-ResultantPSO`). */
export function entryPolicyDn(entry: DirectoryEntry): string | undefined {
  return firstString(entry, 'msDS-ResultantPSO') ?? firstString(entry, 'pwdPolicySubentry');
}

/**
 * The directory's own count of this entry's failed binds that still count toward its lockout, when
 * the entry shows it; undefined when it does not. An absent `pwdFailureTime` is undefined, not 0:
 * it cannot tell "no failures" from "not readable by the service account".
 */
export function directoryFailureCount(entry: DirectoryEntry, policy: LockoutPolicy, now: Date): number | undefined {
  const memoryMs = policy.kind === 'lockout' && policy.memorySeconds !== null ? policy.memorySeconds * 1000 : undefined;
  const since = memoryMs === undefined ? Number.NEGATIVE_INFINITY : now.getTime() - memoryMs;
  const failureTimes = allStrings(entry, 'pwdFailureTime');
  if (failureTimes.length > 0) {
    // An unparseable value counts: the directory counts it.
    return failureTimes.filter((text) => (parseGeneralizedTime(text) ?? Number.POSITIVE_INFINITY) > since).length;
  }
  const badPwdCount = integerOf(entry, 'badPwdCount');
  if (badPwdCount !== undefined) {
    const last = parseFileTime(firstString(entry, 'badPasswordTime'));
    // AD starts counting afresh once the observation window has passed since the last failure.
    return last !== undefined && last <= since ? 0 : Math.max(0, badPwdCount);
  }
  const retryCount = integerOf(entry, 'passwordRetryCount');
  if (retryCount !== undefined) {
    const resetText = firstString(entry, 'retryCountResetTime');
    const resetAt = resetText === undefined ? undefined : parseGeneralizedTime(resetText);
    return resetAt !== undefined && resetAt <= now.getTime() ? 0 : Math.max(0, retryCount);
  }
  return undefined;
}

/** The throttle's settings. */
export type ThrottleSettings = LoginSettings['throttle'];

/**
 * Failed attempts allowed per account (and per typed name) before everyone is refused: maxFailures,
 * and, while `stayBelowDirectoryLockout` is on, at most one less than the directory's threshold
 * (never below 1: a threshold of 1 leaves nothing to spare, which Test Connection warns about), or
 * UNKNOWN_POLICY_LIMIT when the policy could not be read.
 */
export function accountLimit(settings: ThrottleSettings, policy: LockoutPolicy): number {
  if (!settings.stayBelowDirectoryLockout) return settings.maxFailures;
  switch (policy.kind) {
    case 'lockout':
      return Math.max(1, Math.min(settings.maxFailures, policy.threshold - 1));
    case 'no-lockout':
      return settings.maxFailures;
    case 'unknown':
      return Math.min(settings.maxFailures, UNKNOWN_POLICY_LIMIT);
  }
}

/** The limit one attempt is held to: the whole `limit` from a remembered address, `limit - reserve` (at least 1) from anywhere else. */
export function attemptLimit(limit: number, reserve: number, isKnownAddress: boolean): number {
  return isKnownAddress ? limit : Math.max(1, limit - reserve);
}

/**
 * How long an account's failures are remembered, in seconds (null: until a successful login). The
 * window, unless the directory keeps failures longer and its own counter cannot be seen: then as
 * long as the directory keeps them, so that spacing guesses out cannot add up to a lockout.
 */
export function accountMemorySeconds(settings: ThrottleSettings, policy: LockoutPolicy, isCounterVisible: boolean): number | null {
  if (!settings.stayBelowDirectoryLockout || policy.kind !== 'lockout' || isCounterVisible) return settings.windowSeconds;
  if (policy.memorySeconds === null) return null;
  return Math.max(settings.windowSeconds, policy.memorySeconds);
}

/** What Test Connection says about the throttle and the directory's policy (empty when all is well). */
export function lockoutWarnings(settings: ThrottleSettings, policy: LockoutPolicy): string[] {
  if (policy.kind === 'unknown') {
    return settings.stayBelowDirectoryLockout
      ? [`the directory's account lockout policy could not be read (${policy.problem}): logins allow at most ${accountLimit(settings, policy)} failed attempts per account (login.throttle)`]
      : [];
  }
  if (policy.kind === 'no-lockout') return [];
  if (!settings.stayBelowDirectoryLockout) {
    return settings.maxFailures >= policy.threshold
      ? [
          `login.throttle.stayBelowDirectoryLockout is off and login.throttle.maxFailures (${settings.maxFailures}) reaches the directory's lockout threshold (${policy.threshold}, ${policy.source}): wrong passwords through dirbridge can lock directory accounts`,
        ]
      : [];
  }
  if (policy.threshold <= 1) {
    return [
      `the directory locks an account after ${policy.threshold} failed password (${policy.source}): there is nothing to spare, so one wrong password through dirbridge locks it; login.throttle allows 1 failed attempt per account`,
    ];
  }
  return [];
}
