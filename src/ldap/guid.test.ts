import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatObjectGuid, formatObjectSid, parseObjectGuid } from './guid.ts';

const GUID_BYTES = Buffer.from([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);

describe('objectGUID', () => {
  it('formats the known vector in AD mixed-endian order', () => {
    assert.equal(formatObjectGuid(GUID_BYTES), '76543210-ba98-fedc-0123-456789abcdef');
  });
  for (const text of ['76543210-ba98-fedc-0123-456789abcdef', '{76543210-BA98-FEDC-0123-456789ABCDEF}']) {
    it(`parses ${text} back to the same bytes`, () => assert.deepEqual(parseObjectGuid(text), GUID_BYTES));
  }
  it('rejects malformed input', () => {
    assert.throws(() => formatObjectGuid(Buffer.alloc(15)), RangeError);
    assert.throws(() => parseObjectGuid('76543210ba98fedc0123456789abcdef'), RangeError);
    assert.throws(() => parseObjectGuid('76543210-ba98-fedc-0123-456789abcdeg'), RangeError);
  });
});

describe('objectSid', () => {
  it('formats a domain SID', () => {
    // S-1-5-21-1004336348-1177238915-682003330-512
    const sid = Buffer.alloc(28);
    sid.writeUInt8(1, 0);
    sid.writeUInt8(5, 1);
    sid.writeUIntBE(5, 2, 6);
    for (const [index, value] of [21, 1004336348, 1177238915, 682003330, 512].entries()) sid.writeUInt32LE(value, 8 + 4 * index);
    assert.equal(formatObjectSid(sid), 'S-1-5-21-1004336348-1177238915-682003330-512');
  });
  it('formats a well-known SID', () => {
    assert.equal(formatObjectSid(Buffer.from('010100000000000512000000', 'hex')), 'S-1-5-18');
  });
  it('rejects a truncated SID', () => assert.throws(() => formatObjectSid(Buffer.from('0102000000000005', 'hex')), RangeError));
});
