/** `/healthz`, `/readyz` and `/metrics`: for the process supervisor and Prometheus, open without authentication. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { withDeadline } from '../../deadline.ts';
import { DirbridgeError, isDirbridgeError } from '../../errors.ts';
import type { SyncRunRecord } from '../../model/index.ts';
import type { RouteContext } from '../context.ts';

const directoryStateSchema = z.object({
  state: z.enum(['ok', 'failing', 'unknown']),
  lastRun: z
    .object({ id: z.string(), status: z.string(), startedAt: z.string(), finishedAt: z.string().nullable(), errorCode: z.string().nullable() })
    .nullable(),
});

const readySchema = z.object({
  status: z.enum(['ready', 'not_ready']),
  store: z.object({
    status: z.enum(['ok', 'unavailable']),
    dialect: z.string(),
    error: z.string().optional().describe('why not: store.unavailable, store.timeout, ...'),
  }),
  directory: directoryStateSchema.describe(
    'the directory as the latest finished sync run found it (runs still going or interrupted are passed over); reported, never a readiness condition',
  ),
});

/** How many of the latest runs `/readyz` looks through for one that says how the directory is. */
const DIRECTORY_EVIDENCE_RUNS = 20;

/**
 * True when a run tells how the directory was: it finished, and not because the store or its
 * process went away (a run still going, or one interrupted, says nothing about the directory).
 */
function isDirectoryEvidence(run: SyncRunRecord): boolean {
  if (run.status === 'running') return false;
  return run.errorCode === null || !(run.errorCode === 'sync.interrupted' || run.errorCode.startsWith('store.'));
}

/** Registers the operations routes. */
export function registerOperationsRoutes(server: FastifyInstance, context: RouteContext): void {
  const typed = server.withTypeProvider<ZodTypeProvider>();
  const { app } = context;

  typed.get(
    '/healthz',
    { schema: { tags: ['operations'], summary: 'The process is up', response: { 200: z.object({ status: z.literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  typed.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Ready when the store answers; the directory state is reported only',
        response: { 200: readySchema, 503: readySchema },
      },
    },
    async (_request, reply) => {
      try {
        // One cheap indexed query: the latest runs, which is also what the directory state is read from.
        const page = await withDeadline(
          app.store.runs.list({ limit: DIRECTORY_EVIDENCE_RUNS, offset: 0 }),
          context.readyTimeoutMs,
          () => new DirbridgeError('store.timeout', `the store did not answer within ${context.readyTimeoutMs} ms`),
        );
        const latest = page.runs.find(isDirectoryEvidence);
        const directoryState: z.infer<typeof directoryStateSchema>['state'] =
          latest === undefined ? 'unknown' : latest.status === 'failed' && (latest.errorCode ?? '').startsWith('directory.') ? 'failing' : 'ok';
        return {
          status: 'ready' as const,
          store: { status: 'ok' as const, dialect: app.store.dialect },
          directory: {
            state: directoryState,
            lastRun:
              latest === undefined
                ? null
                : { id: latest.id, status: latest.status, startedAt: latest.startedAt, finishedAt: latest.finishedAt, errorCode: latest.errorCode },
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

  typed.get('/metrics', { schema: { tags: ['operations'], summary: 'Prometheus metrics', response: { 200: z.string() } } }, async (_request, reply) => {
    const text = await context.metrics.registry.metrics();
    return reply.type(context.metrics.registry.contentType).send(text);
  });
}
