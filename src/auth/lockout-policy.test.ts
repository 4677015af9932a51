import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { loginSettingsSchema } from '../settings/schema.ts';
import {
  accountLimit,
  accountMemorySeconds,
  attemptLimit,
  directoryFailureCount,
  dirsrvLocalPolicies,
  entryPolicyDn,
  type LockoutPolicy,
  lockoutDurationOf,
  lockoutWarnings,
  parseGeneralizedTime,
  readLockoutPolicy,
  stricterPolicy,
  UNKNOWN_POLICY_LIMIT,
  unknownPolicyLimit,
} from './lockout-policy.ts';

const entry = (dn: string, attributes: Record<string, string[]>): DirectoryEntry => ({
  dn,
  attributes: Object.fromEntries(Object.entries(attributes).map(([name, values]) => [name.toLowerCase(), values])),
});
const throttle = (override: Record<string, unknown> = {}) => loginSettingsSchema.parse({ throttle: override }).throttle;
const NOW = new Date('2030-06-01T12:00:00.000Z');
/** `seconds` before NOW as an AD FILETIME. */
const fileTime = (secondsAgo: number) => String(BigInt(NOW.getTime() - secondsAgo * 1000) * 10_000n + 116444736000000000n);
const unknown = (limit = UNKNOWN_POLICY_LIMIT): LockoutPolicy => ({ kind: 'unknown', source: 'none', problem: 'x', limit });

describe('readLockoutPolicy', () => {
  it('reads an OpenLDAP ppolicy entry', () => {
    const policy = entry('cn=default,ou=policies,dc=x', {
      objectClass: ['organizationalRole', 'pwdPolicy'],
      pwdMaxFailure: ['5'],
      pwdLockout: ['TRUE'],
      pwdFailureCountInterval: ['0'],
    });
    assert.deepEqual(readLockoutPolicy(policy), { kind: 'lockout', threshold: 5, memorySeconds: null, source: 'cn=default,ou=policies,dc=x' });
    assert.deepEqual(readLockoutPolicy(entry('cn=p', { pwdMaxFailure: ['3'], pwdLockout: ['TRUE'], pwdFailureCountInterval: ['600'] })), {
      kind: 'lockout',
      threshold: 3,
      memorySeconds: 600,
      source: 'cn=p',
    });
  });

  it('reads how long a lockout lasts where the policy says (ppolicy pwdLockoutDuration, AD lockoutDuration)', () => {
    const ppolicy = (duration?: string) =>
      readLockoutPolicy(entry('cn=p', { pwdMaxFailure: ['3'], pwdLockout: ['TRUE'], ...(duration === undefined ? {} : { pwdLockoutDuration: [duration] }) }));
    assert.deepEqual(
      ppolicy('0'),
      { kind: 'lockout', threshold: 3, memorySeconds: null, lockoutSeconds: null, source: 'cn=p' },
      '0: until an administrator unlocks it',
    );
    assert.equal(lockoutDurationOf(ppolicy('300') ?? unknown()), 300);
    assert.equal(lockoutDurationOf(ppolicy() ?? unknown()), undefined, 'absent: perhaps only hidden, so not assumed');
    const ad = (duration: string) =>
      readLockoutPolicy(entry('DC=x', { lockoutThreshold: ['3'], lockOutObservationWindow: ['-18000000000'], lockoutDuration: [duration] })) ?? unknown();
    assert.equal(lockoutDurationOf(ad('-600000000')), 60);
    assert.equal(lockoutDurationOf(ad('-9223372036854775808')), null, 'never: until an administrator unlocks it');
    assert.equal(lockoutDurationOf(ad('0')), null, '0 too (MS-ADTS 3.1.1.4.5.17)');
    assert.equal(
      lockoutDurationOf(readLockoutPolicy(entry('cn=config', { passwordLockout: ['on'] })) ?? unknown()),
      undefined,
      '389-DS states it on the entry',
    );
    assert.equal(lockoutDurationOf(unknown()), undefined);
  });

  it('reads a ppolicy that does not lock', () => {
    assert.equal(readLockoutPolicy(entry('cn=p', { objectClass: ['pwdPolicy'], pwdMaxFailure: ['5'], pwdLockout: ['FALSE'] }))?.kind, 'no-lockout');
    assert.equal(readLockoutPolicy(entry('cn=p', { objectClass: ['pwdPolicy'], pwdLockout: ['TRUE'] }))?.kind, 'no-lockout');
    assert.equal(readLockoutPolicy(entry('cn=p', { objectClass: ['pwdPolicy'], pwdMaxFailure: ['0'], pwdLockout: ['TRUE'] }))?.kind, 'no-lockout');
  });

  it('reads an Active Directory domain head and a PSO', () => {
    const domain = entry('DC=example,DC=test', { objectClass: ['domainDNS'], lockoutThreshold: ['4'], lockOutObservationWindow: ['-36000000000'] });
    assert.deepEqual(readLockoutPolicy(domain), { kind: 'lockout', threshold: 4, memorySeconds: 3600, source: 'DC=example,DC=test' });
    assert.equal(readLockoutPolicy(entry('DC=x', { lockoutThreshold: ['0'], lockOutObservationWindow: ['-18000000000'] }))?.kind, 'no-lockout');
    assert.deepEqual(readLockoutPolicy(entry('CN=pso', { 'msDS-LockoutThreshold': ['2'], 'msDS-LockoutObservationWindow': ['-9223372036854775808'] })), {
      kind: 'lockout',
      threshold: 2,
      memorySeconds: null,
      source: 'CN=pso',
    });
  });

  it('reads a 389-DS policy', () => {
    assert.deepEqual(readLockoutPolicy(entry('cn=config', { passwordLockout: ['on'], passwordMaxFailure: ['4'], passwordResetFailureCount: ['900'] })), {
      kind: 'lockout',
      threshold: 4,
      memorySeconds: 900,
      source: 'cn=config',
    });
    assert.deepEqual(readLockoutPolicy(entry('cn=config', { passwordLockout: ['on'] })), {
      kind: 'lockout',
      threshold: 3,
      memorySeconds: 600,
      source: 'cn=config',
    });
    assert.equal(readLockoutPolicy(entry('cn=config', { passwordLockout: ['off'], passwordMaxFailure: ['3'] }))?.kind, 'no-lockout');
  });

  it("reads a 389-DS subentry policy, whose unset attributes are 389-DS's defaults (no lockout)", () => {
    const dn = 'cn=cn\\3DnsPwPolicyEntry_subtree\\2Cou\\3Dstaff\\2Cdc\\3Dx,cn=nsPwPolicyContainer,ou=staff,dc=x';
    const subentry = (attributes: Record<string, string[]>) => entry(dn, { objectClass: ['top', 'ldapsubentry', 'passwordpolicy'], ...attributes });
    assert.deepEqual(readLockoutPolicy(subentry({ passwordLockout: ['on'], passwordMaxFailure: ['2'] })), {
      kind: 'lockout',
      threshold: 2,
      memorySeconds: 600,
      source: dn,
    });
    assert.deepEqual(readLockoutPolicy(subentry({ passwordMinLength: ['8'] })), { kind: 'no-lockout', source: dn });
  });

  it("tells whether 389-DS's cn=config puts entries' own policies in force", () => {
    assert.equal(dirsrvLocalPolicies(entry('cn=config', { 'nsslapd-pwpolicy-local': ['on'] })), true);
    assert.equal(dirsrvLocalPolicies(entry('cn=config', { 'nsslapd-pwpolicy-local': ['off'] })), false);
    assert.equal(dirsrvLocalPolicies(entry('cn=config', { passwordLockout: ['on'] })), undefined);
  });

  it('finds nothing in an entry without a policy', () => {
    assert.equal(readLockoutPolicy(entry('dc=x', { objectClass: ['dcObject'] })), undefined);
  });
});

describe('directoryFailureCount', () => {
  const forever: LockoutPolicy = { kind: 'lockout', threshold: 5, memorySeconds: null, source: 'p' };
  const tenMinutes: LockoutPolicy = { kind: 'lockout', threshold: 5, memorySeconds: 600, source: 'p' };

  it('counts pwdFailureTime values inside the failure count interval', () => {
    const user = entry('uid=a', { pwdFailureTime: ['20300601115500Z', '20300601115930.5Z', '20300601110000.123456Z'] });
    assert.equal(directoryFailureCount(user, forever, NOW), 3);
    assert.equal(directoryFailureCount(user, tenMinutes, NOW), 2);
    assert.equal(directoryFailureCount(entry('uid=a', { pwdFailureTime: ['garbage'] }), tenMinutes, NOW), 1, 'what cannot be read counts');
  });

  it('does not take a missing pwdFailureTime for zero', () => {
    assert.equal(directoryFailureCount(entry('uid=a', { uid: ['a'] }), forever, NOW), undefined);
  });

  it("reads AD's badPwdCount, reset once the observation window has passed", () => {
    const hour: LockoutPolicy = { kind: 'lockout', threshold: 4, memorySeconds: 3600, source: 'd' };
    assert.equal(directoryFailureCount(entry('CN=a', { badPwdCount: ['0'], badPasswordTime: ['0'] }), hour, NOW), 0);
    assert.equal(directoryFailureCount(entry('CN=a', { badPwdCount: ['2'], badPasswordTime: [fileTime(60)] }), hour, NOW), 2);
    assert.equal(directoryFailureCount(entry('CN=a', { badPwdCount: ['2'], badPasswordTime: [fileTime(7200)] }), hour, NOW), 0);
  });

  it("reads 389-DS's passwordRetryCount until its reset time", () => {
    assert.equal(directoryFailureCount(entry('uid=a', { passwordRetryCount: ['2'], retryCountResetTime: ['20300601121000Z'] }), tenMinutes, NOW), 2);
    assert.equal(directoryFailureCount(entry('uid=a', { passwordRetryCount: ['2'], retryCountResetTime: ['20300601115000Z'] }), tenMinutes, NOW), 0);
  });

  it("counts under an unknown policy only what expires by itself (389-DS's passwordRetryCount)", () => {
    assert.equal(directoryFailureCount(entry('uid=a', { passwordRetryCount: ['2'], retryCountResetTime: ['20300601121000Z'] }), unknown(2), NOW), 2);
    assert.equal(directoryFailureCount(entry('uid=a', { passwordRetryCount: ['2'], retryCountResetTime: ['20300601115000Z'] }), unknown(2), NOW), 0);
    assert.equal(directoryFailureCount(entry('uid=a', { pwdFailureTime: ['20300601115500Z'] }), unknown(), NOW), undefined);
    assert.equal(directoryFailureCount(entry('CN=a', { badPwdCount: ['2'], badPasswordTime: [fileTime(60)] }), unknown(), NOW), undefined);
  });

  it('names the policy an entry points at', () => {
    assert.equal(entryPolicyDn(entry('uid=a', { pwdPolicySubentry: ['cn=strict,ou=policies,dc=x'] })), 'cn=strict,ou=policies,dc=x');
    assert.equal(
      entryPolicyDn(entry('CN=a', { 'msDS-ResultantPSO': ['CN=pso,CN=Password Settings Container,CN=System,DC=x'] })),
      'CN=pso,CN=Password Settings Container,CN=System,DC=x',
    );
    assert.equal(entryPolicyDn(entry('uid=a', {})), undefined);
  });
});

describe('parseGeneralizedTime', () => {
  it('reads the forms directories write', () => {
    assert.equal(parseGeneralizedTime('20300601120000Z'), NOW.getTime());
    assert.equal(parseGeneralizedTime('20300601120000.250Z'), NOW.getTime() + 250);
    assert.equal(parseGeneralizedTime('20300601140000+0200'), NOW.getTime());
    assert.equal(parseGeneralizedTime('yesterday'), undefined);
  });
});

describe('limits', () => {
  const lockout = (threshold: number, memorySeconds: number | null = null): LockoutPolicy => ({ kind: 'lockout', threshold, memorySeconds, source: 'p' });

  it('stays below the directory threshold, never above maxFailures, never below 1', () => {
    assert.equal(accountLimit(throttle(), lockout(5)), 4);
    assert.equal(accountLimit(throttle(), lockout(1000)), 5);
    assert.equal(accountLimit(throttle(), lockout(2)), 1);
    assert.equal(accountLimit(throttle(), lockout(1)), 1);
    assert.equal(accountLimit(throttle(), { kind: 'no-lockout', source: 'p' }), 5);
    assert.equal(accountLimit(throttle(), unknown()), UNKNOWN_POLICY_LIMIT);
    assert.equal(accountLimit(throttle(), unknown(2)), 2);
    assert.equal(accountLimit(throttle({ maxFailures: 2, knownAddressReserve: 0 }), unknown()), 2);
    assert.equal(accountLimit(throttle({ stayBelowDirectoryLockout: false }), lockout(3)), 5);
  });

  it("bounds an unknown policy by 3, and by one less than 389-DS's default threshold (3) on 389-DS or an unknown server", () => {
    assert.equal(unknownPolicyLimit('openldap'), 3);
    assert.equal(unknownPolicyLimit('active-directory'), 3);
    assert.equal(unknownPolicyLimit('unknown'), 3);
    assert.equal(unknownPolicyLimit('389-ds'), 2);
    assert.equal(unknownPolicyLimit(undefined), 2);
  });

  it('takes the stricter of two policies: fewer failures, then the longer memory', () => {
    assert.deepEqual(stricterPolicy(lockout(10, 60), lockout(3, 60)), lockout(3, 60));
    assert.deepEqual(stricterPolicy(lockout(3, 60), lockout(3, null)), lockout(3, null));
    assert.deepEqual(stricterPolicy(lockout(3, 600), lockout(3, 60)), lockout(3, 600));
    assert.deepEqual(stricterPolicy({ kind: 'no-lockout', source: 'p' }, lockout(10)), lockout(10));
    assert.deepEqual(stricterPolicy(lockout(10), unknown(2)), unknown(2), 'an unknown policy allowing 2 is stricter than a threshold of 10');
    assert.deepEqual(stricterPolicy(unknown(2), lockout(2)), lockout(2));
    assert.deepEqual(stricterPolicy(lockout(3, 600), unknown(2)), unknown(2), 'alike in failures, the unknown one may remember for ever');
  });

  it('keeps the reserve for known addresses', () => {
    assert.equal(attemptLimit(4, 1, true), 4);
    assert.equal(attemptLimit(4, 1, false), 3);
    assert.equal(attemptLimit(1, 1, false), 1, 'a stranger always gets one attempt');
  });

  it('remembers failures as long as the directory does when its counter cannot be seen', () => {
    assert.equal(accountMemorySeconds(throttle(), lockout(5, null), false), null);
    assert.equal(accountMemorySeconds(throttle(), lockout(5, null), true), 900);
    assert.equal(accountMemorySeconds(throttle(), lockout(5, 3600), false), 3600);
    assert.equal(accountMemorySeconds(throttle(), lockout(5, 60), false), 900);
    assert.equal(accountMemorySeconds(throttle({ stayBelowDirectoryLockout: false }), lockout(5, null), false), 900);
    assert.equal(accountMemorySeconds(throttle(), { kind: 'no-lockout', source: 'p' }, false), 900);
  });

  it('keeps failures until a successful login under a policy that cannot be read, unless the counter is seen', () => {
    assert.equal(accountMemorySeconds(throttle(), unknown(), false), null);
    assert.equal(accountMemorySeconds(throttle(), unknown(), true), 900);
    assert.equal(accountMemorySeconds(throttle({ stayBelowDirectoryLockout: false }), unknown(), false), 900);
  });

  it('warns when nothing is left to spare, when the guard is off, and when the policy cannot be read', () => {
    assert.deepEqual(lockoutWarnings(throttle(), lockout(5)), []);
    assert.match(lockoutWarnings(throttle(), lockout(1)).join(), /nothing to spare/);
    assert.match(lockoutWarnings(throttle({ stayBelowDirectoryLockout: false }), lockout(5)).join(), /can lock directory accounts/);
    assert.deepEqual(lockoutWarnings(throttle({ stayBelowDirectoryLockout: false }), lockout(6)), []);
    assert.match(
      lockoutWarnings(throttle(), { kind: 'unknown', source: 'none', problem: 'no pwdPolicy entry found', limit: 3 }).join(),
      /at most 3 failed attempts/,
    );
    assert.match(
      lockoutWarnings(throttle(), { kind: 'unknown', source: 'none', problem: 'cn=config cannot be read', limit: 2 }).join(),
      /\(cn=config cannot be read\): logins allow at most 2 failed attempts/,
    );
  });
});

describe('login.throttle settings', () => {
  it('keeps documents that only hold the old keys, with defaults for the new ones', () => {
    assert.deepEqual(throttle({ maxFailures: 7, windowSeconds: 60 }), {
      maxFailures: 7,
      windowSeconds: 60,
      maxFailuresPerAddress: 20,
      stayBelowDirectoryLockout: true,
      knownAddressDays: 30,
      knownAddressReserve: 1,
    });
  });

  it('names the path of a value out of bounds', () => {
    for (const [key, value] of [
      ['maxFailuresPerAddress', 0],
      ['knownAddressDays', -1],
      ['knownAddressDays', 3651],
      ['knownAddressReserve', -1],
      ['maxFailuresPerAddress', 100_001],
    ] as const) {
      const result = loginSettingsSchema.safeParse({ throttle: { [key]: value } });
      assert.equal(result.success, false, `${key}: ${value}`);
      assert.deepEqual(result.error?.issues[0]?.path, ['throttle', key]);
    }
    const reserve = loginSettingsSchema.safeParse({ throttle: { maxFailures: 2, knownAddressReserve: 2 } });
    assert.deepEqual(reserve.error?.issues[0]?.path, ['throttle', 'knownAddressReserve']);
  });
});
