/**
 * Live mode: the watcher's signals turned into incremental runs. Changes that arrive while a run
 * is going are coalesced into one more run after it; a run refused because another is going (a
 * scheduled sync, Sync Now, another instance) is tried again shortly: the stored position means
 * nothing is lost in between, only delayed.
 */
import { isDirbridgeError } from '../../errors.ts';
import type { ProgressLog } from '../progress.ts';
import type { SyncResult } from '../run-sync.ts';
import { type WatchDeps, watchDirectoryChanges } from './watch-changes.ts';

/** Changes closer together than this make one run. */
export const LIVE_COALESCE_MS = 250;

/** Wait before trying again after a run was refused because another was going. */
export const LIVE_RETRY_MS = 1_000;

/** What live mode needs. */
export interface LiveSyncDeps extends WatchDeps {
  /** Runs one sync under the background sync's lock; rejects with `sync.already_running` when one is going. */
  runSync: () => Promise<SyncResult>;
  stop: AbortSignal;
  log?: ProgressLog;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Watches and syncs until `stop` aborts; a watcher fault ends it (the scheduler starts it again). */
export async function runLiveSync(deps: LiveSyncDeps): Promise<void> {
  let isPending = false;
  let draining: Promise<void> | undefined;
  const drain = async (): Promise<void> => {
    while (isPending && !deps.stop.aborted) {
      await sleep(LIVE_COALESCE_MS);
      isPending = false;
      try {
        const result = await deps.runSync();
        if (result.status !== 'succeeded')
          deps.log?.warn({ runId: result.runId, status: result.status, reason: result.reason }, 'live sync run did not succeed');
      } catch (error) {
        if (!isDirbridgeError(error, 'sync.already_running')) {
          deps.log?.warn({ error: error instanceof Error ? error.message : String(error) }, 'live sync run failed');
        }
        isPending = true;
        await sleep(LIVE_RETRY_MS);
      }
    }
  };
  const kick = (): void => {
    draining ??= drain().finally(() => {
      draining = undefined;
      // A change that came as the loop ended.
      if (isPending && !deps.stop.aborted) kick();
    });
  };
  const onChange = () => {
    isPending = true;
    kick();
  };
  try {
    await watchDirectoryChanges(deps, { onChange, stop: deps.stop, pollMs: deps.settings.sync.live.pollSeconds * 1_000 });
  } finally {
    await draining;
  }
}
