/**
 * The API applications use: login (a session token), logout, session validation (the user with
 * everything mapping gave it, its avatar's hash and URL included), users' avatars, and the change
 * feed.
 *
 * Login failures keep the login service's uniform codes and messages: 401 for any wrong
 * username or password (whatever the audited reason), 429 when throttled, 503 when the
 * directory is unavailable. Who is counted by the throttle: `login-client.ts`. A 429 carries no
 * Retry-After: when the limit clears depends on the account (its directory's policy, an
 * unknown name's window), so the value could tell an existing account from an unknown name.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authenticateAdmin, bearerToken, SESSION_COOKIE, secretsEqual } from '../admin-auth.ts';
import { avatarCacheHook, avatarQuerySchema, imageResponseSchema, sendAvatar } from '../avatar.ts';
import type { RouteContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import { readEvents } from '../events.ts';
import { loginClientOf, loginHeadersSchema } from '../login-client.ts';
import { loginWithMetrics } from '../login-outcome.ts';
import { userProfile } from '../profile.ts';
import { auditEntrySchema, credentialsSchema, errorSchema, idParamsSchema, userProfileSchema } from '../schemas.ts';

const loginResponseSchema = z.object({ token: z.string(), expiresAt: z.string(), user: userProfileSchema });
const sessionResponseSchema = z.object({ session: z.object({ id: z.string(), createdAt: z.string(), expiresAt: z.string() }), user: userProfileSchema });

/** Registers the application API. */
export function registerAppRoutes(server: FastifyInstance, context: RouteContext): void {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  const { app } = context;

  const requireBearer = (request: FastifyRequest): string => {
    const token = bearerToken(request);
    if (token === undefined) throw new HttpError(401, 'http.unauthenticated', 'send the session token as "Authorization: Bearer <token>"');
    return token;
  };

  typed.post(
    '/api/v1/auth/login',
    {
      schema: {
        tags: ['app'],
        summary: 'Log a user in (directory or local account) and start a session',
        description:
          'Failed attempts are throttled per username, per directory account and per client address (429 auth.throttled, the same answer whether the username exists or not). ' +
          'An application back-end that logs its users in should authenticate with "Authorization: Bearer <DIRBRIDGE_APP_API_KEY>": its own address is then not counted, ' +
          "and it may pass its end user's address in the Dirbridge-Forwarded-For header, which is counted (and remembered after a successful login) instead. " +
          'Without the key that header is ignored; a bearer that is not the key is 401.',
        security: [{ appApiKey: [] }, {}],
        headers: loginHeadersSchema,
        body: credentialsSchema,
        response: { 200: loginResponseSchema, 400: errorSchema, 401: errorSchema, 429: errorSchema, 503: errorSchema },
      },
    },
    async (request) => {
      const client = loginClientOf(request, context);
      const result = await loginWithMetrics(context, 'app', { username: request.body.username, password: request.body.password, ...client });
      return { token: result.token, expiresAt: result.session.expiresAt, user: await userProfile(app.store, result.user) };
    },
  );

  typed.post(
    '/api/v1/auth/logout',
    { schema: { tags: ['app'], summary: 'End the session of the bearer token', security: [{ bearer: [] }], response: { 204: z.null(), 401: errorSchema } } },
    async (request, reply) => {
      const revoked = await app.sessions.logout(requireBearer(request));
      if (!revoked) throw new HttpError(401, 'http.unauthenticated', 'the session is invalid or has already ended');
      return reply.code(204).send(null);
    },
  );

  typed.post(
    '/api/v1/auth/password',
    {
      schema: {
        tags: ['app'],
        summary: "Change the session user's own password, proving the current one",
        description:
          'Authenticate with the session token. The current password is checked exactly as a login checks it: throttled per username, directory account and client address ' +
          "(the address counted is the caller's), so a wrong one is counted as a failed login and can never lock the directory account. " +
          "A directory user's new password goes to the directory (writable write-back mode with writeBack.passwords; the Password Modify operation on OpenLDAP and 389-DS, unicodePwd on Active Directory) " +
          "and is never stored by dirbridge; the server's password policy applies and a refusal names its rule (422 directory.password_policy). The user's other sessions end; this one stays.",
        security: [{ bearer: [] }],
        body: z.strictObject({ currentPassword: z.string().max(1024), newPassword: z.string().min(1).max(1024) }),
        response: {
          204: z.null(),
          400: errorSchema,
          401: errorSchema,
          409: errorSchema,
          422: errorSchema,
          429: errorSchema,
          502: errorSchema,
          503: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const valid = await app.sessions.validate(requireBearer(request));
      if (valid === undefined) throw new HttpError(401, 'http.unauthenticated', 'the session is invalid or has expired');
      const verified = await app.login.verify({ username: valid.user.username, password: request.body.currentPassword, clientAddress: request.ip, via: 'app' });
      if (verified.id !== valid.user.id) throw new HttpError(401, 'auth.invalid_credentials', 'the current password is wrong');
      await app.writeBack.users.changeOwnPassword(verified, {
        oldPassword: request.body.currentPassword,
        newPassword: request.body.newPassword,
        keepSessionId: valid.session.id,
      });
      return reply.code(204).send(null);
    },
  );

  typed.get(
    '/api/v1/auth/session',
    {
      schema: {
        tags: ['app'],
        summary: 'Validate a bearer token: the session and its user with groups, roles, channels, teams, custom fields and ABAC attributes',
        security: [{ bearer: [] }],
        response: { 200: sessionResponseSchema, 401: errorSchema },
      },
    },
    async (request) => {
      const valid = await app.sessions.validate(requireBearer(request));
      if (valid === undefined) throw new HttpError(401, 'http.unauthenticated', 'the session is invalid or has expired');
      return {
        session: { id: valid.session.id, createdAt: valid.session.createdAt, expiresAt: valid.session.expiresAt },
        user: await userProfile(app.store, valid.user),
      };
    },
  );

  typed.get(
    '/api/v1/users/:id/avatar',
    {
      schema: {
        tags: ['app'],
        summary: "A user's avatar (the photo Avatar Background Sync stored): the image bytes, with a strong ETag from its hash",
        description:
          'Authenticate with "Authorization: Bearer <DIRBRIDGE_APP_API_KEY>" (any user) or with a session token (that session\'s own user only). ' +
          'The Content-Type is read from the image itself (JPEG, PNG, GIF or WebP; nothing else is ever served). Send If-None-Match with the ETag to get 304 when it has not changed. ' +
          'The URL in the session response carries the hash as "v"; such a URL may be cached for a year, any other is "no-cache". 404 avatars.not_found when the user has no avatar.',
        security: [{ appApiKey: [] }, { bearer: [] }],
        params: idParamsSchema,
        querystring: avatarQuerySchema,
        response: { 200: imageResponseSchema, 304: z.null().describe('not modified'), 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema },
      },
      onSend: avatarCacheHook,
    },
    async (request, reply) => {
      const token = requireBearer(request);
      const { id } = request.params;
      if (context.appApiKey === undefined || !secretsEqual(token, context.appApiKey)) {
        const valid = await app.sessions.validate(token);
        if (valid === undefined) throw new HttpError(401, 'http.unauthenticated', 'send the application API key or a valid session token as a bearer token');
        if (valid.user.id !== id)
          throw new HttpError(403, 'http.forbidden', "a session token reads only its own user's avatar; applications use the application API key");
      } else if ((await app.store.users.get(id)) === undefined) {
        throw new HttpError(404, 'users.not_found', `no user with id ${id}`);
      }
      reply.header('vary', 'Authorization');
      return sendAvatar(app.store, request, reply, id);
    },
  );

  typed.get(
    '/api/v1/events',
    {
      schema: {
        tags: ['app'],
        summary: 'Change feed: user, membership and lifecycle changes from the audit log, oldest first; pass "next" back as "after"',
        description:
          'Authenticate with "Authorization: Bearer <DIRBRIDGE_APP_API_KEY>" or an administrator session cookie. An entry appears once it is a few seconds old (eventsSettleMs), so a page never skips an entry still being committed.',
        security: [{ appApiKey: [] }, { adminSession: [] }],
        querystring: z.object({ after: z.string().max(100).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }),
        response: { 200: z.object({ events: z.array(auditEntrySchema), next: z.string().nullable() }), 400: errorSchema, 401: errorSchema, 403: errorSchema },
      },
    },
    async (request) => {
      const token = bearerToken(request);
      if (token !== undefined) {
        if (context.appApiKey === undefined || !secretsEqual(token, context.appApiKey))
          throw new HttpError(401, 'http.unauthenticated', 'the application API key is not valid');
      } else if (request.cookies[SESSION_COOKIE] !== undefined) {
        await authenticateAdmin(app, request);
      } else {
        throw new HttpError(401, 'http.unauthenticated', 'send the application API key as a bearer token, or sign in as an administrator');
      }
      const settledAt = new Date(app.now().getTime() - context.eventsSettleMs);
      const page = await readEvents(app.store, {
        limit: request.query.limit,
        settledAt,
        ...(request.query.after === undefined ? {} : { after: request.query.after }),
      });
      return {
        events: page.events,
        next: page.next,
      };
    },
  );
}
