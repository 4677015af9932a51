/** The `dirbridge` command line: parses arguments, runs one command, returns its exit code. */
import { Command, CommanderError } from 'commander';
import { type App, openAppWith } from '../app.ts';
import { ensureInitialAdmin } from '../auth/local-accounts.ts';
import { isRecord, readSettingsDocument, readSettingsInput } from '../settings/load.ts';
import { reapInterruptedRuns } from '../sync/reap-runs.ts';
import { registerAccountCommands } from './commands/accounts.ts';
import { registerDirectoryCommands } from './commands/directory.ts';
import { registerJobCommands } from './commands/jobs.ts';
import { registerListCommands, registerMappingLists } from './commands/lists.ts';
import { registerOidcCommands } from './commands/oidc.ts';
import { registerRunJobsCommand } from './commands/run-jobs.ts';
import { registerServeCommand } from './commands/serve.ts';
import { registerSettingsCommands } from './commands/settings.ts';
import { registerSyncCommand } from './commands/sync.ts';
import { registerWriteActionCommands } from './commands/write-actions.ts';
import { registerOutboxCommands } from './commands/writeback.ts';
import { EXIT, type Output, reportError } from './output.ts';

/** Options every command accepts. */
export interface GlobalOptions {
  config?: string;
  json?: boolean;
}

/**
 * Runs a command body with the app opened from the settings, closing it on every path. `seedFile`
 * (`settings import FILE`) seeds an empty store, and stands in for a stored version the current
 * rules cannot load, so the import can replace it.
 */
export type WithApp = (options: GlobalOptions, body: (app: App) => Promise<number>, extra?: { seedFile?: string }) => Promise<number>;

/** Runs the CLI with the given arguments (without `node` and the script) and returns the exit code. */
export async function runCli(argv: readonly string[], out: Output, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let exitCode: number = EXIT.ok;
  const withApp: WithApp = async (options, body, extra = {}) => {
    try {
      // `settings import FILE` on an empty store seeds it with FILE when no --config is given.
      const file = options.config ?? extra.seedFile;
      const input = await readSettingsInput({ ...(file === undefined ? {} : { file }), env });
      const replacement = extra.seedFile === undefined ? undefined : withoutStore(await readSettingsDocument(extra.seedFile));
      const app = await openAppWith(input.store, input.seed, { env, ...(replacement === undefined ? {} : { replaceInvalidStored: () => replacement }) });
      const { problems, version } = app.settingsState();
      if (problems.length > 0) {
        out.stderr(
          `warning: the stored settings (version ${version}) hold values the current rules refuse:\n  ${problems.join('\n  ')}\n` +
            'Save the settings again (the console, or `dirbridge settings import FILE`) to fix them.\n',
        );
      }
      if (app.settingsDrift.length > 0 && extra.seedFile === undefined) {
        out.stderr(
          `warning: the stored settings (version ${app.settingsState().version}) are in force; ${input.origin} differs at ${app.settingsDrift.join(', ')}. ` +
            `Run \`dirbridge settings import FILE\` to replace the stored settings.\n`,
        );
      }
      try {
        await reportInterruptedRuns(app, out);
        const admin = await ensureInitialAdmin(app.store, env);
        if (admin.created && admin.generatedPassword !== undefined) {
          out.stderr(
            `created the administrator account "${admin.user.username}" with password ${admin.generatedPassword}\n(shown once; set DIRBRIDGE_ADMIN_PASSWORD to choose it instead)\n`,
          );
        }
        return await body(app);
      } finally {
        await app.close();
      }
    } catch (error) {
      return reportError(out, error, options.json === true);
    }
  };
  const setExit = (code: number) => {
    exitCode = code;
  };

  const program = new Command('dirbridge')
    .description('LDAP and Active Directory integration server')
    .option('-c, --config <file>', 'settings file (YAML or JSON); DIRBRIDGE_* variables override single values')
    .option('--json', 'print machine-readable JSON')
    .exitOverride()
    .configureOutput({ writeOut: out.stdout, writeErr: out.stderr })
    .showHelpAfterError();
  registerDirectoryCommands(program, { out, withApp, setExit });
  registerSyncCommand(program, { out, withApp, setExit });
  registerListCommands(program, { out, withApp, setExit });
  registerAccountCommands(program, { out, withApp, setExit });
  registerMappingLists(program, { out, withApp, setExit });
  registerJobCommands(program, { out, withApp, setExit });
  registerRunJobsCommand(program, { out, withApp, setExit });
  registerServeCommand(program, { out, withApp, setExit });
  registerSettingsCommands(program, { out, withApp, setExit });
  registerOidcCommands(program, { out, withApp, setExit });
  registerWriteActionCommands(program, { out, withApp, setExit });
  registerOutboxCommands(program, { out, withApp, setExit });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportError(out, error, false);
  }
  return exitCode;
}

/**
 * Records the runs whose process is gone as interrupted, as every command starts (`serve` and
 * `run-jobs` go on checking periodically), and says so on stderr. Best effort: a store that
 * cannot write now (a full disk) still serves the command, and the next start tries again.
 */
async function reportInterruptedRuns(app: App, out: Output): Promise<void> {
  try {
    for (const run of await reapInterruptedRuns(app.store, app.instanceId)) {
      out.stderr(
        `warning: sync run ${run.id} (started ${run.startedAt} by ${run.owner ?? 'an earlier version'}) was left running by a process that is gone; recorded as failed (interrupted)\n`,
      );
    }
  } catch (error) {
    out.stderr(`warning: could not check for interrupted sync runs: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

/** A settings file's document without its `store` section (which the store's location alone uses). */
function withoutStore(document: unknown): unknown {
  if (!isRecord(document)) return document;
  const { store: _store, ...rest } = document;
  return rest;
}

/** What each command module receives. */
export interface CommandContext {
  out: Output;
  withApp: WithApp;
  setExit: (code: number) => void;
}

/** The global options merged with a command's own. */
export function optionsOf(command: Command): GlobalOptions {
  const options = command.optsWithGlobals<GlobalOptions>();
  return options;
}
