import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../errors.ts';
import { normalizeDn } from '../ldap/dn.ts';
import { addValues, checkAttributeName, replaceValues, valueChanges } from './modifications.ts';

describe('valueChanges (least change)', () => {
  it('deletes the values that go and adds the values that come, never replacing the list', () => {
    assert.deepEqual(valueChanges('member', ['a', 'b', 'c'], ['a', 'c', 'd']), [
      { operation: 'delete', attribute: 'member', values: ['b'] },
      { operation: 'add', attribute: 'member', values: ['d'] },
    ]);
  });

  it('is empty when nothing changes, and drops duplicates of a new value', () => {
    assert.deepEqual(valueChanges('mail', ['x'], ['x']), []);
    assert.deepEqual(valueChanges('mail', [], ['y', 'y']), [{ operation: 'add', attribute: 'mail', values: ['y'] }]);
  });

  it('compares DN values in normalised form when given a key', () => {
    const current = ['uid=Ann,ou=People,dc=example,dc=org'];
    assert.deepEqual(valueChanges('member', current, ['uid=ann, ou=people,dc=example,dc=org'], normalizeDn), []);
  });

  it('compares binary values byte for byte', () => {
    assert.deepEqual(valueChanges('jpegPhoto', [Buffer.from([1, 2])], [Buffer.from([1, 2])]), []);
    assert.equal(valueChanges('jpegPhoto', [Buffer.from([1, 2])], [Buffer.from([1, 3])]).length, 2);
  });
});

describe('modification builders', () => {
  it('refuses attribute names that are not attribute descriptions, and ranged names', () => {
    for (const bad of ['', 'mail)(x', 'member;range=0-1499', '1member', 'a b']) {
      assert.throws(
        () => checkAttributeName(bad),
        (error) => isDirbridgeError(error, 'usage.invalid'),
        bad,
      );
    }
    assert.equal(checkAttributeName('userCertificate;binary'), 'userCertificate;binary');
    assert.equal(checkAttributeName('2.5.4.3'), '2.5.4.3');
  });

  it('builds add and replace changes', () => {
    assert.deepEqual(addValues('member', ['x']), { operation: 'add', attribute: 'member', values: ['x'] });
    assert.deepEqual(replaceValues('nsAccountLock', []), { operation: 'replace', attribute: 'nsAccountLock', values: [] });
  });
});
