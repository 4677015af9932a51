import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CENSOR, redactSecrets } from './redact-log.ts';

describe('redactSecrets', () => {
  it('censors secret-named keys at any depth, in objects and arrays', () => {
    const input = {
      user: 'anna',
      settings: { directory: { servers: [{ url: 'ldap://a', bindPassword: 'b1' }], nested: { deeper: { api_key: 'k', 'Set-Cookie': 'c' } } } },
      Password: 'p',
      token: 't',
    };
    assert.deepEqual(redactSecrets(input), {
      user: 'anna',
      settings: { directory: { servers: [{ url: 'ldap://a', bindPassword: CENSOR }], nested: { deeper: { api_key: CENSOR, 'Set-Cookie': CENSOR } } } },
      Password: CENSOR,
      token: CENSOR,
    });
    assert.equal(input.settings.directory.servers[0]?.bindPassword, 'b1', 'the logged object itself is not changed');
  });

  it('returns the same object when nothing is secret, and leaves counts and flags alone', () => {
    const input = { runId: 'r', counts: { tokens: 3 }, passwordSet: true, list: [1, 2] };
    assert.equal(redactSecrets(input), input);
  });

  it('does not walk class instances (requests, errors, buffers)', () => {
    class Request {
      headers = { authorization: 'Bearer x' };
    }
    const request = new Request();
    const error = Object.assign(new Error('boom'), { code: 'x' });
    const input = { req: request, err: error };
    assert.equal(redactSecrets(input), input);
  });

  it('keeps absent secrets absent', () => {
    assert.deepEqual(redactSecrets({ password: null, token: undefined }), { password: null, token: undefined });
  });
});
