/**
 * The admin console: the built single-page app in `web/dist` at `/` (index.html for every client
 * route), and the settings form it renders (`GET /api/v1/admin/settings/form`). `/api`, `/docs`,
 * `/metrics`, `/healthz` and `/readyz` are routes of their own and never reach the console.
 * When the console has not been built, its pages answer 503 saying how to build it.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { packageRoot } from '../../package-root.ts';
import { buildSettingsForm } from '../../settings/form.ts';
import type { RouteContext } from '../context.ts';
import { errorSchema } from '../schemas.ts';

/** Where `npm run build:web` writes the console. */
export const CONSOLE_DIST_DIR = path.join(packageRoot(import.meta.url), 'web', 'dist') + path.sep;

/** Path prefixes that belong to the server, never to the console's client routes. */
const SERVER_PREFIXES = ['/api/', '/docs', '/metrics', '/healthz', '/readyz', '/oidc/', '/.well-known/'];

const settingsFieldSchema = z.object({
  path: z.string(),
  label: z.string(),
  help: z.string(),
  kind: z.enum(['string', 'secret', 'boolean', 'integer', 'number', 'enum', 'list', 'map', 'json']),
  options: z.array(z.string()).optional(),
  optionLabels: z.record(z.string(), z.string()).optional(),
  defaultValue: z.unknown().optional(),
  isOptional: z.boolean(),
  min: z.number().optional(),
  max: z.number().optional(),
  maxLength: z.number().optional().describe('the longest text a string field takes'),
  placeholder: z.string().optional(),
});

const settingsFormSchema = z.object({
  sections: z.array(z.object({ id: z.string(), title: z.string(), description: z.string(), fields: z.array(settingsFieldSchema) })),
});

/** Options of `registerConsoleRoutes` (tests point it at another directory). */
export interface ConsoleRouteOptions {
  distDir?: string;
}

/** Registers the settings form route and the console's static files. */
export function registerConsoleRoutes(server: FastifyInstance, _context: RouteContext, options: ConsoleRouteOptions = {}): void {
  const distDir = path.resolve(options.distDir ?? CONSOLE_DIST_DIR);
  const form = buildSettingsForm();

  server.withTypeProvider<ZodTypeProvider>().get(
    '/api/v1/admin/settings/form',
    {
      schema: {
        tags: ['admin'],
        security: [{ adminSession: [] }],
        summary: 'The settings form: sections as the seeds group them, each field with its label, help text and input kind',
        response: { 200: settingsFormSchema, 401: errorSchema, 403: errorSchema },
      },
    },
    async () => form,
  );

  // Explicit patterns rather than a `/*` wildcard, so every route keeps a plain OpenAPI path:
  // `/`, the built files (`/app.js`) and client routes one or two segments deep (`/users/:id`).
  const consoleRoute = {
    schema: {
      tags: ['console'],
      summary: 'The admin console: one of its built files, or index.html for a client route',
      response: { 200: z.string().describe('the file (HTML, JavaScript, CSS)'), 404: errorSchema, 503: z.string().describe('the console has not been built') },
    },
  };

  server.register(async (scope) => {
    await scope.register(fastifyStatic, { root: distDir, serve: false });
    const serveConsole = async (request: FastifyRequest, reply: FastifyReply) => {
      const urlPath = decodePath(request.url.split('?')[0] ?? '/');
      if (urlPath === undefined) return reply.callNotFound();
      if (SERVER_PREFIXES.some((prefix) => urlPath === prefix.replace(/\/$/, '') || urlPath.startsWith(prefix))) return reply.callNotFound();
      if (!(await isFile(path.join(distDir, 'index.html')))) {
        return reply
          .code(503)
          .type('text/plain; charset=utf-8')
          .header('cache-control', 'no-store')
          .send('The admin console has not been built. Run `npm run build:web` (npm ci does it too), then reload this page.\n');
      }
      const relative = path.normalize(urlPath).replace(/^[/\\]+/, '');
      const candidate = path.join(distDir, relative);
      if (relative !== '' && candidate.startsWith(distDir + path.sep) && (await isFile(candidate))) {
        return reply.header('cache-control', 'no-cache').sendFile(relative, distDir);
      }
      // A file-like path that does not exist is a 404; anything else is a client route of the single-page app.
      if (/\.[a-z0-9]+$/i.test(relative)) return reply.callNotFound();
      return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').sendFile('index.html', distDir);
    };
    const typedScope = scope.withTypeProvider<ZodTypeProvider>();
    typedScope.get('/', consoleRoute, serveConsole);
    typedScope.get('/:page', { schema: { ...consoleRoute.schema, params: z.object({ page: z.string() }) } }, serveConsole);
    typedScope.get('/:page/:id', { schema: { ...consoleRoute.schema, params: z.object({ page: z.string(), id: z.string() }) } }, serveConsole);
  });
}

function decodePath(urlPath: string): string | undefined {
  try {
    const decoded = decodeURIComponent(urlPath);
    return decoded.includes('\0') ? undefined : decoded;
  } catch {
    return undefined;
  }
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}
