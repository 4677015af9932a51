/**
 * `dirbridge serve`: the HTTP API (and the console) until interrupted, with the scheduler
 * running the background jobs the settings switch on — and following the settings when they
 * change. Sync Now runs under the background-sync job's lock, so it is exclusive across
 * instances sharing PostgreSQL.
 */
import type { Command } from 'commander';
import type { FastifyBaseLogger } from 'fastify';
import { DirbridgeError } from '../../errors.ts';
import { createHttpServer } from '../../http/server.ts';
import { createOidcProviderHolder } from '../../oidc/provider-holder.ts';
import { createAppScheduler, followSettings } from '../../scheduler/app-jobs.ts';
import { type SchedulerLog, silentLog } from '../../scheduler/job-lock.ts';
import { EXIT } from '../output.ts';
import { type CommandContext, optionsOf } from '../program.ts';

/** Reads `--trust-proxy`: `true`, a hop count, or comma-separated addresses/CIDRs. */
function trustProxyOf(value: string | undefined): boolean | number | string[] | undefined {
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number.parseInt(value, 10);
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

/** Reads `--public-url` / `DIRBRIDGE_PUBLIC_URL`: an absolute http(s) URL without query or fragment; a trailing slash is dropped. */
function publicUrlOf(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new DirbridgeError('usage.invalid', `--public-url (or DIRBRIDGE_PUBLIC_URL) must be an absolute URL, not ${JSON.stringify(value)}`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new DirbridgeError(
      'usage.invalid',
      `--public-url (or DIRBRIDGE_PUBLIC_URL) must be an http or https URL without credentials, query or fragment, not ${JSON.stringify(value)}`,
    );
  }
  return url.href.replace(/\/+$/, '');
}

/** The server's pino logger as the scheduler's log. */
function schedulerLogOf(logger: FastifyBaseLogger): SchedulerLog {
  return {
    info: (fields, message) => logger.info(fields, message),
    warn: (fields, message) => logger.warn(fields, message),
    error: (fields, message) => logger.error(fields, message),
  };
}

/** Adds `serve`. */
export function registerServeCommand(program: Command, context: CommandContext): void {
  program
    .command('serve')
    .description('run the HTTP API: app login and sessions, the change feed, the admin API, /healthz, /readyz, /metrics and /docs')
    .option('--port <n>', 'TCP port', '8080')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--trust-proxy <value>', 'believe X-Forwarded-* from these proxies: true, a hop count, or addresses/CIDRs (comma-separated)')
    .option(
      '--public-url <url>',
      'the URL applications reach dirbridge at: the OpenID Connect issuer (default: DIRBRIDGE_PUBLIC_URL, else the URL it listens on)',
    )
    .action(async (local: { port: string; host: string; trustProxy?: string; publicUrl?: string }, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const port = Number(local.port);
          if (!Number.isInteger(port) || port < 0 || port > 65_535)
            throw new DirbridgeError('usage.invalid', `--port must be an integer from 0 to 65535, not ${JSON.stringify(local.port)}`);
          const trustProxy = trustProxyOf(local.trustProxy);
          const publicUrl = publicUrlOf(local.publicUrl ?? process.env['DIRBRIDGE_PUBLIC_URL']);
          // The issuer is the public URL, else the address the server listens on (known once it listens).
          let listenUrl = 'http://localhost';
          const oidc = createOidcProviderHolder({
            store: app.store,
            secretBox: app.secretBox,
            now: app.now,
            issuer: () => publicUrl ?? listenUrl,
            trustProxy: trustProxy !== undefined && trustProxy !== false,
          });
          const appApiKey = process.env['DIRBRIDGE_APP_API_KEY'];
          // The scheduler logs through the server's (redacted) logger, which exists once the server does.
          let schedulerLog: SchedulerLog = silentLog;
          const log: SchedulerLog = {
            info: (fields, message) => schedulerLog.info(fields, message),
            warn: (fields, message) => schedulerLog.warn(fields, message),
            error: (fields, message) => schedulerLog.error(fields, message),
          };
          const scheduler = createAppScheduler(app, { log });
          let startup: Promise<void> | undefined;
          let unfollow = () => {};
          try {
            const server = await createHttpServer(app, {
              logger: { level: process.env['DIRBRIDGE_LOG_LEVEL'] ?? 'info' },
              ...(trustProxy === undefined ? {} : { trustProxy }),
              ...(appApiKey === undefined ? {} : { appApiKey }),
              scheduler,
              oidc,
            });
            schedulerLog = schedulerLogOf(server.log.child({ component: 'scheduler' }));
            unfollow = followSettings(app, scheduler, { log });
            try {
              const address = await server.listen({ port, host: local.host });
              context.out.stderr(`dirbridge listening on ${address} (API docs at ${address}/docs)\n`);
              listenUrl = address;
              // Makes the first signing key on first start, and checks the keys open with this secret key.
              const { issuer } = await oidc.get();
              context.out.stderr(`OpenID Connect issuer ${issuer}\n`);
              // Started once listening, so /healthz answers while a sync on startup runs.
              startup = scheduler.start();
              // Observed at once: a failure of the startup runs is logged, never an unhandled rejection.
              startup.catch((error: unknown) => log.error({ error: error instanceof Error ? error.message : String(error) }, 'startup jobs failed'));
              for (const job of scheduler.status())
                log.info({ job: job.name, schedule: job.schedule, nextRun: job.nextRun?.toISOString() ?? null, lock: scheduler.lock.kind }, 'job scheduled');
              await new Promise<void>((resolve) => {
                process.once('SIGINT', resolve);
                process.once('SIGTERM', resolve);
              });
            } finally {
              unfollow();
              await server.close();
            }
          } finally {
            // Before the app closes: running jobs finish, their locks are released.
            await scheduler.stop();
            await startup?.catch(() => {});
          }
          return EXIT.ok;
        }),
      );
    });
}
