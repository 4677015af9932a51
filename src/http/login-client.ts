/**
 * Who is logging in on `POST /api/v1/auth/login`, as the throttle should count it.
 *
 * A browser or client calling directly is counted under its own address (`request.ip`, which
 * `--trust-proxy` makes the address the proxy saw). An application back-end that sends the app API
 * key (`Authorization: Bearer <DIRBRIDGE_APP_API_KEY>`) logs many people in from one address, so
 * that address is not counted; it may name its end user's address in `Dirbridge-Forwarded-For`
 * (exactly one IPv4 or IPv6 address), which is then counted and remembered instead. Without the
 * key that header is ignored: anyone could send it. A bearer token that is not the key is refused,
 * not ignored, so a misconfigured application learns at once that it is being counted as one address.
 */
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isIpAddress } from '../auth/client-address.ts';
import type { LoginInput } from '../auth/login.ts';
import { bearerToken, secretsEqual } from './admin-auth.ts';
import type { RouteContext } from './context.ts';
import { HttpError } from './errors.ts';

/** The header an application names its end user's address in. */
export const FORWARDED_FOR_HEADER = 'dirbridge-forwarded-for';

/** The login route's headers, as the OpenAPI document shows them. */
export const loginHeadersSchema = z.object({
  [FORWARDED_FOR_HEADER]: z
    .string()
    .optional()
    .describe(
      "Only with the app API key: the end user's IP address (exactly one IPv4 or IPv6 address), which the login throttle then counts and remembers instead of the application's own address. Ignored without the key; anything but one address is 400.",
    ),
});

/** The address and channel a login is counted under; throws 401 for a bearer that is not the app API key, 400 for a bad forwarded address. */
export function loginClientOf(request: FastifyRequest, context: Pick<RouteContext, 'appApiKey'>): Pick<LoginInput, 'clientAddress' | 'via'> {
  if (request.headers.authorization === undefined) return { clientAddress: request.ip };
  const token = bearerToken(request);
  if (token === undefined || context.appApiKey === undefined || !secretsEqual(token, context.appApiKey)) {
    throw new HttpError(
      401,
      'http.unauthenticated',
      'the Authorization header does not hold the application API key; send it as "Authorization: Bearer <DIRBRIDGE_APP_API_KEY>", or send no Authorization header',
    );
  }
  const forwarded = request.headers[FORWARDED_FOR_HEADER];
  if (forwarded === undefined) return { via: 'app' };
  if (typeof forwarded !== 'string' || !isIpAddress(forwarded.trim())) {
    throw new HttpError(400, 'request.invalid', `headers.${FORWARDED_FOR_HEADER}: expected exactly one IPv4 or IPv6 address`);
  }
  return { clientAddress: forwarded.trim(), via: 'app' };
}
