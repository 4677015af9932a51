/** `test-connection` and `search <username>`: the seeds' Test Connection and Test LDAP Search. */
import type { Command } from 'commander';
import { testConnection, writeAccessProbeFor } from '../../sync/test-connection.ts';
import { testSearch } from '../../sync/test-search.ts';
import { EXIT, formatTable, printJson } from '../output.ts';
import { type CommandContext, optionsOf } from '../program.ts';

/** Adds `test-connection` and `search`. */
export function registerDirectoryCommands(program: Command, context: CommandContext): void {
  program
    .command('test-connection')
    .description(
      'connect, check TLS, bind as the service account and show what the server supports (and, when the write-back writes, whether the account may write to its DNs)',
    )
    .action(async (_options: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const report = await testConnection({
            openDirectory: () => app.openDirectory(),
            settings: app.settings,
            writeAccess: writeAccessProbeFor(app.settings, () => app.openWritableDirectory()),
          });
          if (options.json === true) {
            printJson(context.out, report);
          } else {
            const out = context.out.stdout;
            out(`connected to ${report.url} (${report.security})\n`);
            out(`server: ${report.serverType}${report.vendor === null ? '' : ` — ${report.vendor}`}\n`);
            out(`users keyed by: ${report.uniqueIdAttribute}\n`);
            out(`bind: ${report.bind.dn ?? 'anonymous'} — ${report.bind.result}\n`);
            out(`naming contexts: ${report.namingContexts.join('; ') || '(none)'}\n`);
            out(`supported controls:\n`);
            out(
              formatTable(
                ['oid', 'name'],
                report.supportedControls.map((control) => [control.oid, control.name]),
              ),
            );
            if (report.writeAccess !== undefined) {
              out(`write access:\n`);
              for (const [setting, access] of Object.entries(report.writeAccess)) {
                const verdict = access.writable === true ? 'writable' : access.writable === false ? 'not writable' : 'unknown';
                out(`  writeBack.${setting}: ${verdict} — ${access.dn}\n`);
              }
            }
            for (const warning of report.warnings) context.out.stderr(`warning: ${warning}\n`);
          }
          return EXIT.ok;
        }),
      );
    });

  program
    .command('search')
    .description('find one user the way login does and show the entry, the mapped user and its groups')
    .argument('<username>', 'the username to look up')
    .action(async (username: string, _options: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const report = await testSearch(app, username);
          if (options.json !== true) for (const warning of report.warnings) context.out.stderr(`warning: ${warning}\n`);
          if (report.status === 'not_found') {
            if (options.json === true) printJson(context.out, report);
            else context.out.stderr(`no directory user matches ${JSON.stringify(username)}\n`);
            return EXIT.failed;
          }
          if (options.json === true) {
            printJson(context.out, report);
          } else {
            const out = context.out.stdout;
            out(`entry: ${report.entry.dn}\n`);
            for (const [name, values] of Object.entries(report.entry.attributes)) out(`  ${name}: ${values.join(' | ')}\n`);
            out(`mapped user:\n`);
            for (const [name, value] of Object.entries(report.user)) if (name !== 'dnKey') out(`  ${name}: ${value ?? ''}\n`);
            out(`groups (${report.groups.length}):\n`);
            for (const group of report.groups) out(`  ${group.name}${group.isNested ? ' (nested)' : ''} — ${group.dn}\n`);
          }
          return EXIT.ok;
        }),
      );
    });
}
