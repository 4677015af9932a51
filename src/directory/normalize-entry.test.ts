import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bufferAttributeNames, isBinaryAttribute, normalizeEntry, uniqueIdOf } from './normalize-entry.ts';

const GUID = Buffer.from([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);

describe('normalizeEntry', () => {
  it('lower-cases names, wraps single values, drops empty attributes', () => {
    const entry = normalizeEntry({ dn: 'uid=a,dc=e', UID: 'a', mail: ['x@e', 'y@e'], sn: [], CN: 'A', cn: 'B' });
    assert.deepEqual(entry, { dn: 'uid=a,dc=e', attributes: { uid: ['a'], mail: ['x@e', 'y@e'], cn: ['A', 'B'] } });
  });
  it('keeps binary attributes as Buffers even when ldapts decoded them as text', () => {
    const entry = normalizeEntry({ dn: 'cn=x', objectguid: 'abc', jpegPhoto: Buffer.from([0xff, 0xd8]), 'userCertificate;binary': Buffer.from([0x30]) });
    assert.deepEqual(entry.attributes['objectguid'], [Buffer.from('abc')]);
    assert.deepEqual(entry.attributes['jpegphoto'], [Buffer.from([0xff, 0xd8])]);
    assert.deepEqual(entry.attributes['usercertificate;binary'], [Buffer.from([0x30])]);
  });
  it('decodes Buffers of text attributes that are valid UTF-8, keeps the rest as Buffers', () => {
    const entry = normalizeEntry({ dn: 'cn=x', description: [Buffer.from('Renée'), Buffer.from([0xff])], nsUniqueId: 'a-b' });
    assert.deepEqual(entry.attributes['description'], ['Renée', Buffer.from([0xff])]);
    assert.deepEqual(entry.attributes['nsuniqueid'], ['a-b']);
  });
  it('honours extra binary attributes', () => {
    const entry = normalizeEntry({ dn: 'cn=x', myBlob: 'ab' }, ['myblob']);
    assert.deepEqual(entry.attributes['myblob'], [Buffer.from('ab')]);
  });
});

describe('bufferAttributeNames / isBinaryAttribute', () => {
  it('lists canonical, lower- and upper-case spellings and the requested spelling', () => {
    const names = bufferAttributeNames(['ObjectGuid', 'uid']);
    for (const name of ['objectGUID', 'objectguid', 'OBJECTGUID', 'ObjectGuid', 'jpegPhoto', 'jpegphoto', 'thumbnailPhoto', 'objectSid'])
      assert.ok(names.includes(name), name);
    assert.equal(names.includes('uid'), false);
  });
  it('recognises options and case', () => {
    assert.ok(isBinaryAttribute('userCertificate;binary'));
    assert.ok(isBinaryAttribute('OBJECTSID'));
    assert.equal(isBinaryAttribute('nsUniqueId'), false);
    assert.equal(isBinaryAttribute('entryUUID'), false);
  });
});

describe('uniqueIdOf', () => {
  it('formats objectGUID, objectSid, and passes text ids through', () => {
    const entry = {
      dn: 'cn=x',
      attributes: {
        objectguid: [GUID],
        objectsid: [Buffer.from('010100000000000512000000', 'hex')],
        entryuuid: ['1b4f5e2a-0000-4000-8000-000000000000'],
        blob: [Buffer.from([1, 2])],
      },
    };
    assert.equal(uniqueIdOf(entry, 'objectGUID'), '76543210-ba98-fedc-0123-456789abcdef');
    assert.equal(uniqueIdOf(entry, 'objectSid'), 'S-1-5-18');
    assert.equal(uniqueIdOf(entry, 'entryUUID'), '1b4f5e2a-0000-4000-8000-000000000000');
    assert.equal(uniqueIdOf(entry, 'blob'), '0102');
    assert.equal(uniqueIdOf(entry, 'nsUniqueId'), undefined);
  });
});
