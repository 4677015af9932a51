/** `/healthz`, `/readyz` and `/metrics`: for the process supervisor and Prometheus, open without authentication. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { withDeadline } from '../../deadline.ts';
import { DirbridgeError, isDirbridgeError } from '../../errors.ts';
import type { RouteContext } from '../context.ts';

const directoryStateSchema = z.object({
  state: z.enum(['ok', 'failing', 'unknown']),
  lastRun: z
    .object({ id: z.string(), status: z.string(), startedAt: z.string(), finishedAt: z.string().nullable(), errorCode: z.string().nullable() })
    .nullable(),
});

const readySchema = z.object({
  status: z.enum(['ready', 'not_ready']),
  store: z.object({ status: z.enum(['ok', 'unavailable']), dialect: z.string(), error: z.string().optional().describe('why not: store.unavailable, store.timeout, ...') }),
  directory: directoryStateSchema.describe('the directory as the latest sync run found it; reported, never a readiness condition'),
});

/** Registers the operations routes. */
export function registerOperationsRoutes(server: FastifyInstance, context: RouteContext): void {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  const { app } = context;

  typed.get('/healthz', { schema: { tags: ['operations'], summary: 'The process is up', response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  typed.get(
    '/readyz',
    { schema: { tags: ['operations'], summary: 'Ready when the store answers; the directory state is reported only', response: { 200: readySchema, 503: readySchema } } },
    async (_request, reply) => {
      try {
        // One cheap indexed query: the latest run, which is also what the directory state is read from.
        const page = await withDeadline(
          app.store.listRuns({ limit: 1, offset: 0 }),
          context.readyTimeoutMs,
          () => new DirbridgeError('store.timeout', `the store did not answer within ${context.readyTimeoutMs} ms`),
        );
        const latest = page.runs[0];
        const directoryState: z.infer<typeof directoryStateSchema>['state'] = latest === undefined || latest.status === 'running' ? 'unknown' : latest.status === 'failed' && (latest.errorCode ?? '').startsWith('directory.') ? 'failing' : 'ok';
        return {
          status: 'ready' as const,
          store: { status: 'ok' as const, dialect: app.store.dialect },
          directory: {
            state: directoryState,
            lastRun: latest === undefined ? null : { id: latest.id, status: latest.status, startedAt: latest.startedAt, finishedAt: latest.finishedAt, errorCode: latest.errorCode },
          },
        };
      } catch (error) {
        return reply.code(503).send({
          status: 'not_ready' as const,
          store: { status: 'unavailable' as const, dialect: app.store.dialect, error: isDirbridgeError(error) ? error.code : 'internal' },
          directory: { state: 'unknown' as const, lastRun: null },
        });
      }
    },
  );

  typed.get(
    '/metrics',
    { schema: { tags: ['operations'], summary: 'Prometheus metrics', response: { 200: z.string() } } },
    async (_request, reply) => {
      const text = await context.metrics.registry.metrics();
      return reply.type(context.metrics.registry.contentType).send(text);
    },
  );
}
