/**
 * Reads whether the directory itself considers an account usable: OpenLDAP's ppolicy lock,
 * Active Directory's userAccountControl, and 389-DS's nsAccountLock.
 */
import type { DirectoryEntry } from '../ldap/entry.ts';

/** What the directory says about an account. An entry with no status attribute is active. */
export type DirectoryAccountState = 'active' | 'disabled';

/** The ppolicy value that locks an account until an administrator unlocks it. */
export const PERMANENT_LOCK_TIME = '000001010000Z';

/** AD's ACCOUNTDISABLE flag in userAccountControl. */
export const UAC_ACCOUNT_DISABLED = 0x2;

/** Attributes the account-state mapper reads; operational ones must be requested by name. */
export const ACCOUNT_STATE_ATTRIBUTES: readonly string[] = ['pwdAccountLockedTime', 'userAccountControl', 'nsAccountLock'];

/** The account's state and, when disabled, a sentence saying why. */
export function readAccountState(entry: DirectoryEntry): { state: DirectoryAccountState; reason?: string } {
  const uac = entry.attributes['useraccountcontrol']?.[0];
  if (typeof uac === 'string' && /^-?\d+$/.test(uac.trim())) {
    const flags = Number.parseInt(uac.trim(), 10);
    return (flags & UAC_ACCOUNT_DISABLED) !== 0
      ? { state: 'disabled', reason: `userAccountControl ${flags} has ACCOUNTDISABLE set` }
      : { state: 'active' };
  }
  const lockedTime = entry.attributes['pwdaccountlockedtime']?.[0];
  if (typeof lockedTime === 'string' && lockedTime !== '') {
    return lockedTime === PERMANENT_LOCK_TIME
      ? { state: 'disabled', reason: 'locked permanently by password policy (pwdAccountLockedTime 000001010000Z)' }
      : { state: 'disabled', reason: `locked by password policy since ${lockedTime}` };
  }
  const nsLock = entry.attributes['nsaccountlock']?.[0];
  if (typeof nsLock === 'string' && nsLock.trim().toLowerCase() === 'true') {
    return { state: 'disabled', reason: 'nsAccountLock is TRUE' };
  }
  return { state: 'active' };
}
