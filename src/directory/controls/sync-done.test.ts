import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DirbridgeError } from '../../errors.ts';
import { decodeSyncDone } from './sync-done.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

describe('Sync Done control', () => {
  it('decodes a cookie and refreshDeletes TRUE', () => {
    assert.deepEqual(decodeSyncDone(hex('30 08 04 03 616263 01 01 ff')), { cookie: Buffer.from('abc'), refreshDeletes: true });
  });

  it('defaults refreshDeletes to false, for an empty SEQUENCE and for no value at all', () => {
    assert.deepEqual(decodeSyncDone(hex('30 05 04 03 616263')), { cookie: Buffer.from('abc'), refreshDeletes: false });
    assert.deepEqual(decodeSyncDone(hex('30 00')), { refreshDeletes: false });
    assert.deepEqual(decodeSyncDone(undefined), { refreshDeletes: false });
  });

  it('refuses a value that is not a SEQUENCE', () => {
    assert.throws(
      () => decodeSyncDone(hex('04 03 616263')),
      (error: unknown) => error instanceof DirbridgeError && error.code === 'directory.protocol',
    );
  });
});
