import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../../errors.ts';
import { parseDirSyncCookie } from './dirsync-cookie.ts';

// A cookie Samba 4.17 returned for a first DirSync read (highest USN 0x1009).
const SAMBA_COOKIE = Buffer.from(
  '4d534453030000008' +
    '0f3ee074783dd01000000000000000028000000091000000000000000000000000000000910000000000000db68efede14c3342a3a7667f7fa2f49201000000000000000100000000000000db68efede14c3342a3a7667f7fa2f4920910000000000000',
  'hex',
);

describe('parseDirSyncCookie', () => {
  it('reads the invocationId and the USN vector of a Samba cookie', () => {
    assert.deepEqual(parseDirSyncCookie(SAMBA_COOKIE), { invocationId: 'edef68db-4ce1-4233-a3a7-667f7fa2f492', highObjUpdate: '4105', highPropUpdate: '4105' });
  });

  it('refuses what is not a cookie: too short, wrong signature, length not matching its header', () => {
    const bad = (cookie: Buffer) => () => parseDirSyncCookie(cookie);
    const isInvalid = (error: unknown) => isDirbridgeError(error, 'directory.sync_cookie_invalid');
    assert.throws(bad(Buffer.from('garbage-cookie')), isInvalid);
    assert.throws(bad(SAMBA_COOKIE.subarray(0, 80)), isInvalid);
    const renamed = Buffer.from(SAMBA_COOKIE);
    renamed.write('XXXX', 0, 'latin1');
    assert.throws(bad(renamed), (error) => isInvalid(error) && /signature/.test(String(error)));
    assert.throws(bad(Buffer.concat([SAMBA_COOKIE, Buffer.alloc(1)])), isInvalid);
  });
});
