/**
 * Reads whether the directory itself considers an account usable, in two kinds:
 *
 * - **Disabled** (`readAccountState`): an administrator's decision that sync follows. OpenLDAP's
 *   permanent ppolicy lock (`pwdAccountLockedTime: 000001010000Z`), Active Directory's
 *   ACCOUNTDISABLE in userAccountControl, and 389-DS's nsAccountLock.
 * - **Locked out** (`readPasswordLockout`): the password policy locked the account after failed
 *   binds. OpenLDAP's `pwdAccountLockedTime` holding the time of the lock, 389-DS's
 *   `accountUnlockTime`, AD's `lockoutTime` / `msDS-User-Account-Control-Computed`. Only a login
 *   acts on it (refused as `locked_in_directory`, before any bind). Sync does NOT disable the
 *   dirbridge account for it: anyone who can type the name can cause a lockout through any
 *   application bound to the same directory, it ends by itself (or when an administrator unlocks
 *   it), and disabling would end the owner's sessions and, with `sync.activeState: disable`, never
 *   be undone. So a temporary lockout refuses logins while it lasts and changes nothing else.
 */
import type { DirectoryEntry } from '../ldap/entry.ts';
import { fromFileTime, fromGeneralizedTime, MUST_CHANGE_PASSWORD } from './password-change.ts';

/** What the directory says about an account. An entry with no status attribute is active. */
export type DirectoryAccountState = 'active' | 'disabled';

/** The ppolicy value that locks an account until an administrator unlocks it. */
export const PERMANENT_LOCK_TIME = '000001010000Z';

/** AD's ACCOUNTDISABLE flag in userAccountControl. */
export const UAC_ACCOUNT_DISABLED = 0x2;

/** AD's UF_LOCKOUT flag in msDS-User-Account-Control-Computed (the domain's lockout, computed by the DC). */
export const UF_LOCKOUT = 0x10;

/** Attributes the account-state mapper reads; operational ones must be requested by name. */
export const ACCOUNT_STATE_ATTRIBUTES: readonly string[] = ['pwdAccountLockedTime', 'userAccountControl', 'nsAccountLock'];

/** Attributes that tell a lockout after failed binds (`readPasswordLockout`); read by a login's lookup, operational, so requested by name. */
export const PASSWORD_LOCKOUT_ATTRIBUTES: readonly string[] = [
  'pwdAccountLockedTime',
  'accountUnlockTime',
  'lockoutTime',
  'msDS-User-Account-Control-Computed',
];

function firstText(entry: DirectoryEntry, attribute: string): string | undefined {
  const value = entry.attributes[attribute.toLowerCase()]?.[0];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** The account's state and, when disabled, a sentence saying why. A lockout after failed binds is not a disable (see the module comment). */
export function readAccountState(entry: DirectoryEntry): { state: DirectoryAccountState; reason?: string } {
  const uac = firstText(entry, 'userAccountControl');
  if (uac !== undefined && /^-?\d+$/.test(uac)) {
    const flags = Number.parseInt(uac, 10);
    return (flags & UAC_ACCOUNT_DISABLED) !== 0 ? { state: 'disabled', reason: `userAccountControl ${flags} has ACCOUNTDISABLE set` } : { state: 'active' };
  }
  if (firstText(entry, 'pwdAccountLockedTime') === PERMANENT_LOCK_TIME) {
    return { state: 'disabled', reason: 'locked permanently by password policy (pwdAccountLockedTime 000001010000Z)' };
  }
  const nsLock = firstText(entry, 'nsAccountLock');
  if (nsLock !== undefined && nsLock.toLowerCase() === 'true') {
    return { state: 'disabled', reason: 'nsAccountLock is TRUE' };
  }
  return { state: 'active' };
}

/**
 * Why the directory's password policy has the account locked out after failed binds at `now`, as a
 * sentence; undefined when the entry does not show a lockout in force (or shows nothing: the bind
 * then tells). `lockoutSeconds` is the governing policy's lockout duration (OpenLDAP
 * `pwdLockoutDuration`, AD `lockoutDuration`): null while a lockout lasts until an administrator
 * ends it, undefined when the policy is not known. Where the entry does not state when its lockout
 * ends and the duration is not known, it is left to the bind: counting a stale lock as one would
 * refuse the owner for good, since only a successful bind clears it.
 *
 * - AD: `msDS-User-Account-Control-Computed` (UF_LOCKOUT), which the DC computes with the
 *   duration, is exact; without it, `lockoutTime` plus the duration (it stays set after the lockout
 *   ends, until the next successful logon).
 * - 389-DS: `accountUnlockTime` in the future. `19700101000000Z` (a lockout while `passwordUnlock`
 *   is off, which lasts until an administrator resets it, but ends at once if `passwordUnlock` is
 *   turned on) is left to the bind, which 389-DS answers with result code 19 without counting it.
 * - OpenLDAP: `pwdAccountLockedTime` (the time of the lock) plus the duration; it too stays set
 *   after the lockout ends, until the next bind. The bind's ppolicy response control also says it.
 */
export function readPasswordLockout(entry: DirectoryEntry, now: Date, lockoutSeconds: number | null | undefined): string | undefined {
  const lockedSince = (at: string, what: string): string | undefined => {
    if (lockoutSeconds === undefined) return undefined;
    if (lockoutSeconds === null) return `locked out by the password policy since ${at} until an administrator unlocks it (${what})`;
    const until = Date.parse(at) + lockoutSeconds * 1000;
    return until > now.getTime() ? `locked out by the password policy until ${new Date(until).toISOString()} (${what})` : undefined;
  };

  const computed = firstText(entry, 'msDS-User-Account-Control-Computed');
  if (computed !== undefined && /^-?\d+$/.test(computed)) {
    return (Number.parseInt(computed, 10) & UF_LOCKOUT) !== 0
      ? 'locked out by the domain lockout policy (msDS-User-Account-Control-Computed has UF_LOCKOUT)'
      : undefined;
  }
  const lockoutTime = firstText(entry, 'lockoutTime');
  if (lockoutTime !== undefined) {
    const at = fromFileTime(lockoutTime);
    // lockoutTime 0 (and FILETIME 0) means not locked.
    if (at !== null && at !== MUST_CHANGE_PASSWORD) return lockedSince(at, `lockoutTime ${lockoutTime}`);
  }
  const unlockTime = firstText(entry, 'accountUnlockTime');
  if (unlockTime !== undefined) {
    const until = fromGeneralizedTime(unlockTime);
    if (until !== null && Date.parse(until) > now.getTime()) return `locked out by the password policy until ${until} (accountUnlockTime ${unlockTime})`;
  }
  const lockedTime = firstText(entry, 'pwdAccountLockedTime');
  if (lockedTime !== undefined && lockedTime !== PERMANENT_LOCK_TIME) {
    const at = fromGeneralizedTime(lockedTime);
    if (at !== null) return lockedSince(at, `pwdAccountLockedTime ${lockedTime}`);
  }
  return undefined;
}
