/**
 * Administrators' changes to users and groups (issue #10's fixed names, so scripts can rely on
 * them): `users create|update|rename|move|disable|enable|delete|set-password` and
 * `groups create|rename|delete|add-member|remove-member`. Each goes through the write-back
 * service: written to the directory in writable mode, else kept in dirbridge, and says which.
 * All take `--json` and `--dry-run`; a write the directory refused exits 1.
 */
import type { Command } from 'commander';
import type { WriteActionResult } from '../../writeback/apply-write-plan.ts';
import { EXIT, formatTable, printJson } from '../output.ts';
import { type CommandContext, optionsOf } from '../program.ts';
import { readSecret } from '../read-secret.ts';

/** The audit actor for commands an administrator runs at the shell. */
const CLI_ACTOR = 'admin:cli';

type ResultWithRecord = WriteActionResult & { user?: unknown; group?: unknown };

function printResult(context: CommandContext, result: ResultWithRecord, asJson: boolean): number {
  const { out } = context;
  if (asJson) printJson(out, result);
  else {
    out.stdout(`${result.action}: ${result.message}\n`);
    if (result.steps.length > 0) {
      out.stdout(
        formatTable(
          ['status', 'step', 'subject', 'dn', 'reason'],
          result.steps.map((step) => [
            step.status,
            step.kind,
            step.subject,
            step.dn,
            step.error === undefined ? step.reason : `${step.reason} (${step.error.code}: ${step.error.message})`,
          ]),
        ),
      );
    }
    for (const conflict of result.conflicts) {
      out.stdout(
        `conflict: ${conflict.subject} ${conflict.field}: the directory holds ${JSON.stringify(conflict.directoryValue)}, dirbridge ${JSON.stringify(conflict.dirbridgeValue)}; ${conflict.winner} wins (writeBack.authority)\n`,
      );
    }
  }
  return result.outcome === 'failed' ? EXIT.failed : EXIT.ok;
}

function subcommand(program: Command, name: string, description: string): Command {
  return program.commands.find((candidate) => candidate.name() === name) ?? program.command(name).description(description);
}

/** Reads a password only when one is piped (a terminal is never prompted: creating a user without one is allowed). */
async function pipedPassword(): Promise<string | undefined> {
  if (process.stdin.isTTY === true) return undefined;
  const password = await readSecret('');
  return password === '' ? undefined : password;
}

/** Adds the user and group change commands. */
export function registerWriteActionCommands(program: Command, context: CommandContext): void {
  const run = (command: Command, work: (app: Parameters<Parameters<CommandContext['withApp']>[1]>[0], isDryRun: boolean) => Promise<ResultWithRecord>) => {
    const options = optionsOf(command);
    const isDryRun = (command.opts() as { dryRun?: boolean }).dryRun === true;
    return context.withApp(options, async (app) => printResult(context, await work(app, isDryRun), options.json === true));
  };
  const users = subcommand(program, 'users', 'users in the store');
  const groups = subcommand(program, 'groups', 'groups in the store');
  const actor = { actor: CLI_ACTOR };

  users
    .command('create')
    .description('create a user: in the directory in writable write-back mode, else a local account (a password is read from stdin when one is piped)')
    .argument('<name>', 'username')
    .option('--email <email>')
    .option('--first-name <name>')
    .option('--last-name <name>')
    .option('--display-name <name>')
    .option('--group <group>', 'add to this group (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--dry-run', 'show the plan, change nothing')
    .action(
      async (name: string, local: { email?: string; firstName?: string; lastName?: string; displayName?: string; group?: string[] }, command: Command) => {
        context.setExit(
          await run(command, async (app, isDryRun) => {
            const password = await pipedPassword();
            return app.writeBack.users.create(
              {
                username: name,
                ...(local.email === undefined ? {} : { email: local.email }),
                ...(local.firstName === undefined ? {} : { firstName: local.firstName }),
                ...(local.lastName === undefined ? {} : { lastName: local.lastName }),
                ...(local.displayName === undefined ? {} : { displayName: local.displayName }),
                groups: local.group ?? [],
                ...(password === undefined ? {} : { password }),
              },
              { ...actor, isDryRun },
            );
          }),
        );
      },
    );

  users
    .command('update')
    .description("change a user's profile fields (written back in writable mode)")
    .argument('<name>', 'username')
    .option('--email <email>', 'new email ("" clears it)')
    .option('--first-name <name>')
    .option('--last-name <name>')
    .option('--display-name <name>', 'new display name ("" clears it)')
    .option('--dry-run', 'show the plan, change nothing')
    .action(async (name: string, local: { email?: string; firstName?: string; lastName?: string; displayName?: string }, command: Command) => {
      context.setExit(
        await run(command, (app, isDryRun) =>
          app.writeBack.users.update(
            name,
            {
              ...(local.email === undefined ? {} : { email: local.email === '' ? null : local.email }),
              ...(local.firstName === undefined ? {} : { firstName: local.firstName }),
              ...(local.lastName === undefined ? {} : { lastName: local.lastName }),
              ...(local.displayName === undefined ? {} : { displayName: local.displayName === '' ? null : local.displayName }),
            },
            { ...actor, isDryRun },
          ),
        ),
      );
    });

  users
    .command('rename')
    .description('rename a user (a modify DN and the username attributes in writable mode)')
    .argument('<name>')
    .argument('<new-name>')
    .option('--dry-run', 'show the plan, change nothing')
    .action(async (name: string, newName: string, _local: unknown, command: Command) => {
      context.setExit(await run(command, (app, isDryRun) => app.writeBack.users.rename(name, newName, { ...actor, isDryRun })));
    });

  users
    .command('move')
    .description("move a directory user's entry under another parent DN (writable mode)")
    .argument('<name>')
    .argument('<parent-dn>')
    .option('--dry-run', 'show the plan, change nothing')
    .action(async (name: string, parent: string, _local: unknown, command: Command) => {
      context.setExit(await run(command, (app, isDryRun) => app.writeBack.users.move(name, parent, { ...actor, isDryRun })));
    });

  for (const [name, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    users
      .command(name)
      .description(
        enabled
          ? 'enable an account (and its directory entry in writable mode)'
          : 'disable an account and end its sessions; sync never re-enables it (in writable mode the directory entry is disabled too, never deleted)',
      )
      .argument('<name>')
      .option('--reason <text>', 'why, for the audit log')
      .option('--dry-run', 'show the plan, change nothing')
      .action(async (username: string, local: { reason?: string }, command: Command) => {
        context.setExit(
          await run(command, (app, isDryRun) =>
            app.writeBack.users.setEnabled(username, enabled, { ...actor, isDryRun, ...(local.reason === undefined ? {} : { reason: local.reason }) }),
          ),
        );
      });
  }

  users
    .command('delete')
    .description('delete a user; in writable mode the directory entry follows writeBack.deletion.users (disable, delete or keep)')
    .argument('<name>')
    .option('--dry-run', 'show the plan, change nothing')
    .action(async (name: string, _local: unknown, command: Command) => {
      context.setExit(await run(command, (app, isDryRun) => app.writeBack.users.delete(name, { ...actor, isDryRun })));
    });

  users
    .command('set-password')
    .description(
      "set a user's password (read from stdin or a hidden prompt): in the directory for directory users (writable mode, writeBack.passwords), never stored by dirbridge",
    )
    .argument('<name>')
    .option('--dry-run', 'check that it would be written, change nothing')
    .action(async (name: string, _local: unknown, command: Command) => {
      context.setExit(
        await run(command, async (app, isDryRun) => {
          const password = await readSecret(`new password for ${name}: `);
          return app.writeBack.users.setPassword(name, password, { ...actor, isDryRun });
        }),
      );
    });

  groups
    .command('create')
    .description('create a group: in the directory in writable mode (with the placeholder member where the schema needs one), else a local group')
    .argument('<name>')
    .option('--dry-run', 'show the plan, change nothing')
    .action(async (name: string, _local: unknown, command: Command) => {
      context.setExit(await run(command, (app, isDryRun) => app.writeBack.groups.create(name, { ...actor, isDryRun })));
    });

  groups
    .command('rename')
    .description('rename a group (a modify DN in writable mode)')
    .argument('<name>')
    .argument('<new-name>')
    .option('--dry-run', 'show the plan, change nothing')
    .action(async (name: string, newName: string, _local: unknown, command: Command) => {
      context.setExit(await run(command, (app, isDryRun) => app.writeBack.groups.rename(name, newName, { ...actor, isDryRun })));
    });

  groups
    .command('delete')
    .description('delete a group; in writable mode the directory group follows writeBack.deletion.groups (keep or delete)')
    .argument('<name>')
    .option('--dry-run', 'show the plan, change nothing')
    .action(async (name: string, _local: unknown, command: Command) => {
      context.setExit(await run(command, (app, isDryRun) => app.writeBack.groups.delete(name, { ...actor, isDryRun })));
    });

  for (const [name, isMember] of [
    ['add-member', true],
    ['remove-member', false],
  ] as const) {
    groups
      .command(name)
      .description(
        isMember
          ? 'add a user to a group (one member value in the directory group, in writable mode)'
          : 'remove a user from a group (one member value; an empty group is kept)',
      )
      .argument('<group>')
      .argument('<user>')
      .option('--dry-run', 'show the plan, change nothing')
      .action(async (group: string, user: string, _local: unknown, command: Command) => {
        context.setExit(await run(command, (app, isDryRun) => app.writeBack.groups.setMember(group, user, isMember, { ...actor, isDryRun })));
      });
  }
}
