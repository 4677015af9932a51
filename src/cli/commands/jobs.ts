/** `avatars sync` and `abac sync`: the seeds' background attribute jobs, run once from the shell. */
import type { Command } from 'commander';
import { type AttributeJobResult, runAbacSync, runAvatarSync } from '../../sync/attribute-jobs.ts';
import { EXIT, printJson } from '../output.ts';
import { type CommandContext, optionsOf } from '../program.ts';

/** Adds the attribute job commands. */
export function registerJobCommands(program: Command, context: CommandContext): void {
  const jobs = [
    ['avatars', 'store photos from the directory (jpegPhoto/thumbnailPhoto) by content hash', runAvatarSync],
    ['abac', 'refresh ABAC attributes from their mapped directory attributes', runAbacSync],
  ] as const;
  for (const [name, description, run] of jobs) {
    program
      .command(name)
      .description(`${name} background sync`)
      .command('sync')
      .description(description)
      .action(async (_local: unknown, command: Command) => {
        const options = optionsOf(command);
        context.setExit(
          await context.withApp(options, async (app) => {
            const result: AttributeJobResult = await run({ store: app.store, openDirectory: app.openDirectory, settings: app.settings, now: app.now });
            if (options.json === true) printJson(context.out, result);
            else {
              context.out.stdout(
                `${name}: ${result.seen} users seen, ${result.updated} updated, ${result.removed} removed, ${result.skipped} skipped (${result.durationMs} ms)\n`,
              );
              for (const warning of result.warnings.slice(0, 20)) context.out.stderr(`warning: ${warning}\n`);
            }
            return EXIT.ok;
          }),
        );
      });
  }
}
