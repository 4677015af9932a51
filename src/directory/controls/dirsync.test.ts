import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerReader, BerWriter } from 'ldapts';
import { DIRSYNC_FLAGS, DIRSYNC_OID, DirSyncControl, decodeDirSyncResponse, encodeDirSyncRequest } from './dirsync.ts';

function responseValue(more: number, cookie: Buffer): Buffer {
  const writer = new BerWriter();
  writer.startSequence();
  writer.writeInt(more);
  writer.writeInt(0);
  writer.writeBuffer(cookie, 0x04);
  writer.endSequence();
  return writer.buffer;
}

describe('DirSync control', () => {
  it('encodes the incremental-values flag as a signed 32-bit INTEGER, then MaxBytes and the cookie', () => {
    const value = encodeDirSyncRequest({ flags: DIRSYNC_FLAGS.incrementalValues, maxBytes: 1_048_576, cookie: Buffer.from('abc') });
    assert.equal(value.toString('hex'), '3010' + '020480000000' + '0203100000' + '0403616263');
  });

  it('encodes no flags and an empty cookie for a first read', () => {
    assert.equal(encodeDirSyncRequest({ flags: 0, maxBytes: 0, cookie: Buffer.alloc(0) }).toString('hex'), '3008020100020100' + '0400');
  });

  it('refuses flags and sizes that do not fit', () => {
    assert.throws(() => encodeDirSyncRequest({ flags: 2 ** 32, maxBytes: 0, cookie: Buffer.alloc(0) }), RangeError);
    assert.throws(() => encodeDirSyncRequest({ flags: 0, maxBytes: -1, cookie: Buffer.alloc(0) }), RangeError);
  });

  it('writes a critical control with the value wrapped in an OCTET STRING', () => {
    const writer = new BerWriter();
    new DirSyncControl({ flags: 1, maxBytes: 0, cookie: Buffer.alloc(0) }).write(writer);
    const reader = new BerReader(writer.buffer);
    reader.readSequence();
    assert.equal(reader.readString(), DIRSYNC_OID);
    assert.equal(reader.readBoolean(), true);
    assert.equal(reader.readString(0x04, true)?.toString('hex'), '3008020101020100' + '0400');
  });

  it('decodes a response: more results and the cookie bytes', () => {
    const cookie = Buffer.from([0x4d, 0x53, 0x44, 0x53, 0xff, 0x00]);
    assert.deepEqual(decodeDirSyncResponse(responseValue(1, cookie)), { moreResults: true, cookie });
    assert.deepEqual(decodeDirSyncResponse(responseValue(0, Buffer.alloc(0))), { moreResults: false, cookie: Buffer.alloc(0) });
  });

  it('returns undefined for malformed responses instead of throwing', () => {
    assert.equal(decodeDirSyncResponse(Buffer.alloc(0)), undefined);
    assert.equal(decodeDirSyncResponse(Buffer.from('300302010', 'hex')), undefined);
    assert.equal(decodeDirSyncResponse(Buffer.from('3003020101', 'hex')), undefined);
    assert.equal(decodeDirSyncResponse(Buffer.from('04020000', 'hex')), undefined);
  });

  it('parses the response control into the request control object, marking malformed ones', () => {
    const control = new DirSyncControl({ flags: 0, maxBytes: 0, cookie: Buffer.alloc(0) });
    control.parse(new BerReader(responseValue(0, Buffer.from('xy'))));
    assert.deepEqual(control.response, { moreResults: false, cookie: Buffer.from('xy') });
    const broken = new DirSyncControl({ flags: 0, maxBytes: 0, cookie: Buffer.alloc(0) });
    broken.parse(new BerReader(Buffer.from('0500', 'hex')));
    assert.equal(broken.response, undefined);
    assert.equal(broken.responseMalformed, true);
  });
});
