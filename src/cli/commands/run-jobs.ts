/**
 * `run-jobs`: runs the background jobs in the foreground on their cron schedules until
 * interrupted — auto logout, Avatar Background Sync and ABAC Attributes Background Sync — each
 * never overlapping itself. (The server will run the same jobs in its scheduler.)
 */
import type { Command } from 'commander';
import type { App } from '../../app.ts';
import { logoutDeactivatedUsers } from '../../auth/auto-logout.ts';
import { scheduleJob, type ScheduledJob } from '../../scheduler/cron-job.ts';
import { runAbacSync, runAvatarSync } from '../../sync/attribute-jobs.ts';
import { EXIT } from '../output.ts';
import { optionsOf, type CommandContext } from '../program.ts';

/** The jobs the settings switch on, with their schedules. */
export function configuredJobs(app: App): Array<{ name: string; schedule: string; run: () => Promise<string> }> {
  const { autoLogout, mapping } = app.settings;
  const deps = { store: app.store, openDirectory: app.openDirectory, settings: app.settings, now: app.now };
  const jobs: Array<{ name: string; schedule: string; run: () => Promise<string> }> = [];
  if (autoLogout.enabled) jobs.push({ name: 'auto-logout', schedule: autoLogout.schedule, run: async () => `revoked ${await logoutDeactivatedUsers(app.store, app.now)} session(s)` });
  if (mapping.avatars.enabled) {
    jobs.push({ name: 'avatar-sync', schedule: mapping.avatars.schedule, run: async () => { const result = await runAvatarSync(deps); return `${result.updated} updated, ${result.removed} removed, ${result.skipped} skipped`; } });
  }
  if (mapping.abac.enabled && mapping.abac.backgroundSync.enabled) {
    jobs.push({ name: 'abac-sync', schedule: mapping.abac.backgroundSync.schedule, run: async () => `${(await runAbacSync(deps)).updated} updated` });
  }
  return jobs;
}

/** Adds `run-jobs`. */
export function registerRunJobsCommand(program: Command, context: CommandContext): void {
  program
    .command('run-jobs')
    .description('run auto logout and the avatar/ABAC background syncs on their schedules until interrupted')
    .action(async (_local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const scheduled: ScheduledJob[] = configuredJobs(app).map((job) =>
            scheduleJob({
              name: job.name,
              schedule: job.schedule,
              run: async () => context.out.stdout(`${new Date().toISOString()} ${job.name}: ${await job.run()}\n`),
              onError: (error) => context.out.stderr(`${new Date().toISOString()} ${job.name} failed: ${error instanceof Error ? error.message : String(error)}\n`),
            }),
          );
          for (const job of scheduled) context.out.stderr(`${job.name}: next run ${job.nextRun()?.toISOString() ?? 'never'}\n`);
          if (scheduled.length === 0) context.out.stderr('no background job is enabled in the settings\n');
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
          for (const job of scheduled) job.stop();
          return EXIT.ok;
        }),
      );
    });
}
