/**
 * `run-jobs`: runs the background jobs in the foreground until interrupted — background sync
 * (and sync on startup), auto logout, Avatar Background Sync and ABAC Attributes Background
 * Sync — through the scheduler: never overlapping, and on one instance per tick when several
 * share PostgreSQL. Job results go to stdout, next runs, skips and failures to stderr.
 */
import type { Command } from 'commander';
import { createAppScheduler, followSettings, JOB_NAMES } from '../../scheduler/app-jobs.ts';
import type { SchedulerLog } from '../../scheduler/job-lock.ts';
import { EXIT, type Output } from '../output.ts';
import { type CommandContext, optionsOf } from '../program.ts';

/** Scheduler events as terminal lines: `<time> <job>: <result>` on stdout, the rest on stderr. */
function terminalLog(out: Output): SchedulerLog {
  const line = (fields: Record<string, unknown>, message: string) => {
    const job = typeof fields['job'] === 'string' ? `${fields['job']}: ` : '';
    const trigger = fields['trigger'] === 'startup' ? ' (startup)' : '';
    return `${new Date().toISOString()} ${job}${message}${trigger}`;
  };
  return {
    info(fields, message) {
      if (message === 'job finished') out.stdout(`${line(fields, typeof fields['message'] === 'string' ? fields['message'] : 'done')}\n`);
      else if (message !== 'job started') out.stderr(`${line(fields, message)}\n`);
    },
    warn(fields, message) {
      out.stderr(`${line(fields, message)}${typeof fields['error'] === 'string' ? `: ${fields['error']}` : ''}\n`);
    },
    error(fields, message) {
      const detail = typeof fields['message'] === 'string' ? `: ${fields['message']}` : '';
      out.stderr(`${line(fields, message === 'job failed' ? 'failed' : message)}${detail}\n`);
    },
  };
}

/** Adds `run-jobs`. */
export function registerRunJobsCommand(program: Command, context: CommandContext): void {
  program
    .command('run-jobs')
    .description('run background sync, auto logout and the avatar/ABAC background syncs on their schedules until interrupted')
    .action(async (_local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const log = terminalLog(context.out);
          const scheduler = createAppScheduler(app, { log });
          // Signal handlers do not keep the event loop alive; with no timer armed (no job, or only a
          // startup sync) Node would otherwise exit with the top-level await unsettled.
          const keepAlive = setInterval(() => {}, 1 << 30);
          const interrupted = new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          }).finally(() => clearInterval(keepAlive));
          const startup = scheduler.start();
          // Observed at once: a failure of the startup runs is reported, never an unhandled rejection.
          startup.catch((error: unknown) => log.error({ error: error instanceof Error ? error.message : String(error) }, 'startup jobs failed'));
          const unfollow = followSettings(app, scheduler, { log });
          // The background sync is always a job (Sync Now runs under its lock); with neither a
          // schedule nor sync on startup it never runs here, so it is not listed.
          const runsOnStart = new Set<string>(app.settings.backgroundSync.onStartup ? [JOB_NAMES.backgroundSync] : []);
          const listed = scheduler.status().filter((job) => job.schedule !== null || runsOnStart.has(job.name));
          for (const job of listed) {
            const startupNote = app.settings.backgroundSync.onStartup && job.name === 'background-sync' ? ' (syncing now, on startup)' : '';
            const schedule = job.schedule === null ? 'no schedule' : job.cron === job.schedule ? job.schedule : `${job.schedule} = ${job.cron ?? ''}`;
            context.out.stderr(`${job.name}: next run ${job.nextRun?.toISOString() ?? 'never'} (${schedule})${startupNote}\n`);
          }
          if (listed.length === 0) context.out.stderr('no background job is enabled in the settings\n');
          else
            context.out.stderr(
              `job lock: ${scheduler.lock.kind === 'postgres' ? 'PostgreSQL advisory locks (one instance runs each tick)' : 'in-process (single instance)'}\n`,
            );
          await interrupted;
          unfollow();
          context.out.stderr('stopping: waiting for running jobs to finish\n');
          await scheduler.stop();
          await startup.catch(() => {});
          return EXIT.ok;
        }),
      );
    });
}
