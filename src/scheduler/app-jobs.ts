/**
 * dirbridge's background jobs as the settings switch them on — background sync (plus sync on
 * startup), auto logout, Avatar Background Sync, ABAC Attributes Background Sync — and the
 * scheduler that runs them with the lock the store calls for: PostgreSQL advisory locks when
 * several instances may share the database, an in-process lock for SQLite.
 */
import type { App } from '../app.ts';
import { logoutDeactivatedUsers } from '../auth/auto-logout.ts';
import type { StoreSettings } from '../settings/schema.ts';
import { runAbacSync, runAvatarSync } from '../sync/attribute-jobs.ts';
import type { SyncResult } from '../sync/run-sync.ts';
import { createLocalJobLock, type JobLock, type SchedulerLog } from './job-lock.ts';
import { createPostgresJobLock } from './postgres-lock.ts';
import { createScheduler, type Scheduler, type SchedulerJob } from './scheduler.ts';

/** Job names, stable: they key the advisory locks shared by instances. */
export const JOB_NAMES = {
  backgroundSync: 'background-sync',
  autoLogout: 'auto-logout',
  avatarSync: 'avatar-sync',
  abacSync: 'abac-sync',
} as const;

/** The jobs the settings switch on. */
export function appJobs(app: App): SchedulerJob[] {
  const { autoLogout, mapping, backgroundSync } = app.settings;
  const deps = { store: app.store, openDirectory: app.openDirectory, settings: app.settings, now: app.now };
  const jobs: SchedulerJob[] = [];
  if (backgroundSync.enabled || backgroundSync.onStartup) {
    jobs.push({
      name: JOB_NAMES.backgroundSync,
      schedule: backgroundSync.enabled ? backgroundSync.schedule : null,
      runOnStart: backgroundSync.onStartup,
      run: async ({ trigger }) => {
        const result = await app.sync.runSync({ trigger: trigger === 'startup' ? 'startup' : 'schedule', isDryRun: false });
        const summary = describeSync(result);
        if (result.status !== 'succeeded') throw new Error(summary);
        return summary;
      },
    });
  }
  if (autoLogout.enabled) {
    jobs.push({ name: JOB_NAMES.autoLogout, schedule: autoLogout.schedule, run: async () => `revoked ${await logoutDeactivatedUsers(app.store, app.now)} session(s)` });
  }
  if (mapping.avatars.enabled) {
    jobs.push({
      name: JOB_NAMES.avatarSync,
      schedule: mapping.avatars.schedule,
      run: async () => {
        const result = await runAvatarSync(deps);
        return `${result.updated} updated, ${result.removed} removed, ${result.skipped} skipped`;
      },
    });
  }
  if (mapping.abac.enabled && mapping.abac.backgroundSync.enabled) {
    jobs.push({ name: JOB_NAMES.abacSync, schedule: mapping.abac.backgroundSync.schedule, run: async () => `${(await runAbacSync(deps)).updated} updated` });
  }
  return jobs;
}

/** One line about a sync run. */
export function describeSync(result: SyncResult): string {
  const { users, groups, memberships } = result;
  const counts = `users ${users.created} created, ${users.updated} updated, ${users.disabled} disabled, ${users.enabled} enabled; groups ${groups.created} created, ${groups.updated} updated, ${groups.deleted} deleted; memberships +${memberships.added} -${memberships.removed}`;
  return `sync ${result.status}${result.reason === null ? '' : ` (${result.reason})`}: ${counts} in ${result.durationMs} ms [run ${result.runId}]`;
}

/** The lock the store calls for; a PostgreSQL lock opens one dedicated connection, lazily. */
export function createJobLock(store: StoreSettings, log?: SchedulerLog): JobLock {
  return store.url === undefined ? createLocalJobLock() : createPostgresJobLock(store.url, log === undefined ? {} : { log });
}

/** A scheduler for the app's jobs that owns its lock: `stop()` waits for runs, then closes the lock. */
export function createAppScheduler(app: App, options: { log: SchedulerLog; jobs?: SchedulerJob[] }): Scheduler & { lock: JobLock } {
  const lock = createJobLock(app.settings.store, options.log);
  const scheduler = createScheduler({ jobs: options.jobs ?? appJobs(app), lock, log: options.log, now: app.now });
  return {
    ...scheduler,
    lock,
    async stop() {
      await scheduler.stop();
      await lock.close();
    },
  };
}
