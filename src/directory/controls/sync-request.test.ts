import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerWriter } from 'ldapts';
import { encodeSyncRequestValue, SyncRequestControl } from './sync-request.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

describe('Sync Request control', () => {
  it('encodes refreshOnly without a cookie as SEQUENCE { ENUMERATED 1 }', () => {
    assert.deepEqual(encodeSyncRequestValue({ mode: 'refreshOnly' }), hex('30 03 0a 01 01'));
  });

  it('encodes refreshAndPersist with a cookie, and leaves a false reloadHint out', () => {
    assert.deepEqual(encodeSyncRequestValue({ mode: 'refreshAndPersist', cookie: Buffer.from('abc'), reloadHint: false }), hex('30 08 0a 01 03 04 03 616263'));
  });

  it('writes a true reloadHint as BOOLEAN TRUE', () => {
    assert.deepEqual(encodeSyncRequestValue({ mode: 'refreshOnly', reloadHint: true }), hex('30 06 0a 01 01 01 01 ff'));
  });

  it('is sent critical, its value wrapped in an OCTET STRING', () => {
    const writer = new BerWriter();
    new SyncRequestControl({ mode: 'refreshOnly' }).write(writer);
    const oid = Buffer.from('1.3.6.1.4.1.4203.1.9.1.1', 'latin1');
    assert.deepEqual(writer.buffer, Buffer.concat([hex('30 24 04 18'), oid, hex('01 01 ff 04 05 30 03 0a 01 01')]));
  });
});
