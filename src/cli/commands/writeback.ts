/** `writeback list|retry|resolve`: the write-back outbox and its conflicts (issue #10). */
import type { Command } from 'commander';
import { DirbridgeError } from '../../errors.ts';
import type { OutboxRecord, WriteBackConflictRecord } from '../../model/index.ts';
import { PRIMARY_DIRECTORY_ID } from '../../model/writeback.ts';
import type { DeliveryRun } from '../../writeback/delivery.ts';
import type { DirectoryChange } from '../../writeback/directory-change.ts';
import { resolveWriteBackConflict, retryWriteBack } from '../../writeback/outbox-actions.ts';
import { EXIT, formatTable, type Output, printJson } from '../output.ts';
import { type CommandContext, optionsOf } from '../program.ts';

/** The audit actor for commands an administrator runs at the shell. */
const CLI_ACTOR = 'admin:cli';

/** One line for a change: what it does to which entry. */
function describeChange(change: DirectoryChange): string {
  switch (change.kind) {
    case 'add':
      return `add ${change.dn}`;
    case 'delete':
      return `delete ${change.dn}`;
    case 'modifyDn':
      return `rename ${change.dn} to ${change.newRdn}${change.newParent === undefined ? '' : ` under ${change.newParent}`}`;
    case 'modify':
      return `modify ${change.dn}: ${change.changes.map((part) => `${part.kind} ${part.attribute}`).join(', ')}`;
  }
}

const values = (list: readonly string[]): string => (list.length === 0 ? '(none)' : list.join(' | '));

function printOutbox(out: Output, rows: readonly OutboxRecord[], total: number): void {
  out.stdout(
    formatTable(
      ['id', 'status', 'step', 'subject', 'attempts', 'next attempt', 'error', 'change'],
      rows.map((row) => [
        row.id,
        row.status,
        row.stepKind,
        row.subject,
        row.attempts,
        row.status === 'pending' ? row.nextAttemptAt : '',
        row.lastErrorCode === null ? '' : `${row.lastErrorCode}: ${row.lastError ?? ''}`,
        describeChange(row.change),
      ]),
    ),
  );
  out.stdout(`${rows.length} of ${total} open write-back steps\n`);
}

function printConflicts(out: Output, rows: readonly WriteBackConflictRecord[], total: number): void {
  out.stdout(
    formatTable(
      ['id', 'subject', 'field', 'winner', 'directory', 'dirbridge', 'baseline', 'at', 'resolved'],
      rows.map((row) => [
        row.id,
        row.subject,
        row.field,
        row.winner,
        values(row.directoryValue),
        values(row.dirbridgeValue),
        values(row.baseline),
        row.createdAt,
        row.resolvedAt === null ? '' : `${row.resolution ?? ''} by ${row.resolvedBy ?? ''}`,
      ]),
    ),
  );
  out.stdout(`${rows.length} of ${total} open conflicts\n`);
}

function describeRun(run: DeliveryRun): string {
  if (run.skipped === 'not_writable') return 'not delivered: write-back is not enabled in writable mode';
  if (run.skipped === 'held_elsewhere') return 'not delivered here: another instance is delivering';
  return `delivered ${run.done}, retrying ${run.retrying}, failed ${run.failed}, conflicts ${run.conflicts}`;
}

/** Adds the `writeback` commands. */
export function registerOutboxCommands(program: Command, context: CommandContext): void {
  const { out } = context;
  const writeback = program.command('writeback').description('the write-back outbox: directory writes waiting or failed, and conflicts');

  writeback
    .command('list')
    .description('pending and failed write-back steps, and open conflicts')
    .option('--limit <n>', 'rows per table', '50')
    .option('--offset <n>', 'rows to skip', '0')
    .action(async (local: { limit: string; offset: string }, command: Command) => {
      const options = optionsOf(command);
      const page = { limit: Math.max(1, Number.parseInt(local.limit, 10) || 50), offset: Math.max(0, Number.parseInt(local.offset, 10) || 0) };
      context.setExit(
        await context.withApp(options, async (app) => {
          const outbox = await app.store.writeBack.listOpen(PRIMARY_DIRECTORY_ID, page);
          const conflicts = await app.store.writeBack.listConflicts(PRIMARY_DIRECTORY_ID, { open: true }, page);
          if (options.json === true) printJson(out, { outbox, conflicts });
          else {
            printOutbox(out, outbox.rows, outbox.total);
            out.stdout('\n');
            printConflicts(out, conflicts.rows, conflicts.total);
          }
          return EXIT.ok;
        }),
      );
    });

  writeback
    .command('retry')
    .description('put failed write-back steps (all, or the ids given) back in the outbox and deliver now')
    .argument('[ids...]', 'outbox step ids (default: every failed step)')
    .action(async (ids: string[], _local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const result = await retryWriteBack(app, { ...(ids.length === 0 ? {} : { ids }), actor: CLI_ACTOR });
          if (options.json === true) printJson(out, result);
          else out.stdout(`requeued ${result.requeued} failed step(s); ${describeRun(result.run)}\n`);
          return EXIT.ok;
        }),
      );
    });

  writeback
    .command('resolve')
    .description("resolve a conflict: --keep the winner's value, or --restore the loser's on both sides")
    .argument('<conflict-id>')
    .option('--keep', "keep the winning value (dirbridge's store and the directory stay as they are)")
    .option('--restore', "restore the losing value in dirbridge's store and the directory")
    .action(async (id: string, local: { keep?: boolean; restore?: boolean }, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          if ((local.keep === true) === (local.restore === true)) throw new DirbridgeError('usage.invalid', 'give exactly one of --keep or --restore');
          const conflict = await resolveWriteBackConflict(app, { id, resolution: local.keep === true ? 'keep' : 'restore', actor: CLI_ACTOR });
          if (options.json === true) printJson(out, conflict);
          else out.stdout(`conflict ${conflict.id} on ${conflict.subject}'s ${conflict.field} resolved: ${conflict.resolution ?? ''}\n`);
          return EXIT.ok;
        }),
      );
    });
}
