/**
 * The HTTP server: Fastify with zod schemas on every route (validation, serialization and the
 * OpenAPI document at `/docs`), security headers, the admin guard, rate-limited sign-in,
 * Prometheus metrics and redacted structured logs. Routes call the same services as the CLI.
 */
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import pino, { type DestinationStream } from 'pino';
import type { App } from '../app.ts';
import { createOidcProviderHolder, type OidcProviderHolder } from '../oidc/provider-holder.ts';
import { installAdminGuard, SESSION_COOKIE } from './admin-auth.ts';
import type { RouteContext, RouteScheduler } from './context.ts';
import { HttpError, installErrorHandlers } from './errors.ts';
import { DEFAULT_EVENTS_SETTLE_MS } from './events.ts';
import { createLogBuffer, teeDestination } from './log-buffer.ts';
import { createMetrics } from './metrics.ts';
import { CENSOR, redactSecrets } from './redact-log.ts';
import { registerAdminActionRoutes } from './routes/admin-actions.ts';
import { registerAdminDataRoutes } from './routes/admin-data.ts';
import { registerAdminJobRoutes } from './routes/admin-jobs.ts';
import { registerAdminSessionRoutes } from './routes/admin-session.ts';
import { registerAdminSettingsRoutes } from './routes/admin-settings.ts';
import { registerAdminWriteActionRoutes } from './routes/admin-write-actions.ts';
import { registerAdminWriteBackRoutes } from './routes/admin-writeback.ts';
import { registerAppRoutes } from './routes/app-api.ts';
import { registerConsoleRoutes } from './routes/console.ts';
import { registerOidcRoutes } from './routes/oidc.ts';
import { registerOperationsRoutes } from './routes/operations.ts';

/** Options of `createHttpServer`. */
export interface HttpServerOptions {
  /** Structured logs: level and destination (stdout by default); `false` turns logging off. */
  logger?: false | { level?: string; stream?: DestinationStream };
  /** Fastify's `trustProxy`: which proxies' X-Forwarded-For/-Proto to believe (off by default). */
  trustProxy?: boolean | string | string[] | number;
  /** The static bearer key applications use for `/api/v1/events` (`DIRBRIDGE_APP_API_KEY`). */
  appApiKey?: string;
  /** How old an audit entry must be before the change feed shows it (default 5000 ms). */
  eventsSettleMs?: number;
  /** How long `/readyz` waits for the store before answering 503 (default 2000 ms). */
  readyTimeoutMs?: number;
  /** Sign-in attempts allowed per client address on `POST /api/v1/admin/session` (default 10 a minute). */
  adminLoginRateLimit?: { max: number; timeWindowMs: number };
  /** Called for every route as it is added (tests walk the route table with it). */
  onRoute?: (route: RouteOptions) => void;
  /** The job scheduler (`dirbridge serve`): Sync Now runs under its lock, `/api/v1/admin/jobs` shows it, `/metrics` counts its runs. */
  scheduler?: RouteScheduler;
  /** Lines kept for `GET /api/v1/admin/logs` (default 2000). */
  logBufferSize?: number;
  /** The OpenID Connect provider (`dirbridge serve` builds it with the issuer); absent, one with the issuer `http://localhost` (for tests). */
  oidc?: OidcProviderHolder;
}

/**
 * Paths censored after serialization (so also inside serialized errors): headers, and secret-named
 * keys near the top. `redactSecrets`, the log formatter, censors secret-named keys of plain
 * objects at any depth before that; the two together cover what either alone would miss.
 */
export const REDACTED_LOG_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'password',
  '*.password',
  'token',
  '*.token',
  'csrfToken',
  '*.csrfToken',
  'bindPassword',
  '*.bindPassword',
  '*.*.bindPassword',
  'apiKey',
  '*.apiKey',
];

/** Builds the server (not yet listening): `await server.listen(...)`, or `server.inject(...)` in tests. */
export async function createHttpServer(app: App, options: HttpServerOptions = {}): Promise<FastifyInstance> {
  // The log view's buffer is a tee on pino's destination: it sees each line as written, redacted.
  const logBuffer = options.logger === false ? undefined : createLogBuffer(options.logBufferSize);
  const logger =
    options.logger === false || logBuffer === undefined
      ? false
      : {
          level: options.logger?.level ?? 'info',
          redact: { paths: [...REDACTED_LOG_PATHS], censor: CENSOR },
          formatters: { log: (object: Record<string, unknown>) => redactSecrets(object) },
          stream: teeDestination(options.logger?.stream ?? pino.destination({ dest: 1, sync: false }), logBuffer),
        };
  const hops = options.trustProxy;
  const trustProxy = typeof hops === 'number' ? (_address: string, hop: number) => hop < hops : (hops ?? false);
  const server = Fastify({ logger, trustProxy, bodyLimit: 1024 * 1024 });
  server.setValidatorCompiler(validatorCompiler);
  server.setSerializerCompiler(serializerCompiler);
  if (options.onRoute !== undefined) server.addHook('onRoute', options.onRoute);

  const metrics = createMetrics({ store: app.store, ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }) });
  const stopObserving = app.observe({ directory: metrics.observeDirectory, syncFinished: (result) => metrics.observeSync(result) });
  server.addHook('onClose', async () => {
    stopObserving();
  });
  const context: RouteContext = {
    app,
    metrics,
    appApiKey: options.appApiKey === undefined || options.appApiKey.trim() === '' ? undefined : options.appApiKey,
    adminLoginRateLimit: options.adminLoginRateLimit ?? { max: 10, timeWindowMs: 60_000 },
    eventsSettleMs: options.eventsSettleMs ?? DEFAULT_EVENTS_SETTLE_MS,
    readyTimeoutMs: options.readyTimeoutMs ?? 2_000,
    ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
    ...(logBuffer === undefined ? {} : { logBuffer }),
  };

  installErrorHandlers(server);
  await server.register(fastifyCookie);
  await server.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        scriptSrc: ["'self'"],
        // Inline style attributes only (the console and swagger-ui set some); never inline scripts.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
      },
    },
    // Same-origin console and API: nothing is meant to be embedded or read cross-origin.
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
  });
  await server.register(fastifyRateLimit, {
    global: false,
    errorResponseBuilder: (_request, limit) => new HttpError(429, 'http.rate_limited', `too many requests; try again in ${Math.ceil(limit.ttl / 1000)} s`),
  });
  await server.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'dirbridge', description: 'LDAP and Active Directory integration server: application API, admin API and operations', version: '1' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'a session token from POST /api/v1/auth/login' },
          appApiKey: { type: 'http', scheme: 'bearer', description: 'the DIRBRIDGE_APP_API_KEY configured on the server' },
          adminSession: {
            type: 'apiKey',
            in: 'cookie',
            name: SESSION_COOKIE,
            description: 'set by POST /api/v1/admin/session; state-changing requests also need X-CSRF-Token',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  await server.register(fastifySwaggerUi, { routePrefix: '/docs' });

  installAdminGuard(server, app);
  server.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });
  // Responses carry session data: never cached by browsers or proxies.
  server.addHook('onSend', async (request, reply, payload) => {
    if (request.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
    return payload;
  });

  registerOperationsRoutes(server, context);
  registerAppRoutes(server, context);
  registerAdminSessionRoutes(server, context);
  registerAdminDataRoutes(server, context);
  registerAdminActionRoutes(server, context);
  registerAdminWriteActionRoutes(server, context);
  registerAdminSettingsRoutes(server, context);
  registerAdminJobRoutes(server, context);
  registerAdminWriteBackRoutes(server, context);
  registerOidcRoutes(
    server,
    context,
    options.oidc ??
      createOidcProviderHolder({
        store: app.store,
        secretBox: app.secretBox,
        now: app.now,
        issuer: () => 'http://localhost',
        trustProxy: options.trustProxy !== undefined && options.trustProxy !== false,
      }),
  );
  registerConsoleRoutes(server, context);
  return server;
}
