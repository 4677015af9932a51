/** `users list`, `groups list` and `runs list`: read what the store holds. */
import { type Command, Option } from 'commander';
import { DirbridgeError } from '../../errors.ts';
import { type RecordSource, USER_STATES, type UserState } from '../../model/index.ts';
import { EXIT, formatTable, printJson } from '../output.ts';
import { type CommandContext, optionsOf } from '../program.ts';

interface PageOptions {
  limit: string;
  offset: string;
  search?: string;
}

function pageOf(options: PageOptions): { limit: number; offset: number } {
  return { limit: Math.max(1, Number.parseInt(options.limit, 10) || 50), offset: Math.max(0, Number.parseInt(options.offset, 10) || 0) };
}

/** Adds the list commands. */
export function registerListCommands(program: Command, context: CommandContext): void {
  const withPaging = (command: Command) => command.option('--limit <n>', 'rows per page', '50').option('--offset <n>', 'rows to skip', '0');

  withPaging(program.command('users').description('users in the store').command('list').description('list users'))
    .option('--search <text>', 'match username, email or name')
    .addOption(new Option('--source <source>', 'local or directory accounts only').choices(['local', 'directory']))
    .addOption(new Option('--state <state>', 'active (enabled) or disabled accounts only, whoever disabled them').choices(USER_STATES))
    .action(async (local: PageOptions & { source?: RecordSource; state?: UserState }, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const page = await app.store.users.list({
            ...pageOf(local),
            ...(local.search === undefined ? {} : { search: local.search }),
            ...(local.source === undefined ? {} : { source: local.source }),
            ...(local.state === undefined ? {} : { state: local.state }),
          });
          if (options.json === true) printJson(context.out, page);
          else {
            context.out.stdout(
              formatTable(
                ['username', 'email', 'name', 'source', 'state', 'dn'],
                page.users.map((user) => [
                  user.username,
                  user.email,
                  user.displayName ?? `${user.firstName} ${user.lastName}`.trim(),
                  user.source,
                  user.isEnabled ? 'active' : `disabled by ${user.disabledBy ?? 'unknown'}`,
                  user.dn,
                ]),
              ),
            );
            context.out.stdout(`${page.users.length} of ${page.total} users\n`);
          }
          return EXIT.ok;
        }),
      );
    });

  withPaging(program.command('groups').description('groups in the store').command('list').description('list groups'))
    .option('--search <text>', 'match the group name')
    .action(async (local: PageOptions, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const page = await app.store.groups.list({ ...pageOf(local), ...(local.search === undefined ? {} : { search: local.search }) });
          if (options.json === true) printJson(context.out, page);
          else {
            context.out.stdout(
              formatTable(
                ['name', 'members', 'source', 'dn'],
                page.groups.map((group) => [group.name, group.memberCount, group.source, group.dn]),
              ),
            );
            context.out.stdout(`${page.groups.length} of ${page.total} groups\n`);
          }
          return EXIT.ok;
        }),
      );
    });

  withPaging(program.command('runs').description('recorded sync runs').command('list').description('list sync runs, newest first')).action(
    async (local: PageOptions, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const page = await app.store.runs.list(pageOf(local));
          if (options.json === true) printJson(context.out, page);
          else {
            context.out.stdout(
              formatTable(
                ['started', 'trigger', 'dry', 'status', 'ms', 'counts', 'reason'],
                page.runs.map((run) => [
                  run.startedAt,
                  run.trigger,
                  run.isDryRun ? 'yes' : '',
                  run.status,
                  run.durationMs,
                  compactCounts(run.counts),
                  run.reason ?? run.errorMessage,
                ]),
              ),
            );
          }
          return EXIT.ok;
        }),
      );
    },
  );
}

/** Adds `users show`, `roles list`, `channels list` and `teams list`. */
export function registerMappingLists(program: Command, context: CommandContext): void {
  const users = program.commands.find((candidate) => candidate.name() === 'users') ?? program.command('users');
  users
    .command('show')
    .description('one user with groups, roles, channels, teams, custom fields and ABAC attributes')
    .argument('<username>')
    .action(async (username: string, _local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const user = await app.store.users.findByUsername(username);
          if (user === undefined) throw new DirbridgeError('users.not_found', `no user named ${JSON.stringify(username)}`);
          const attributes = await app.store.mapping.getUserAttributes(user.id);
          const detail = {
            user,
            groups: (await app.store.groups.listOfUser(user.id)).map((group) => group.name),
            roles: await app.store.mapping.listUserRoles(user.id),
            channels: (await app.store.mapping.listUserChannels(user.id)).map((channel) => channel.name),
            teams: (await app.store.mapping.listUserTeams(user.id)).map((team) => team.name),
            customFields: attributes.customFields,
            abacAttributes: attributes.abacAttributes,
          };
          if (options.json === true) printJson(context.out, detail);
          else {
            const line = (name: string, value: unknown) =>
              context.out.stdout(`${name.padEnd(15)} ${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
            line('username', user.username);
            line('source', user.source);
            line('state', user.isEnabled ? 'active' : `disabled by ${user.disabledBy ?? 'unknown'}: ${user.disabledReason ?? ''}`);
            line('admin', String(user.isAdmin));
            for (const key of ['groups', 'roles', 'channels', 'teams', 'customFields', 'abacAttributes'] as const) line(key, detail[key]);
          }
          return EXIT.ok;
        }),
      );
    });

  program
    .command('roles')
    .description('roles granted by mapping')
    .command('list')
    .action(async (_local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const roles = await app.store.mapping.listRoles();
          if (options.json === true) printJson(context.out, { roles });
          else
            context.out.stdout(
              formatTable(
                ['role', 'users'],
                roles.map((role) => [role.role, role.userCount]),
              ),
            );
          return EXIT.ok;
        }),
      );
    });

  for (const kind of ['channels', 'teams'] as const) {
    program
      .command(kind)
      .description(`${kind} created and filled by mapping`)
      .command('list')
      .option('--search <text>')
      .option('--limit <n>', 'rows', '50')
      .action(async (local: { search?: string; limit: string }, command: Command) => {
        const options = optionsOf(command);
        context.setExit(
          await context.withApp(options, async (app) => {
            const query = { limit: Number.parseInt(local.limit, 10) || 50, offset: 0, ...(local.search === undefined ? {} : { search: local.search }) };
            if (kind === 'channels') {
              const page = await app.store.mapping.listChannels(query);
              if (options.json === true) printJson(context.out, page);
              else
                context.out.stdout(
                  formatTable(
                    ['channel', 'members', 'owner', 'source'],
                    page.channels.map((channel) => [`#${channel.name}`, channel.memberCount, channel.ownerUsername, channel.source]),
                  ),
                );
            } else {
              const page = await app.store.mapping.listTeams(query);
              if (options.json === true) printJson(context.out, page);
              else
                context.out.stdout(
                  formatTable(
                    ['team', 'members', 'source'],
                    page.teams.map((team) => [team.name, team.memberCount, team.source]),
                  ),
                );
            }
            return EXIT.ok;
          }),
        );
      });
  }
}

/** `{"users.created":3,"users.updated":0,…}` → `users created 3; memberships added 12`: non-zero counts only. */
function compactCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, value]) => value !== 0)
    .map(([name, value]) => `${name.replace('.', ' ')} ${value}`);
  return parts.join('; ') || 'no changes';
}
