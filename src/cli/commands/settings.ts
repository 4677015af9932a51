/**
 * `settings show|export|import`: the CLI side of the settings the store keeps. Export writes
 * the document `import` reads (YAML, or JSON for a `.json` file); secrets are left out unless
 * asked for, and then only into a file readable by its owner alone.
 */
import { open } from 'node:fs/promises';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { DirbridgeError } from '../../errors.ts';
import { isRecord, readSettingsDocument } from '../../settings/load.ts';
import { editablePart, redactSettings } from '../../settings/stored-settings.ts';
import { saveSettings, VERIFICATION_FAILED, type Verification, verificationMessage } from '../../verify-settings.ts';
import { EXIT, printJson } from '../output.ts';
import { type CommandContext, optionsOf } from '../program.ts';

/** Adds `settings`. */
export function registerSettingsCommands(program: Command, context: CommandContext): void {
  const settings = program.command('settings').description('the settings kept in the store: show, export, import');

  settings
    .command('show')
    .description('print the settings in force with their version (secrets are never shown)')
    .action(async (_local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const state = app.settingsState();
          const shown = { version: state.version, updatedAt: state.updatedAt, updatedBy: state.updatedBy, ...redactSettings(state.settings) };
          if (options.json === true) printJson(context.out, shown);
          else
            context.out.stdout(
              `# version ${state.version}, saved ${state.updatedAt ?? '-'} by ${state.updatedBy ?? '-'}\n${stringify(shown.settings)}${secretLines(shown.secrets)}`,
            );
          return EXIT.ok;
        }),
      );
    });

  settings
    .command('export')
    .description('write the settings as a file `settings import` reads (secrets left out unless --include-secrets)')
    .option('-o, --output <file>', 'write to this file (YAML, or JSON when it ends in .json) instead of stdout')
    .option('--include-secrets', 'include secret values in clear text (only into --output, created with mode 0600)')
    .action(async (local: { output?: string; includeSecrets?: boolean }, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          if (local.includeSecrets === true && local.output === undefined) {
            throw new DirbridgeError('usage.invalid', '--include-secrets writes secrets in clear text and needs --output FILE');
          }
          const state = app.settingsState();
          const document = local.includeSecrets === true ? editablePart(state.settings) : redactSettings(state.settings).settings;
          const asJson = local.output?.endsWith('.json') ?? options.json === true;
          const text = asJson ? `${JSON.stringify(document, null, 2)}\n` : `# dirbridge settings, version ${state.version}\n${stringify(document)}`;
          if (local.output === undefined) context.out.stdout(text);
          else {
            await writePrivateFile(local.output, text);
            context.out.stderr(
              `wrote settings version ${state.version} to ${local.output}${local.includeSecrets === true ? ' (with secrets)' : ' (secrets left out: import keeps the stored ones)'}\n`,
            );
          }
          return EXIT.ok;
        }),
      );
    });

  settings
    .command('import <file>')
    .description('replace the stored settings with a file (validated first; secrets the file leaves out are kept)')
    .option('--dry-run', 'validate and list what would change, save nothing')
    .option('--verify', 'when directory.* changes, connect and bind with the new settings first; refuse (exit 1, nothing saved) if they cannot')
    .action(async (file: string, local: { dryRun?: boolean; verify?: boolean }, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(
          options,
          async (app) => {
            const raw = await readSettingsDocument(file);
            const { store: ignoredStore, ...document } = isRecord(raw) ? raw : {};
            if (ignoredStore !== undefined)
              context.out.stderr(`note: the store section of ${file} is ignored (where the store is comes from --config and the environment)\n`);
            const before = app.settingsState();
            const isDryRun = local.dryRun === true;
            const result = await saveSettings(app, document, { expectedVersion: before.version, actor: 'cli', isDryRun, verify: local.verify === true });
            if (result.outcome === 'refused') {
              const message = `${verificationMessage(result.verification)}; fix ${file}, or import it without --verify to save anyway (e.g. during a planned outage)`;
              if (options.json === true)
                printJson(context.out, {
                  status: 'error',
                  error: { code: VERIFICATION_FAILED, message },
                  verification: result.verification,
                  previousVersion: before.version,
                  changed: result.changed,
                  isDryRun,
                });
              else context.out.stderr(`error [${VERIFICATION_FAILED}]: ${message}\n`);
              return EXIT.failed;
            }
            const summary = {
              version: result.state.version,
              previousVersion: before.version,
              changed: result.changed,
              isDryRun,
              ...(result.verification === undefined ? {} : { verification: result.verification }),
            };
            if (options.json === true) printJson(context.out, summary);
            else {
              if (result.verification !== undefined) context.out.stdout(`${verificationLine(result.verification)}\n`);
              if (result.changed.length === 0) context.out.stdout(`no changes: version ${before.version} already matches ${file}\n`);
              else context.out.stdout(`${isDryRun ? 'would change' : `saved version ${result.state.version}, changed`}: ${result.changed.join(', ')}\n`);
            }
            return EXIT.ok;
          },
          { seedFile: file },
        ),
      );
    });
}

function verificationLine(verification: Verification): string {
  if (verification.status === 'passed')
    return `verified: connected to ${verification.url} (${verification.security}) and bound as ${verification.bindDn ?? 'anonymous'}`;
  if (verification.status === 'skipped') return `not verified: ${verification.reason}`;
  return `verification failed: ${verification.error.message} (${verification.error.code})`;
}

function secretLines(secrets: Record<string, { isSet: boolean }>): string {
  return Object.entries(secrets)
    .map(([path, { isSet }]) => `# ${path}: ${isSet ? 'set (hidden)' : 'not set'}\n`)
    .join('');
}

/** Writes `text` to `file`, readable by its owner only, even when the file already existed with a wider mode. */
async function writePrivateFile(file: string, text: string): Promise<void> {
  const handle = await open(file, 'w', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
}
