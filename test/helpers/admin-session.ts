/** Signing in to the console's API in integration tests, as the console does. */
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';

/** An administrator's session: the cookie to send, and the CSRF token state-changing requests need. */
export interface AdminSignIn {
  token: string;
  cookie: { dirbridge_session: string };
  csrf: string;
}

/** Signs `username` in through `POST /api/v1/admin/session`; fails the test unless it succeeds. */
export async function signInAdmin(server: FastifyInstance, password: string, username = 'admin'): Promise<AdminSignIn> {
  const response = await server.inject({ method: 'POST', url: '/api/v1/admin/session', payload: { username, password } });
  assert.equal(response.statusCode, 200, response.body);
  const cookie = response.cookies.find((candidate) => candidate.name === 'dirbridge_session');
  assert.ok(cookie, 'the sign-in set the session cookie');
  return { token: cookie.value, cookie: { dirbridge_session: cookie.value }, csrf: (response.json() as { csrfToken: string }).csrfToken };
}
