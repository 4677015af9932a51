/**
 * The directory's account lockout policy, and the limits the login throttle derives from it. Pure:
 * entries in, numbers out (`lockout-policies.ts` reads the entries).
 *
 * Read from:
 * - OpenLDAP ppolicy `pwdPolicy` entries (draft-behera): `pwdMaxFailure` with `pwdLockout: TRUE`,
 *   and `pwdFailureCountInterval` (0: failures are kept until a successful bind);
 * - Active Directory's domain head (`lockoutThreshold`, `lockOutObservationWindow`) and fine-grained
 *   password settings objects (`msDS-LockoutThreshold`, `msDS-LockoutObservationWindow`);
 * - 389-DS's global policy in `cn=config` and its fine-grained `passwordPolicy` subentries
 *   (`passwordLockout`, `passwordMaxFailure`, `passwordResetFailureCount`; 389-DS has no `pwdPolicy`).
 * The entry's own counter: OpenLDAP `pwdFailureTime`, AD `badPwdCount`/`badPasswordTime`, 389-DS
 * `passwordRetryCount`/`retryCountResetTime`.
 *
 * Measured on 389-DS 2.3: the `passwordMaxFailure`-th failure locks the account (with
 * `passwordLegacyPolicy` on or off); a successful bind sets `passwordRetryCount` to 0; the first
 * failure sets `retryCountResetTime` (that time + `passwordResetFailureCount`), after which the next
 * failure counts from 1 again; a subentry policy without `passwordLockout` does not lock (its
 * unset attributes take 389-DS's defaults, not cn=config's).
 */
import type { ServerType } from '../directory/root-dse.ts';
import { allStrings, type DirectoryEntry, firstString } from '../ldap/entry.ts';
import { PASSWORD_LOCKOUT_ATTRIBUTES } from '../mapping/account-status.ts';
import type { LoginSettings } from '../settings/schema.ts';

/** What the directory does after failed binds. */
export type LockoutPolicy =
  /**
   * The `threshold`-th failure locks the account; failures are remembered `memorySeconds` (null: until
   * a successful bind). `lockoutSeconds`: how long a lockout lasts (null: until an administrator ends
   * it), when the policy states it (ppolicy `pwdLockoutDuration`, AD `lockoutDuration`); absent
   * otherwise (389-DS states it on the entry, in `accountUnlockTime`).
   */
  | { kind: 'lockout'; threshold: number; memorySeconds: number | null; lockoutSeconds?: number | null; source: string }
  /** The directory never locks accounts. */
  | { kind: 'no-lockout'; source: string }
  /** Nothing could be read: the documented default bound `limit` applies (see {@link unknownPolicyLimit}). */
  | { kind: 'unknown'; source: string; problem: string; limit: number };

/** The failures per account allowed when the directory's policy cannot be read (documented in the README). */
export const UNKNOWN_POLICY_LIMIT = 3;

/** 389-DS's `passwordMaxFailure` when nothing sets it: turning `passwordLockout` on locks at the 3rd failure. */
export const DIRSRV_DEFAULT_MAX_FAILURE = 3;

/**
 * The bound for a policy that cannot be read: UNKNOWN_POLICY_LIMIT, but one less than 389-DS's own
 * default threshold there (the bound of 3 would lock it), and that too while the server is not known.
 */
export function unknownPolicyLimit(serverType: ServerType | undefined): number {
  return serverType === '389-ds' || serverType === undefined ? Math.min(UNKNOWN_POLICY_LIMIT, DIRSRV_DEFAULT_MAX_FAILURE - 1) : UNKNOWN_POLICY_LIMIT;
}

/** The attributes of a policy entry of any kind. */
export const POLICY_ATTRIBUTES: readonly string[] = [
  'objectClass',
  'pwdMaxFailure',
  'pwdLockout',
  'pwdFailureCountInterval',
  'pwdLockoutDuration',
  'lockoutThreshold',
  'lockOutObservationWindow',
  'lockoutDuration',
  'msDS-LockoutThreshold',
  'msDS-LockoutObservationWindow',
  'msDS-LockoutDuration',
  'passwordLockout',
  'passwordMaxFailure',
  'passwordResetFailureCount',
];

/**
 * Attributes of a user entry that tell its own policy, its failure counter and a lockout in force. Operational, so they are
 * requested by name; servers ignore the names they do not know (RFC 4511 §4.5.1.8).
 */
export const ENTRY_LOCKOUT_ATTRIBUTES: readonly string[] = [
  ...PASSWORD_LOCKOUT_ATTRIBUTES,
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

/**
 * AD's lockout duration in seconds: null for 0 and "never", which lock until an administrator
 * unlocks (MS-ADTS 3.1.1.4.5.17: UF_LOCKOUT holds while the duration, read unsigned, is below 2^63,
 * or when "never" is added); undefined when absent or garbage (then a lockout is left to the DC's
 * computed flag or the bind).
 */
function adLockoutDuration(entry: DirectoryEntry, attribute: string): number | null | undefined {
  const text = firstString(entry, attribute)?.trim();
  if (text === undefined || !/^-?\d+$/.test(text)) return undefined;
  const value = BigInt(text);
  if (value === AD_NEVER || value >= 0n) return null;
  return Number(-value / 10_000_000n);
}

/** How long a lockout by `policy` lasts, in seconds (null: until an administrator ends it); undefined when not known. */
export function lockoutDurationOf(policy: LockoutPolicy): number | null | undefined {
  return policy.kind === 'lockout' ? policy.lockoutSeconds : undefined;
}

/** Parses an LDAP GeneralizedTime (`20240102030405Z`, `20240102030405.123456Z`, or with a ±hhmm offset) to epoch ms. */
export function parseGeneralizedTime(text: string): number | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{4})$/.exec(text.trim());
  if (match === null) return undefined;
  const [, year, month, day, hour, minute = '00', second = '00', fraction = '', zone = 'Z'] = match;
  const ms = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
    Math.floor(Number(`0.${fraction || '0'}`) * 1000),
  );
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
    // 0 locks until an administrator unlocks; an absent value (per the draft the same) may only be hidden from the service account, so it is not assumed.
    const duration = integerOf(entry, 'pwdLockoutDuration');
    const lockout = duration === undefined || duration < 0 ? {} : { lockoutSeconds: duration === 0 ? null : duration };
    return { kind: 'lockout', threshold: pwdMaxFailure, memorySeconds: interval > 0 ? interval : null, ...lockout, source };
  }
  for (const [threshold, window, duration] of [
    ['msDS-LockoutThreshold', 'msDS-LockoutObservationWindow', 'msDS-LockoutDuration'],
    ['lockoutThreshold', 'lockOutObservationWindow', 'lockoutDuration'],
  ] as const) {
    const value = integerOf(entry, threshold);
    if (value === undefined) continue;
    if (value <= 0) return { kind: 'no-lockout', source };
    const lockout = adLockoutDuration(entry, duration);
    return {
      kind: 'lockout',
      threshold: value,
      memorySeconds: adIntervalSeconds(entry, window),
      ...(lockout === undefined ? {} : { lockoutSeconds: lockout }),
      source,
    };
  }
  const passwordMaxFailure = integerOf(entry, 'passwordMaxFailure');
  const passwordLockout = booleanOf(entry, 'passwordLockout');
  // A 389-DS subentry policy states its whole policy: what it leaves out is 389-DS's default (no lockout).
  if (passwordLockout !== undefined || passwordMaxFailure !== undefined || classes.includes('passwordpolicy')) {
    const max = passwordMaxFailure ?? DIRSRV_DEFAULT_MAX_FAILURE;
    if (passwordLockout !== true || max <= 0) return { kind: 'no-lockout', source };
    const reset = integerOf(entry, 'passwordResetFailureCount') ?? 600;
    return { kind: 'lockout', threshold: max, memorySeconds: reset > 0 ? reset : null, source };
  }
  return undefined;
}

/**
 * Whether 389-DS's `cn=config` puts the policies entries name in force (`nsslapd-pwpolicy-local`;
 * while it is off, 389-DS ignores an entry's `pwdpolicysubentry` and applies the global policy);
 * undefined when the entry does not say.
 */
export function dirsrvLocalPolicies(config: DirectoryEntry): boolean | undefined {
  return booleanOf(config, 'nsslapd-pwpolicy-local');
}

/** The DN of the policy that governs this entry when it names one (ppolicy `pwdPolicySubentry`, AD `msDS-ResultantPSO`). */
export function entryPolicyDn(entry: DirectoryEntry): string | undefined {
  return firstString(entry, 'msDS-ResultantPSO') ?? firstString(entry, 'pwdPolicySubentry');
}

/**
 * The directory's own count of this entry's failed binds that still count toward its lockout, when
 * the entry shows it; undefined when it does not. An absent `pwdFailureTime` is undefined, not 0:
 * it cannot tell "no failures" from "not readable by the service account". Under an `unknown`
 * policy only a counter that states its own expiry is used (389-DS's `retryCountResetTime`): the
 * others would need the policy's interval, and without it would count stale failures for ever.
 */
export function directoryFailureCount(entry: DirectoryEntry, policy: LockoutPolicy, now: Date): number | undefined {
  const retryCount = integerOf(entry, 'passwordRetryCount');
  if (policy.kind !== 'lockout') return retryCount === undefined ? undefined : dirsrvRetryCount(entry, retryCount, now);
  const since = policy.memorySeconds === null ? Number.NEGATIVE_INFINITY : now.getTime() - policy.memorySeconds * 1000;
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
  return retryCount === undefined ? undefined : dirsrvRetryCount(entry, retryCount, now);
}

/** 389-DS's `passwordRetryCount`, 0 once `retryCountResetTime` has passed (its next failure counts from 1). */
function dirsrvRetryCount(entry: DirectoryEntry, retryCount: number, now: Date): number {
  const resetText = firstString(entry, 'retryCountResetTime');
  const resetAt = resetText === undefined ? undefined : parseGeneralizedTime(resetText);
  return resetAt !== undefined && resetAt <= now.getTime() ? 0 : Math.max(0, retryCount);
}

/**
 * The stricter of two policies that may both govern an account (one it names, and a default the
 * directory may apply instead): the one that allows fewer failures (an unknown policy allows its
 * `limit`, so it stands for a threshold one above), then the one that remembers them longer.
 */
export function stricterPolicy(a: LockoutPolicy, b: LockoutPolicy): LockoutPolicy {
  const threshold = (policy: LockoutPolicy) =>
    policy.kind === 'lockout' ? policy.threshold : policy.kind === 'unknown' ? policy.limit + 1 : Number.POSITIVE_INFINITY;
  const memory = (policy: LockoutPolicy) =>
    policy.kind === 'lockout' ? (policy.memorySeconds ?? Number.POSITIVE_INFINITY) : policy.kind === 'unknown' ? Number.POSITIVE_INFINITY : 0;
  if (threshold(a) !== threshold(b)) return threshold(b) < threshold(a) ? b : a;
  return memory(b) > memory(a) ? b : a;
}

/** The throttle's settings. */
export type ThrottleSettings = LoginSettings['throttle'];

/**
 * Failed attempts allowed per account (and per typed name) before everyone is refused: maxFailures,
 * and, while `stayBelowDirectoryLockout` is on, at most one less than the directory's threshold
 * (never below 1: a threshold of 1 leaves nothing to spare, which Test Connection warns about), or
 * the unknown policy's `limit` when it could not be read.
 */
export function accountLimit(settings: ThrottleSettings, policy: LockoutPolicy): number {
  if (!settings.stayBelowDirectoryLockout) return settings.maxFailures;
  switch (policy.kind) {
    case 'lockout':
      return Math.max(1, Math.min(settings.maxFailures, policy.threshold - 1));
    case 'no-lockout':
      return settings.maxFailures;
    case 'unknown':
      return Math.min(settings.maxFailures, policy.limit);
  }
}

/** The limit one attempt is held to: the whole `limit` from a remembered address, `limit - reserve` (at least 1) from anywhere else. */
export function attemptLimit(limit: number, reserve: number, isKnownAddress: boolean): number {
  return isKnownAddress ? limit : Math.max(1, limit - reserve);
}

/**
 * How long an account's failures are remembered, in seconds (null: until a successful login). The
 * window, unless the directory keeps failures longer and its own counter cannot be seen: then as
 * long as the directory keeps them, so that spacing guesses out cannot add up to a lockout. A
 * policy that cannot be read may keep them for ever, so then they are kept until a successful login.
 */
export function accountMemorySeconds(settings: ThrottleSettings, policy: LockoutPolicy, isCounterVisible: boolean): number | null {
  if (!settings.stayBelowDirectoryLockout || policy.kind === 'no-lockout' || isCounterVisible) return settings.windowSeconds;
  if (policy.kind === 'unknown' || policy.memorySeconds === null) return null;
  return Math.max(settings.windowSeconds, policy.memorySeconds);
}

/** What Test Connection says about the throttle and the directory's policy (empty when all is well). */
export function lockoutWarnings(settings: ThrottleSettings, policy: LockoutPolicy): string[] {
  if (policy.kind === 'unknown') {
    return settings.stayBelowDirectoryLockout
      ? [
          `the directory's account lockout policy could not be read (${policy.problem}): logins allow at most ${accountLimit(settings, policy)} failed attempts per account (login.throttle)`,
        ]
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
