import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashPassword, verifyPassword } from './password-hash.ts';

describe('password hashing', () => {
  it('verifies the right password only, with a fresh salt each time', async () => {
    const first = await hashPassword('correct horse');
    const second = await hashPassword('correct horse');
    assert.notEqual(first, second);
    assert.match(first, /^scrypt\$32768\$8\$1\$/);
    assert.equal(await verifyPassword('correct horse', first), true);
    assert.equal(await verifyPassword('correct horse ', first), false);
    assert.equal(await verifyPassword('', first), false);
  });
  it('never matches a damaged or foreign hash', async () => {
    for (const stored of ['', 'scrypt', 'bcrypt$x', 'scrypt$0$8$1$AAAA$AAAA', 'scrypt$32768$8$1$AAAA$']) {
      assert.equal(await verifyPassword('x', stored), false, stored);
    }
  });
});
