import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../errors.ts';
import { directorySettingsSchema } from '../settings/schema.ts';
import { createBindPool, decodePasswordPolicyResponse } from './bind-pool.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

describe('decodePasswordPolicyResponse', () => {
  it('decodes the error', () => {
    assert.deepEqual(decodePasswordPolicyResponse(hex('30 03 81 01 01')), { error: 'accountLocked' });
    assert.deepEqual(decodePasswordPolicyResponse(hex('30 03 81 01 00')), { error: 'passwordExpired' });
  });

  it('decodes warnings, alone and with an error', () => {
    assert.deepEqual(decodePasswordPolicyResponse(hex('30 06 a0 04 80 02 01 2c')), { timeBeforeExpiration: 300 });
    assert.deepEqual(decodePasswordPolicyResponse(hex('30 08 a0 03 81 01 02 81 01 02')), { graceAuthNsRemaining: 2, error: 'changeAfterReset' });
  });

  it('reads long-form lengths', () => {
    assert.deepEqual(decodePasswordPolicyResponse(hex('30 81 03 81 01 01')), { error: 'accountLocked' });
  });

  it('treats an empty value or sequence as "no warning, no error"', () => {
    assert.deepEqual(decodePasswordPolicyResponse(Buffer.alloc(0)), {});
    assert.deepEqual(decodePasswordPolicyResponse(hex('30 00')), {});
  });

  it('returns undefined, never throws, for malformed values', () => {
    for (const bad of ['30 05 81 01', '31 03 81 01 01', '30 03 81 01 09', '30 03 82 01 01', '30 04 a0 02 82 00', '30', '81 01 01', '30 03 81 00']) {
      assert.equal(decodePasswordPolicyResponse(hex(bad)), undefined, bad);
    }
  });
});

describe('createBindPool without a server', () => {
  // Port 9 on loopback: nothing listens, and nothing must be contacted anyway.
  const settings = directorySettingsSchema.parse({ urls: ['ldap://127.0.0.1:9'], connectTimeoutMs: 500, operationTimeoutMs: 500 });

  it('refuses empty DNs and empty or whitespace passwords locally', async () => {
    const pool = createBindPool(settings, { size: 2 });
    for (const [dn, password] of [
      ['uid=a,dc=e', ''],
      ['uid=a,dc=e', '  \t'],
      ['', 'secret'],
      ['  ', 'secret'],
    ] as const) {
      await assert.rejects(pool.verify(dn, password), (error) => isDirbridgeError(error, 'directory.invalid_credentials'));
    }
    assert.deepEqual(pool.stats(), { open: 0, idle: 0, busy: 0, waiting: 0, created: 0, destroyed: 0 });
    await pool.close();
  });

  it('validates its options', () => {
    assert.throws(
      () => createBindPool(settings, { size: 0 }),
      (error) => isDirbridgeError(error, 'usage.invalid'),
    );
    assert.throws(
      () => createBindPool(settings, { acquireTimeoutMs: 1.5 }),
      (error) => isDirbridgeError(error, 'usage.invalid'),
    );
  });

  it('reports an unreachable server as unavailable and frees the slot', async () => {
    const pool = createBindPool(settings, { size: 1 });
    await assert.rejects(pool.verify('uid=a,dc=e', 'secret'), (error) => isDirbridgeError(error, 'directory.unavailable'));
    await assert.rejects(pool.verify('uid=a,dc=e', 'secret'), (error) => isDirbridgeError(error, 'directory.unavailable'));
    assert.equal(pool.stats().open, 0);
    await pool.close();
    await assert.rejects(pool.verify('uid=a,dc=e', 'secret'), (error) => isDirbridgeError(error, 'directory.unavailable'));
  });
});
