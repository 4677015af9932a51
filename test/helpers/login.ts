/** Assertions for login outcomes. */
import assert from 'node:assert/strict';
import { LoginFailure, type LoginFailureReason } from '../../src/auth/login.ts';

/** Asserts that a login fails with this internal reason and the uniform outside code. */
export async function rejectsLogin(attempt: Promise<unknown>, reason: LoginFailureReason): Promise<LoginFailure> {
  try {
    await attempt;
  } catch (error) {
    assert.ok(error instanceof LoginFailure, `expected a LoginFailure, got ${String(error)}`);
    assert.equal(error.reason, reason);
    const outside = reason === 'directory_unavailable' ? 'auth.directory_unavailable' : reason === 'throttled' ? 'auth.throttled' : 'auth.invalid_credentials';
    assert.equal(error.code, outside);
    if (outside === 'auth.invalid_credentials') assert.equal(error.message, 'invalid username or password');
    return error;
  }
  assert.fail(`expected the login to fail with ${reason}`);
}
