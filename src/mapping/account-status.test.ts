import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readAccountState, readPasswordLockout } from './account-status.ts';

const entry = (attributes: Record<string, string[]>) => ({ dn: 'cn=x', attributes });

describe('readAccountState', () => {
  const cases: Array<[string, Record<string, string[]>, 'active' | 'disabled']> = [
    ['plain OpenLDAP entry', {}, 'active'],
    ['ppolicy permanent lock', { pwdaccountlockedtime: ['000001010000Z'] }, 'disabled'],
    // A lockout after failed binds is the login's business, never a reason for sync to disable.
    ['ppolicy lockout after failures', { pwdaccountlockedtime: ['20261123101500Z'] }, 'active'],
    ['389-DS lockout after failures', { accountunlocktime: ['20991123101500Z'], passwordretrycount: ['3'] }, 'active'],
    ['AD lockout after failures', { useraccountcontrol: ['512'], lockouttime: ['134407603967205450'], 'msds-user-account-control-computed': ['16'] }, 'active'],
    ['AD normal account (512)', { useraccountcontrol: ['512'] }, 'active'],
    ['AD disabled account (514)', { useraccountcontrol: ['514'] }, 'disabled'],
    ['AD disabled, no password required (546)', { useraccountcontrol: ['546'] }, 'disabled'],
    ['AD password never expires (66048)', { useraccountcontrol: ['66048'] }, 'active'],
    ['389-DS nsAccountLock', { nsaccountlock: ['TRUE'] }, 'disabled'],
    ['389-DS nsAccountLock false', { nsaccountlock: ['false'] }, 'active'],
  ];
  for (const [name, attributes, expected] of cases) {
    it(name, () => assert.equal(readAccountState(entry(attributes)).state, expected));
  }
});

describe('readPasswordLockout', () => {
  const now = new Date('2026-12-03T10:00:00Z');
  // 2026-12-03T09:59:00Z as a FILETIME.
  const filetimeMinuteAgo = String((BigInt(Date.parse('2026-12-03T09:59:00Z')) + 11_644_473_600_000n) * 10_000n);
  const cases: Array<[string, Record<string, string[]>, number | null | undefined, RegExp | undefined]> = [
    ['nothing', {}, 600, undefined],
    ['389-DS: accountUnlockTime in the future', { accountunlocktime: ['20261203100500Z'] }, undefined, /until 2026-12-03T10:05:00.000Z \(accountUnlockTime/],
    ['389-DS: accountUnlockTime passed', { accountunlocktime: ['20261203095500Z'] }, undefined, undefined],
    ['389-DS: 19700101000000Z (passwordUnlock off) is left to the bind', { accountunlocktime: ['19700101000000Z'] }, undefined, undefined],
    [
      'OpenLDAP: locked a minute ago, 10 minutes lockout',
      { pwdaccountlockedtime: ['20261203095900Z'] },
      600,
      /until 2026-12-03T10:09:00.000Z \(pwdAccountLockedTime/,
    ],
    [
      'OpenLDAP: locked a minute ago, 30 s lockout (expired; the attribute stays until the next bind)',
      { pwdaccountlockedtime: ['20261203095900Z'] },
      30,
      undefined,
    ],
    ['OpenLDAP: pwdLockoutDuration 0 locks until unlocked', { pwdaccountlockedtime: ['20260101000000Z'] }, null, /until an administrator unlocks it/],
    ['OpenLDAP: duration unknown: left to the bind', { pwdaccountlockedtime: ['20261203095900Z'] }, undefined, undefined],
    ['OpenLDAP: the permanent lock is a disable, not this', { pwdaccountlockedtime: ['000001010000Z'] }, null, undefined],
    ['AD: UF_LOCKOUT computed', { 'msds-user-account-control-computed': ['16'], lockouttime: [filetimeMinuteAgo] }, undefined, /UF_LOCKOUT/],
    [
      'AD: computed says unlocked, whatever lockoutTime says',
      { 'msds-user-account-control-computed': ['0'], lockouttime: [filetimeMinuteAgo] },
      null,
      undefined,
    ],
    ['AD: lockoutTime with the duration', { lockouttime: [filetimeMinuteAgo] }, 1800, /lockoutTime/],
    ['AD: lockoutTime past the duration', { lockouttime: [filetimeMinuteAgo] }, 30, undefined],
    ['AD: lockoutTime 0', { lockouttime: ['0'] }, null, undefined],
    ['AD: lockoutTime without a known duration', { lockouttime: [filetimeMinuteAgo] }, undefined, undefined],
  ];
  for (const [name, attributes, lockoutSeconds, expected] of cases) {
    it(name, () => {
      const reason = readPasswordLockout(entry(attributes), now, lockoutSeconds);
      if (expected === undefined) assert.equal(reason, undefined);
      else assert.match(reason ?? '', expected);
    });
  }
});
