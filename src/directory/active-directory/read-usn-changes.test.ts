import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../../errors.ts';
import { formatFilter } from '../../ldap/filter.ts';
import { usnChangesFilter } from './read-usn-changes.ts';

describe('usnChangesFilter', () => {
  it('asks for uSNChanged >= since + 1 beside the given filter, beyond 2^53', () => {
    assert.equal(formatFilter(usnChangesFilter('(objectClass=user)', '12345')), '(&(objectClass=user)(uSNChanged>=12346))');
    assert.equal(formatFilter(usnChangesFilter('(cn=a*)', '9007199254740993')), '(&(cn=a*)(uSNChanged>=9007199254740994))');
  });

  it('refuses a high-water mark that is not a decimal number (no filter injection)', () => {
    for (const bad of ['', '-1', '1)(cn=*', '1.5']) {
      assert.throws(
        () => usnChangesFilter('(objectClass=user)', bad),
        (error) => isDirbridgeError(error, 'usage.invalid'),
      );
    }
  });
});
