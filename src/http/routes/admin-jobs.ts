/**
 * The console's view of this instance's background work: the scheduler's jobs (schedule, next
 * run, running, last run) with a Run Now button, and the recent log lines (already redacted).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { JobRunRecord, JobStatus, RunNowResult } from '../../scheduler/scheduler.ts';
import { adminOf } from '../admin-auth.ts';
import type { RouteContext } from '../context.ts';
import { HttpError } from '../errors.ts';
import type { LogLevelName } from '../log-buffer.ts';
import { errorSchema, type JobRunView, type JobView, jobRunSchema, jobSchema } from '../schemas.ts';

const A = '/api/v1/admin';
const security = [{ adminSession: [] }];
const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema, 503: errorSchema } as const;

const logEntrySchema = z.object({ time: z.string(), level: z.string(), msg: z.string() }).catchall(z.unknown());
const levelNames = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const satisfies readonly LogLevelName[];

function runOf(run: JobRunRecord): JobRunView {
  return { ...run, scheduledAt: run.scheduledAt?.toISOString() ?? null, startedAt: run.startedAt.toISOString(), finishedAt: run.finishedAt.toISOString() };
}

function jobOf(job: JobStatus): JobView {
  return {
    name: job.name,
    schedule: job.schedule,
    cron: job.cron,
    nextRunAt: job.nextRun?.toISOString() ?? null,
    isRunning: job.running,
    current: job.current === null ? null : { trigger: job.current.trigger, startedAt: job.current.startedAt.toISOString() },
    lastRun: job.lastRun === null ? null : runOf(job.lastRun),
    lastSkip: job.lastSkip === null ? null : { ...job.lastSkip, at: job.lastSkip.at.toISOString() },
    runs: job.runs,
    failures: job.failures,
    skips: job.skips,
  };
}

/** The error for a manual run the scheduler skipped. */
function skipped(name: string, result: Extract<RunNowResult, { ran: false }>): HttpError {
  switch (result.reason) {
    case 'running':
    case 'locked':
      return new HttpError(409, 'jobs.already_running', `job ${name} is already running${result.reason === 'locked' ? ' on another instance' : ''}`);
    case 'lock_unavailable':
      return new HttpError(503, 'jobs.lock_unavailable', `the lock of job ${name} could not be taken; try again`);
    case 'stopping':
      return new HttpError(503, 'jobs.stopping', 'the server is stopping');
  }
}

/** Registers the jobs and logs routes. */
export function registerAdminJobRoutes(server: FastifyInstance, context: RouteContext): void {
  const typed = server.withTypeProvider<ZodTypeProvider>();

  typed.get(
    `${A}/jobs`,
    {
      schema: {
        tags: ['admin jobs'],
        security,
        summary: "This instance's scheduled jobs: schedule, next run, whether one is running, the last run",
        response: { 200: z.object({ schedulerRunning: z.boolean(), jobs: z.array(jobSchema) }), ...errors },
      },
    },
    async () => {
      const { scheduler } = context;
      if (scheduler === undefined) return { schedulerRunning: false, jobs: [] };
      return { schedulerRunning: true, jobs: scheduler.status().map(jobOf) };
    },
  );

  typed.post(
    `${A}/jobs/:name/run`,
    {
      schema: {
        tags: ['admin jobs'],
        security,
        summary: 'Run a job now, under its lock: 409 while it runs here or on another instance',
        params: z.object({ name: z.string().min(1).max(100) }),
        body: z.object({ wait: z.boolean().default(true).describe('false: answer 202 as soon as the run has started') }).default({ wait: true }),
        response: { 200: z.object({ ran: z.literal(true), run: jobRunSchema }), 202: z.object({ started: z.literal(true) }), ...errors },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const { scheduler } = context;
      if (scheduler === undefined || !scheduler.status().some((job) => job.name === name)) throw new HttpError(404, 'jobs.not_found', `no job named ${name}`);
      const actor = adminOf(request).actor;
      let markStarted = () => {};
      const started = new Promise<'started'>((resolve) => (markStarted = () => resolve('started')));
      const finished = scheduler.runNow(name, { onStart: markStarted });
      request.log.info({ job: name, actor }, 'job run requested');
      if (!request.body.wait) {
        const first = await Promise.race([started, finished]);
        if (first !== 'started') {
          if (!first.ran) throw skipped(name, first);
          // Finished before `onStart` could be observed: it did start.
        } else {
          finished.then(
            (result) => result.ran || request.log.warn({ job: name, reason: result.reason }, 'job run skipped'),
            (error: unknown) => request.log.error({ job: name, err: error }, 'job run failed to start'),
          );
        }
        return reply.code(202).send({ started: true as const });
      }
      const result = await finished;
      if (!result.ran) throw skipped(name, result);
      return { ran: true as const, run: runOf(result.run) };
    },
  );

  typed.get(
    `${A}/logs`,
    {
      schema: {
        tags: ['admin jobs'],
        security,
        summary: "This instance's recent log lines, newest first, as written to stdout (redacted)",
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(5_000).default(200),
          level: z.enum(levelNames).optional().describe('the lowest level to include'),
        }),
        response: { 200: z.object({ entries: z.array(logEntrySchema) }), ...errors },
      },
    },
    async (request) => {
      const buffer = context.logBuffer;
      if (buffer === undefined) return { entries: [] };
      return { entries: buffer.entries({ limit: request.query.limit, ...(request.query.level === undefined ? {} : { minLevel: request.query.level }) }) };
    },
  );
}
