/** `test-connection` and `search <username>`: the seeds' Test Connection and Test LDAP Search. */
import type { Command } from 'commander';
import type { App } from '../../app.ts';
import type { DirectoryEntry } from '../../ldap/entry.ts';
import { nameOfOid } from '../../ldap/known-oids.ts';
import { checkMappingKeys } from '../../sync/check-mapping-keys.ts';
import { findDirectoryUser } from '../../sync/find-directory-user.ts';
import { EXIT, formatTable, printJson } from '../output.ts';
import { optionsOf, type CommandContext } from '../program.ts';

/** Adds `test-connection` and `search`. */
export function registerDirectoryCommands(program: Command, context: CommandContext): void {
  program
    .command('test-connection')
    .description('connect, check TLS, bind as the service account and show what the server supports')
    .action(async (_options: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const report = await testConnection(app);
          if (options.json === true) {
            printJson(context.out, report);
          } else {
            const out = context.out.stdout;
            out(`connected to ${report.url} (${report.security})\n`);
            out(`server: ${report.serverType}${report.vendor === null ? '' : ` — ${report.vendor}`}\n`);
            out(`bind: ${report.bind.dn ?? 'anonymous'} — ${report.bind.result}\n`);
            out(`naming contexts: ${report.namingContexts.join('; ') || '(none)'}\n`);
            out(`supported controls:\n`);
            out(formatTable(['oid', 'name'], report.supportedControls.map((control) => [control.oid, control.name])));
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
          const directory = await app.openDirectory();
          try {
            const found = await findDirectoryUser(directory, app.settings, username);
            if (found === undefined) {
              if (options.json === true) printJson(context.out, { status: 'not_found', username });
              else context.out.stderr(`no directory user matches ${JSON.stringify(username)}\n`);
              return EXIT.failed;
            }
            if (options.json === true) {
              printJson(context.out, { status: 'found', entry: displayEntry(found.entry), user: found.user, groups: found.groups });
            } else {
              const out = context.out.stdout;
              out(`entry: ${found.entry.dn}\n`);
              for (const [name, values] of Object.entries(displayEntry(found.entry).attributes)) out(`  ${name}: ${values.join(' | ')}\n`);
              out(`mapped user:\n`);
              for (const [name, value] of Object.entries(found.user)) if (name !== 'dnKey') out(`  ${name}: ${value ?? ''}\n`);
              out(`groups (${found.groups.length}):\n`);
              for (const group of found.groups) out(`  ${group.name}${group.isNested ? ' (nested)' : ''} — ${group.dn}\n`);
            }
            return EXIT.ok;
          } finally {
            await directory.close();
          }
        }),
      );
    });
}

/** The Test Connection report. */
async function testConnection(app: App) {
  const directory = await app.openDirectory();
  try {
    const root = directory.rootDse;
    return {
      status: 'ok' as const,
      url: directory.url,
      security: directory.security,
      serverType: root.serverType,
      vendor: [root.vendorName, root.vendorVersion].filter((part) => part !== undefined).join(' ') || null,
      bind: { dn: app.settings.directory.bindDn ?? null, result: 'success' },
      namingContexts: root.namingContexts,
      supportsPaging: root.supportsPaging,
      supportedControls: root.supportedControls.map((oid) => ({ oid, name: nameOfOid(oid) ?? '' })),
      supportedExtensions: root.supportedExtensions.map((oid) => ({ oid, name: nameOfOid(oid) ?? '' })),
      warnings: await checkMappingKeys(directory, app.settings),
    };
  } finally {
    await directory.close();
  }
}

/** An entry for display: binary values summarised, never dumped. */
function displayEntry(entry: DirectoryEntry): { dn: string; attributes: Record<string, string[]> } {
  const attributes: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(entry.attributes)) {
    attributes[name] = values.map((value) => (typeof value === 'string' ? value : `<${value.length} bytes>`));
  }
  return { dn: entry.dn, attributes };
}
