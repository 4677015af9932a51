/** One way for tests to say "this must fail with that error code". */
import assert from 'node:assert/strict';
import { type DirbridgeError, type ErrorCode, isDirbridgeError } from '../../src/errors.ts';

/** Awaits `promise`, which must reject with a DirbridgeError of one of `codes`; returns the error. */
export async function rejectsWithCode(promise: Promise<unknown>, ...codes: ErrorCode[]): Promise<DirbridgeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isDirbridgeError(error), `expected a DirbridgeError, got ${String(error)}`);
    assert.ok(codes.includes(error.code), `expected ${codes.join('|')}, got ${error.code}: ${error.message}`);
    return error;
  }
  assert.fail(`expected ${codes.join('|')}, but it succeeded`);
}
