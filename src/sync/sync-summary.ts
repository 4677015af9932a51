/** The summary of a sync run that the CLI prints as JSON and the HTTP API returns. */
import type { SyncResult } from './run-sync.ts';

/** The JSON summary of a run (its full steps included for dry runs when `includeSteps`). */
export function summaryOf(result: SyncResult, includeSteps: boolean) {
  const { users, groups, memberships } = result;
  return {
    runId: result.runId,
    status: result.status,
    reason: result.reason,
    dryRun: result.isDryRun,
    mode: result.mode,
    ...(result.modeReason === null ? {} : { modeReason: result.modeReason }),
    entriesRead: result.entriesRead,
    users: {
      created: users.created,
      updated: users.updated,
      disabled: users.disabled,
      enabled: users.enabled,
      unchanged: users.unchanged,
      skipped: users.skipped,
    },
    groups,
    memberships,
    roles: result.roles,
    channels: result.channels,
    teams: result.teams,
    attributes: result.attributes,
    sessions: result.sessions,
    durationMs: result.durationMs,
    warnings: result.warnings,
    ...(includeSteps && result.isDryRun ? { steps: result.steps } : {}),
  };
}
