import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DirbridgeError } from '../../errors.ts';
import { decodeSyncInfo } from './sync-info.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const A = '0123456789abcdef0011223344556677';
const B = 'ffeeddccbbaa99887766554433221100';

describe('Sync Info message', () => {
  it('decodes newcookie [0]', () => {
    assert.deepEqual(decodeSyncInfo(hex('80 03 616263')), { kind: 'newCookie', cookie: Buffer.from('abc') });
  });

  it('decodes refreshDelete [1] and refreshPresent [2], refreshDone defaulting to TRUE', () => {
    assert.deepEqual(decodeSyncInfo(hex('a1 00')), { kind: 'refreshDelete', refreshDone: true });
    assert.deepEqual(decodeSyncInfo(hex('a1 05 04 03 616263')), { kind: 'refreshDelete', cookie: Buffer.from('abc'), refreshDone: true });
    assert.deepEqual(decodeSyncInfo(hex('a2 03 01 01 00')), { kind: 'refreshPresent', refreshDone: false });
  });

  it('decodes syncIdSet [3] with cookie, refreshDeletes and a SET of UUIDs', () => {
    assert.deepEqual(decodeSyncInfo(hex(`a3 2e 04 03 616263 01 01 ff 31 24 04 10 ${A} 04 10 ${B}`)), {
      kind: 'syncIdSet',
      cookie: Buffer.from('abc'),
      refreshDeletes: true,
      uuids: [hex(A), hex(B)],
    });
    assert.deepEqual(decodeSyncInfo(hex(`a3 14 31 12 04 10 ${A}`)), { kind: 'syncIdSet', refreshDeletes: false, uuids: [hex(A)] });
  });

  it('refuses unknown choices and short UUIDs as directory.protocol', () => {
    const isProtocol = (error: unknown): boolean => error instanceof DirbridgeError && error.code === 'directory.protocol';
    assert.throws(() => decodeSyncInfo(hex('a4 00')), isProtocol);
    assert.throws(() => decodeSyncInfo(hex('a3 06 31 04 04 02 0102')), isProtocol);
  });
});
