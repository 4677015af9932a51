import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allStrings, type DirectoryEntry, firstBuffer, firstString, hasAttribute } from './entry.ts';

const entry: DirectoryEntry = {
  dn: 'uid=a,dc=e',
  attributes: { mail: ['a@e', 'b@e'], objectguid: [Buffer.from([1, 2, 3])], cn: [Buffer.from('Ren\u00e9')] },
};

describe('entry helpers', () => {
  it('read attributes case-insensitively', () => {
    assert.equal(firstString(entry, 'MAIL'), 'a@e');
    assert.deepEqual(allStrings(entry, 'mail'), ['a@e', 'b@e']);
    assert.equal(firstString(entry, 'cn'), 'René');
    assert.deepEqual(firstBuffer(entry, 'objectGUID'), Buffer.from([1, 2, 3]));
    assert.deepEqual(firstBuffer(entry, 'mail'), Buffer.from('a@e'));
    assert.ok(hasAttribute(entry, 'ObjectGuid'));
  });
  it('absent attributes', () => {
    assert.equal(firstString(entry, 'sn'), undefined);
    assert.deepEqual(allStrings(entry, 'sn'), []);
    assert.equal(firstBuffer(entry, 'sn'), undefined);
    assert.equal(hasAttribute(entry, 'sn'), false);
  });
});
