/**
 * OpenID Connect in the Fastify server: oidc-provider answers discovery and everything under
 * `/oidc/` (it reads the raw request itself), except the interactions, which are ours:
 * - `GET /oidc/interaction/:uid`: the sign-in page, or the consent page listing the scopes;
 * - `POST /oidc/interaction/:uid/login`: dirbridge's own login (find-then-bind, the throttle,
 *   first-login creation, local accounts, uniform errors); first-party clients skip consent;
 * - `POST /oidc/interaction/:uid/consent`: allow or deny.
 * A user outside the client's allowed groups gets a page saying so, and an audit entry. The
 * forms post to the same origin, and oidc-provider's SameSite=Strict interaction cookie binds
 * each post to the browser that started the flow; the GET reads the interaction by its id, so a
 * sign-in started from another site (which sends no strict cookie) still shows the page.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { InteractionResults } from 'oidc-provider';
import { z } from 'zod';
import { LoginFailure } from '../../auth/login.ts';
import { checkAccess } from '../../oidc/account.ts';
import { pageCsp, renderConsent, renderPage, renderRefused, renderSignIn } from '../../oidc/pages.ts';
import { OIDC_PREFIX } from '../../oidc/provider.ts';
import type { BuiltProvider, OidcProviderHolder } from '../../oidc/provider-holder.ts';
import type { RouteContext } from '../context.ts';

/** The provider's endpoints as routes: path, methods (OPTIONS for CORS preflights), summary. */
const PROVIDER_ROUTES: ReadonlyArray<readonly [string, readonly ('GET' | 'POST' | 'OPTIONS')[], string]> = [
  ['/.well-known/openid-configuration', ['GET', 'OPTIONS'], 'OpenID Connect discovery'],
  [`${OIDC_PREFIX}/auth`, ['GET', 'POST'], 'Authorization endpoint (code flow, PKCE)'],
  [`${OIDC_PREFIX}/auth/:uid`, ['GET'], 'Resumes an authorization after the sign-in or consent page'],
  [`${OIDC_PREFIX}/token`, ['POST', 'OPTIONS'], 'Token endpoint (authorization code, refresh token)'],
  [`${OIDC_PREFIX}/me`, ['GET', 'POST', 'OPTIONS'], 'UserInfo endpoint'],
  [`${OIDC_PREFIX}/jwks`, ['GET', 'OPTIONS'], 'The public signing keys (JWKS)'],
  [`${OIDC_PREFIX}/token/revocation`, ['POST', 'OPTIONS'], 'Token revocation (RFC 7009)'],
  [`${OIDC_PREFIX}/token/introspection`, ['POST', 'OPTIONS'], 'Token introspection (RFC 7662)'],
  [`${OIDC_PREFIX}/session/end`, ['GET', 'POST'], 'RP-initiated logout: the sign-out page'],
  [`${OIDC_PREFIX}/session/end/confirm`, ['POST'], 'RP-initiated logout: the confirmation'],
  [`${OIDC_PREFIX}/session/end/success`, ['GET'], 'RP-initiated logout: signed out'],
];

const htmlResponses = {
  200: z.string().describe('an HTML page'),
  303: z.string().describe('on to the application or the authorization'),
  400: z.string().describe('the request is unknown or expired'),
  401: z.string().describe('the sign-in page with the uniform error'),
  403: z.string().describe('the user may not use this client'),
};
const signInBody = z.object({ username: z.string().max(1024), password: z.string().max(1024) });
const consentBody = z.object({ decision: z.enum(['allow', 'deny']) });
const uidParams = z.object({ uid: z.string().min(1).max(200) });

type Interaction = Awaited<ReturnType<BuiltProvider['provider']['interactionDetails']>>;

/** The scopes a request asks for that dirbridge knows, as a list. */
const scopesOf = (interaction: Pick<Interaction, 'params'>): string[] =>
  String(interaction.params['scope'] ?? '')
    .split(' ')
    .filter((scope) => scope !== '');

function sendHtml(reply: FastifyReply, status: number, html: string, formTargets: readonly string[] = []): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('content-security-policy', pageCsp(formTargets))
    .type('text/html; charset=utf-8')
    .send(html);
}

const expiredPage = () =>
  renderPage({
    title: 'Sign-in expired',
    body: '<p class="error" role="alert">This sign-in request is unknown or has expired. Go back to the application and start again.</p>',
  });

/** Mounts the provider and registers the interaction routes. */
export function registerOidcRoutes(server: FastifyInstance, context: RouteContext, holder: OidcProviderHolder): void {
  const { app } = context;
  const store = app.store;

  // oidc-provider parses bodies itself: this scope leaves the request stream unread. Its routes are
  // listed one by one (no wildcard), so each has a plain path in the OpenAPI document.
  void server.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    const forward = async (request: FastifyRequest, reply: FastifyReply) => {
      const { handle } = await holder.get();
      reply.hijack();
      handle(request.raw, reply.raw);
    };
    for (const [url, methods, summary] of PROVIDER_ROUTES) {
      scope.route({
        method: [...methods],
        url,
        handler: forward,
        schema: {
          tags: ['openid-connect'],
          summary,
          response: { 200: z.unknown().describe('answered by oidc-provider (OpenID Connect Core, Discovery, RP-Initiated Logout)') },
        },
      });
    }
  });

  void server.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    });
    const field = (request: FastifyRequest, name: string): string => {
      const body = request.body as Record<string, unknown> | undefined;
      const value = body?.[name];
      return typeof value === 'string' ? value : '';
    };
    const clientNameOf = async (clientId: unknown) =>
      typeof clientId === 'string' ? ((await store.oidc.getOidcClient(clientId))?.name ?? clientId) : 'the application';
    const auditRefusal = (fields: { userId: string; username: string; clientId: string; reason: string }) =>
      store.transaction((tx) =>
        tx.audit.append([
          {
            actor: 'oidc',
            action: 'oidc.access_refused',
            userId: fields.userId,
            subject: fields.username,
            reason: fields.reason,
            details: { clientId: fields.clientId },
          },
        ]),
      );
    /** The interaction behind the request's cookie, or undefined (expired, or the cookie is not this browser's). */
    const detailsOf = async (built: BuiltProvider, request: FastifyRequest, reply: FastifyReply): Promise<Interaction | undefined> => {
      try {
        const details = await built.provider.interactionDetails(request.raw, reply.raw);
        const uid = (request.params as { uid: string }).uid;
        return details.uid === uid ? details : undefined;
      } catch {
        return undefined;
      }
    };
    /** A grant of every scope asked for (first-party clients and consent), saved; returns its id. */
    const saveGrant = async (built: BuiltProvider, details: Interaction, accountId: string): Promise<string> => {
      const { Grant } = built.provider;
      const clientId = String(details.params['client_id']);
      const existing = details.grantId === undefined ? undefined : await Grant.find(details.grantId);
      const grant = existing ?? new Grant({ accountId, clientId });
      grant.addOIDCScope(scopesOf(details).join(' '));
      const missing = details.prompt.details as { missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      if (missing.missingOIDCClaims !== undefined) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      return grant.save();
    };
    const finish = async (built: BuiltProvider, request: FastifyRequest, reply: FastifyReply, result: InteractionResults, merge: boolean) => {
      const redirectTo = await built.provider.interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: merge });
      return reply.code(303).header('cache-control', 'no-store').redirect(redirectTo);
    };

    scope.get<{ Params: { uid: string } }>(
      `${OIDC_PREFIX}/interaction/:uid`,
      { schema: { tags: ['openid-connect'], summary: 'The sign-in or consent page of an authorization', params: uidParams, response: htmlResponses } },
      async (request, reply) => {
        const built = await holder.get();
        const interaction = await built.provider.Interaction.find(request.params.uid);
        if (interaction === undefined) return sendHtml(reply, 400, expiredPage());
        const clientId = String(interaction.params['client_id'] ?? '');
        const clientName = await clientNameOf(clientId);
        const action = `${OIDC_PREFIX}/interaction/${encodeURIComponent(interaction.uid)}`;
        const redirectUris = (await store.oidc.getOidcClient(clientId))?.redirectUris ?? [];
        if (interaction.prompt.name === 'login') return sendHtml(reply, 200, renderSignIn({ action: `${action}/login`, clientName }), redirectUris);
        const accountId = interaction.session?.accountId;
        if (accountId === undefined) return sendHtml(reply, 400, expiredPage());
        const access = await checkAccess(store, accountId, clientId);
        if (access.refusal !== undefined) {
          await auditRefusal({ userId: accountId, username: access.user?.username ?? accountId, clientId, reason: access.refusal });
          return sendHtml(reply, 403, renderRefused({ clientName }));
        }
        const client = await store.oidc.getOidcClient(clientId);
        if (client?.isFirstParty === true) {
          const details = await detailsOf(built, request, reply);
          if (details === undefined) return sendHtml(reply, 400, expiredPage());
          return finish(built, request, reply, { consent: { grantId: await saveGrant(built, details, accountId) } }, true);
        }
        return sendHtml(reply, 200, renderConsent({ action: `${action}/consent`, clientName, scopes: scopesOf(interaction) }), redirectUris);
      },
    );

    scope.post<{ Params: { uid: string } }>(
      `${OIDC_PREFIX}/interaction/:uid/login`,
      {
        schema: {
          tags: ['openid-connect'],
          summary: "Signs in with dirbridge's directory login (form post)",
          params: uidParams,
          body: signInBody,
          consumes: ['application/x-www-form-urlencoded'],
          response: htmlResponses,
        },
      },
      async (request, reply) => {
        const built = await holder.get();
        const details = await detailsOf(built, request, reply);
        if (details === undefined || details.prompt.name !== 'login') return sendHtml(reply, 400, expiredPage());
        const clientId = String(details.params['client_id'] ?? '');
        const clientName = await clientNameOf(clientId);
        const username = field(request, 'username');
        let userId: string;
        try {
          const success = await app.login.login({ username, password: field(request, 'password'), clientAddress: request.ip });
          userId = success.user.id;
        } catch (error) {
          if (!(error instanceof LoginFailure)) throw error;
          // The same uniform message the API gives; the audit log has the precise reason.
          const redirectUris = (await store.oidc.getOidcClient(clientId))?.redirectUris ?? [];
          return sendHtml(reply, 401, renderSignIn({ action: request.url, clientName, username, error: error.message }), redirectUris);
        }
        const access = await checkAccess(store, userId, clientId);
        if (access.refusal !== undefined) {
          await auditRefusal({ userId, username: access.user?.username ?? username, clientId, reason: access.refusal });
          return sendHtml(reply, 403, renderRefused({ clientName }));
        }
        const result: InteractionResults = { login: { accountId: userId } };
        if ((await store.oidc.getOidcClient(clientId))?.isFirstParty === true) result['consent'] = { grantId: await saveGrant(built, details, userId) };
        return finish(built, request, reply, result, false);
      },
    );

    scope.post<{ Params: { uid: string } }>(
      `${OIDC_PREFIX}/interaction/:uid/consent`,
      {
        schema: {
          tags: ['openid-connect'],
          summary: 'Allows or denies the scopes a client asks for (form post)',
          params: uidParams,
          body: consentBody,
          consumes: ['application/x-www-form-urlencoded'],
          response: htmlResponses,
        },
      },
      async (request, reply) => {
        const built = await holder.get();
        const details = await detailsOf(built, request, reply);
        if (details === undefined || details.prompt.name !== 'consent' || details.session?.accountId === undefined) return sendHtml(reply, 400, expiredPage());
        const accountId = details.session.accountId;
        if (field(request, 'decision') !== 'allow') {
          return finish(built, request, reply, { error: 'access_denied', error_description: 'the user denied access' }, false);
        }
        const clientId = String(details.params['client_id'] ?? '');
        const access = await checkAccess(store, accountId, clientId);
        if (access.refusal !== undefined) {
          await auditRefusal({ userId: accountId, username: access.user?.username ?? accountId, clientId, reason: access.refusal });
          return sendHtml(reply, 403, renderRefused({ clientName: await clientNameOf(clientId) }));
        }
        return finish(built, request, reply, { consent: { grantId: await saveGrant(built, details, accountId) } }, true);
      },
    );
  });
}
