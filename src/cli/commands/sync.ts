/** `dirbridge sync [--dry-run] [--full]`: one sync run (incremental when the change feed allows), with progress on a terminal and a JSON summary. */
import type { Command } from 'commander';
import { runSyncExclusively } from '../../scheduler/app-jobs.ts';
import type { SyncProgress, SyncResult } from '../../sync/run-sync.ts';
import { subjectOf } from '../../sync/run-sync.ts';
import { summaryOf } from '../../sync/sync-summary.ts';
import { EXIT, formatTable, type Output, printJson } from '../output.ts';
import { type CommandContext, optionsOf } from '../program.ts';

/** Adds the `sync` command. */
export function registerSyncCommand(program: Command, context: CommandContext): void {
  program
    .command('sync')
    .description('read the directory and bring the store up to date (users, groups, memberships)')
    .option('--dry-run', "print the plan with each step's reason and write nothing")
    .option('--full', 'read the whole directory even when only the changes since the last sync could be read')
    .option('--steps <n>', 'how many plan steps to print (text output)', '50')
    .action(async (commandOptions: { dryRun?: boolean; full?: boolean; steps: string }, command: Command) => {
      const options = optionsOf(command);
      const code = await context.withApp(options, async (app) => {
        const progress = context.out.isTerminal && options.json !== true ? terminalProgress(context.out) : undefined;
        const result = await runSyncExclusively(app, {
          trigger: 'cli',
          isDryRun: commandOptions.dryRun === true,
          full: commandOptions.full === true,
          ...(progress === undefined ? {} : { onProgress: progress }),
        });
        if (progress !== undefined) context.out.stderr('\n');
        if (options.json === true) printJson(context.out, summaryOf(result, true));
        else printSummary(context.out, result, Number.parseInt(commandOptions.steps, 10) || 50);
        return result.status === 'succeeded' ? EXIT.ok : EXIT.failed;
      });
      context.setExit(code);
    });
}

function printSummary(out: Output, result: SyncResult, stepLimit: number): void {
  const heading = result.isDryRun ? 'dry run' : 'sync';
  out.stdout(`${heading} ${result.status}${result.reason === null ? '' : `: ${result.reason}`} (run ${result.runId}, ${result.durationMs} ms)\n`);
  if (result.mode !== null) {
    out.stdout(`${result.mode} read: ${result.entriesRead} entries${result.modeReason === null ? '' : ` (full: ${result.modeReason})`}\n`);
  }
  const { users, groups, memberships } = result;
  out.stdout(
    formatTable(
      ['', 'created', 'updated', 'disabled', 'enabled', 'unchanged', 'skipped', 'deleted', 'added', 'removed'],
      [
        ['users', users.created, users.updated, users.disabled, users.enabled, users.unchanged, users.skipped, '', '', ''],
        ['groups', groups.created, groups.updated, '', '', '', groups.skipped, groups.deleted, '', ''],
        ['memberships', '', '', '', '', '', '', '', memberships.added, memberships.removed],
      ],
    ),
  );
  const mappingCounts = [
    ['roles', result.roles],
    ['channels', result.channels],
    ['teams', result.teams],
    ['attributes', result.attributes],
  ] as const;
  const mappingLine = mappingCounts
    .flatMap(([name, counts]) => {
      const parts = Object.entries(counts)
        .filter(([, value]) => value > 0)
        .map(([key, value]) => `${key} ${value}`);
      return parts.length === 0 ? [] : [`${name}: ${parts.join(', ')}`];
    })
    .join('; ');
  if (mappingLine !== '') out.stdout(`mapping — ${mappingLine}\n`);
  if (result.sessions.usersRevoked > 0) {
    out.stdout(
      `sessions — ${result.isDryRun ? 'would revoke' : 'revoked'} those of ${result.sessions.usersRevoked} user(s) whose password changed in the directory\n`,
    );
  }
  if (result.isDryRun || result.status === 'refused') {
    const shown = result.steps.slice(0, stepLimit);
    if (shown.length > 0)
      out.stdout(
        formatTable(
          ['step', 'subject', 'reason'],
          shown.map((step) => [step.kind, subjectOf(step), step.reason]),
        ),
      );
    if (result.steps.length > shown.length) out.stdout(`… ${result.steps.length - shown.length} more steps (use --json for all)\n`);
  }
  for (const warning of result.warnings.slice(0, 20)) out.stderr(`warning: ${warning}\n`);
  if (result.warnings.length > 20) out.stderr(`… ${result.warnings.length - 20} more warnings\n`);
}

function terminalProgress(out: Output): (progress: SyncProgress) => void {
  return (progress) => {
    const text =
      progress.phase === 'apply' ? `applying ${progress.done}/${progress.total} steps` : `reading ${progress.phase}: ${progress.entriesRead} entries`;
    out.stderr(`\r\x1b[2K${text}`);
  };
}
