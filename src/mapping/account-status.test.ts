import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readAccountState } from './account-status.ts';

const entry = (attributes: Record<string, string[]>) => ({ dn: 'cn=x', attributes });

describe('readAccountState', () => {
  const cases: Array<[string, Record<string, string[]>, 'active' | 'disabled']> = [
    ['plain OpenLDAP entry', {}, 'active'],
    ['ppolicy permanent lock', { pwdaccountlockedtime: ['000001010000Z'] }, 'disabled'],
    ['ppolicy lockout after failures', { pwdaccountlockedtime: ['20261123101500Z'] }, 'disabled'],
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
