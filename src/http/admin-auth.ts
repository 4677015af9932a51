/**
 * Administrator authentication for the console: the session token lives in an HttpOnly,
 * SameSite=Strict cookie (Secure when the request came over TLS), and every state-changing
 * request carries `X-CSRF-Token`, an HMAC keyed by that session token — so it is bound to the
 * session, needs no server-side state or shared key across instances, and cannot be derived
 * by a page that cannot read the cookie.
 *
 * The guard is installed by path, not per route: every route under `/api/v1/admin/` except
 * `POST /api/v1/admin/session` requires an administrator, so a new route cannot forget it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type {} from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../app.ts';
import type { SessionRecord, UserRecord } from '../model/index.ts';
import { HttpError } from './errors.ts';

/** The name of the console's session cookie. */
export const SESSION_COOKIE = 'dirbridge_session';

/** The header that carries the CSRF token. */
export const CSRF_HEADER = 'x-csrf-token';

/** Where the admin API lives; everything under it requires an administrator. */
export const ADMIN_PREFIX = '/api/v1/admin/';

/** The one admin route that is open: signing in. */
export const ADMIN_SESSION_ROUTE = '/api/v1/admin/session';

/** The administrator behind a request. */
export interface AdminContext {
  token: string;
  session: SessionRecord;
  user: UserRecord;
  /** The actor name for the audit log, e.g. `admin:alice`. */
  actor: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the admin guard on admin routes. */
    admin: AdminContext | null;
  }
}

/** The CSRF token for a session: HMAC-SHA256 keyed by the session token. */
export function csrfTokenFor(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('dirbridge admin csrf v1').digest('base64url');
}

/** Compares two secrets in constant time (hashing first, so lengths do not leak). */
export function secretsEqual(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token of an `Authorization: Bearer` header, or undefined. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** True when the request reached us over TLS (directly, or as the trusted proxy says). */
export function isSecureRequest(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

/** Sets the session cookie. */
export function setSessionCookie(reply: FastifyReply, request: FastifyRequest, token: string, expiresAt: string): void {
  reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: isSecureRequest(request), path: '/', expires: new Date(expiresAt) });
}

/** Clears the session cookie. */
export function clearSessionCookie(reply: FastifyReply, request: FastifyRequest): void {
  reply.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: isSecureRequest(request), path: '/' });
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** True when a request path (or route pattern) is an admin one. */
export function isAdminPath(path: string): boolean {
  return path.startsWith(ADMIN_PREFIX) || path === ADMIN_PREFIX.slice(0, -1);
}

/** The administrator behind the request's cookie: 401 without a valid session, 403 for a non-administrator. */
export async function authenticateAdmin(app: App, request: FastifyRequest): Promise<AdminContext> {
  const token = request.cookies[SESSION_COOKIE];
  if (token === undefined || token === '') throw new HttpError(401, 'http.unauthenticated', 'sign in as an administrator first');
  const valid = await app.sessions.validate(token);
  if (valid === undefined) throw new HttpError(401, 'http.unauthenticated', 'the session is invalid or has expired; sign in again');
  if (!valid.user.isAdmin) throw new HttpError(403, 'http.forbidden', 'this account is not an administrator');
  return { token, session: valid.session, user: valid.user, actor: `admin:${valid.user.username}` };
}

/** Refuses a state-changing request whose CSRF header does not match the session. */
export function checkCsrf(request: FastifyRequest, admin: AdminContext): void {
  if (SAFE_METHODS.has(request.method)) return;
  const given = request.headers[CSRF_HEADER];
  if (typeof given !== 'string' || !secretsEqual(given, csrfTokenFor(admin.token))) {
    throw new HttpError(403, 'http.csrf_failed', `a state-changing request needs the ${CSRF_HEADER} header of this session`);
  }
}

/** Installs the guard on every admin path (before the body is parsed, so nothing runs for strangers). */
export function installAdminGuard(server: FastifyInstance, app: App): void {
  server.decorateRequest('admin', null);
  server.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    const path = request.url.split('?')[0] ?? '';
    if (!isAdminPath(path) && (route === undefined || !isAdminPath(route))) return;
    if (request.method === 'POST' && route === ADMIN_SESSION_ROUTE) return;
    const admin = await authenticateAdmin(app, request);
    checkCsrf(request, admin);
    request.admin = admin;
  });
}

/** The administrator of a guarded request (the guard has run; this only narrows the type). */
export function adminOf(request: FastifyRequest): AdminContext {
  if (request.admin === null) throw new HttpError(401, 'http.unauthenticated', 'sign in as an administrator first');
  return request.admin;
}
