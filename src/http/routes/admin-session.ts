/**
 * Console sign-in: a local administrator, or any user whose admin flag is set (directory users
 * get it from `mapping.adminGroup`). Rate-limited per address on top of the login throttle.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ADMIN_SESSION_ROUTE, adminOf, clearSessionCookie, csrfTokenFor, setSessionCookie } from '../admin-auth.ts';
import type { RouteContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import { loginWithMetrics } from '../login-outcome.ts';
import { credentialsSchema, errorSchema } from '../schemas.ts';

const adminSessionSchema = z.object({
  csrfToken: z.string().describe('send as X-CSRF-Token with every state-changing admin request'),
  expiresAt: z.string(),
  user: z.object({ id: z.string(), username: z.string(), displayName: z.string().nullable(), source: z.enum(['local', 'directory']) }),
});

/** What sign-in and `GET session` send (the console imports it). */
export type AdminSessionView = z.infer<typeof adminSessionSchema>;

/**
 * Refuses a sign-in another site's page sends (login CSRF: the victim's browser signed in as the
 * attacker). Browsers say where a request comes from in Sec-Fetch-Site; older ones only in Origin,
 * which must then name this host. Clients that send neither (curl, scripts) are not browsers.
 */
function assertSameOrigin(request: FastifyRequest): void {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') return;
    throw new HttpError(403, 'http.cross_site', `sign-in from another site is refused (Sec-Fetch-Site: ${String(site)})`);
  }
  const origin = request.headers.origin;
  if (origin === undefined) return;
  // Both sides as URLs of the origin's scheme, so that default ports and case compare equal.
  let isSame = false;
  try {
    const from = new URL(origin);
    isSame = from.host !== '' && from.host === new URL(`${from.protocol}//${request.host}`).host;
  } catch {
    isSame = false;
  }
  if (!isSame) {
    throw new HttpError(403, 'http.cross_site', `sign-in from another origin is refused (Origin: ${origin}, this server: ${request.host})`);
  }
}

/** Registers sign-in, the current session and sign-out. */
export function registerAdminSessionRoutes(server: FastifyInstance, context: RouteContext): void {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  const { app } = context;

  typed.post(
    ADMIN_SESSION_ROUTE,
    {
      config: { rateLimit: { max: context.adminLoginRateLimit.max, timeWindow: context.adminLoginRateLimit.timeWindowMs } },
      schema: {
        tags: ['admin'],
        summary: 'Sign in to the console; sets the session cookie and returns the CSRF token',
        body: credentialsSchema,
        response: { 200: adminSessionSchema, 400: errorSchema, 401: errorSchema, 403: errorSchema, 429: errorSchema, 503: errorSchema },
      },
    },
    async (request, reply) => {
      assertSameOrigin(request);
      const result = await loginWithMetrics(context, 'admin', { username: request.body.username, password: request.body.password, clientAddress: request.ip });
      if (!result.user.isAdmin) {
        await app.sessions.logout(result.token);
        throw new HttpError(403, 'http.forbidden', 'this account is not an administrator');
      }
      setSessionCookie(reply, request, result.token, result.session.expiresAt);
      const { user } = result;
      return {
        csrfToken: csrfTokenFor(result.token),
        expiresAt: result.session.expiresAt,
        user: { id: user.id, username: user.username, displayName: user.displayName, source: user.source },
      };
    },
  );

  typed.get(
    ADMIN_SESSION_ROUTE,
    {
      schema: {
        tags: ['admin'],
        summary: 'The signed-in administrator and the CSRF token (after a page reload)',
        security: [{ adminSession: [] }],
        response: { 200: adminSessionSchema, 401: errorSchema, 403: errorSchema },
      },
    },
    async (request) => {
      const admin = adminOf(request);
      const { user } = admin;
      return {
        csrfToken: csrfTokenFor(admin.token),
        expiresAt: admin.session.expiresAt,
        user: { id: user.id, username: user.username, displayName: user.displayName, source: user.source },
      };
    },
  );

  typed.delete(
    ADMIN_SESSION_ROUTE,
    {
      schema: {
        tags: ['admin'],
        summary: 'Sign out (needs X-CSRF-Token)',
        security: [{ adminSession: [] }],
        response: { 204: z.null(), 401: errorSchema, 403: errorSchema },
      },
    },
    async (request, reply) => {
      await app.sessions.logout(adminOf(request).token);
      clearSessionCookie(reply, request);
      return reply.code(204).send(null);
    },
  );
}
