import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readLoginName } from './login-name.ts';

describe('readLoginName', () => {
  const cases: Array<[string, boolean, ReturnType<typeof readLoginName>]> = [
    ['alice', true, { username: 'alice' }],
    ['  alice ', false, { username: 'alice' }],
    ['EXAMPLE\\alice', true, { username: 'alice' }],
    ['alice@example.test', true, { username: 'alice@example.test', userPrincipalName: 'alice@example.test' }],
    ['EXAMPLE\\alice', false, { username: 'EXAMPLE\\alice' }],
    ['a\\b\\c', true, { username: 'a\\b\\c' }],
    ['\\alice', true, { username: '\\alice' }],
    ['@example.test', true, { username: '@example.test' }],
  ];
  for (const [typed, isAd, expected] of cases)
    it(`${JSON.stringify(typed)} on ${isAd ? 'AD' : 'LDAP'}`, () => assert.deepEqual(readLoginName(typed, isAd), expected));
});
