import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../../errors.ts';
import { splitIncrementalValues } from './incremental-values.ts';

describe('splitIncrementalValues', () => {
  it('turns range=1-1 into added and range=0-0 into removed values, keeping the other attributes', () => {
    const guid = Buffer.alloc(16, 1);
    const { entry, valueChanges } = splitIncrementalValues({
      dn: 'CN=G,DC=x',
      attributes: { objectguid: [guid], 'member;range=1-1': ['CN=A,DC=x', 'CN=B,DC=x'], 'member;range=0-0': ['CN=C,DC=x'], description: ['d'] },
    });
    assert.deepEqual(entry, { dn: 'CN=G,DC=x', attributes: { objectguid: [guid], description: ['d'] } });
    assert.deepEqual(valueChanges, [{ attribute: 'member', added: ['CN=A,DC=x', 'CN=B,DC=x'], removed: ['CN=C,DC=x'] }]);
  });

  it('reports nothing for an entry without incremental values', () => {
    assert.deepEqual(splitIncrementalValues({ dn: 'CN=U,DC=x', attributes: { member: ['CN=A,DC=x'] } }).valueChanges, []);
  });

  it('refuses a real range (it would mean a truncated value list, not a change)', () => {
    assert.throws(
      () => splitIncrementalValues({ dn: 'CN=G,DC=x', attributes: { 'member;range=0-1499': ['CN=A,DC=x'] } }),
      (error) => isDirbridgeError(error, 'directory.protocol'),
    );
  });
});
