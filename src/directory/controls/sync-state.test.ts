import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DirbridgeError } from '../../errors.ts';
import { decodeSyncState } from './sync-state.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const UUID = '0123456789abcdef0011223344556677';

describe('Sync State control', () => {
  it('decodes state, entryUUID and cookie', () => {
    assert.deepEqual(decodeSyncState(hex(`30 1a 0a 01 01 04 10 ${UUID} 04 03 616263`)), { state: 'add', entryUuid: hex(UUID), cookie: Buffer.from('abc') });
  });

  it('decodes every state, the cookie being optional', () => {
    const states = ['present', 'add', 'modify', 'delete'].map((_, code) => decodeSyncState(hex(`30 15 0a 01 0${code} 04 10 ${UUID}`)).state);
    assert.deepEqual(states, ['present', 'add', 'modify', 'delete']);
    assert.equal('cookie' in decodeSyncState(hex(`30 15 0a 01 03 04 10 ${UUID}`)), false);
  });

  it('refuses an unknown state, a short UUID and truncated data as directory.protocol', () => {
    const isProtocol = (error: unknown): boolean => error instanceof DirbridgeError && error.code === 'directory.protocol';
    assert.throws(() => decodeSyncState(hex(`30 15 0a 01 04 04 10 ${UUID}`)), isProtocol);
    assert.throws(() => decodeSyncState(hex('30 07 0a 01 01 04 02 0102')), isProtocol);
    assert.throws(() => decodeSyncState(hex('30 15 0a 01 01 04 10 0102')), isProtocol);
    assert.throws(() => decodeSyncState(hex('04 03 616263')), isProtocol);
  });
});
