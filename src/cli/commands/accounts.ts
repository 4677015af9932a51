/** Login, sessions, local accounts, administrator actions on accounts, the audit log, and auto logout. */
import type { Command } from 'commander';
import type { App } from '../../app.ts';
import { logoutDeactivatedUsers } from '../../auth/auto-logout.ts';
import { createLocalAccount } from '../../auth/local-accounts.ts';
import { revokeSessionsAsAdmin } from '../../auth/revoke-sessions.ts';
import { DirbridgeError } from '../../errors.ts';
import type { UserRecord } from '../../model/index.ts';
import { EXIT, formatTable, printJson } from '../output.ts';
import { type CommandContext, optionsOf } from '../program.ts';
import { readSecret } from '../read-secret.ts';

async function userByName(app: App, username: string): Promise<UserRecord> {
  const user = await app.store.users.findByUsername(username);
  if (user === undefined) throw new DirbridgeError('users.not_found', `no user named ${JSON.stringify(username)}`);
  return user;
}

/** The audit actor for commands an administrator runs at the shell. */
const CLI_ACTOR = 'admin:cli';

/** Adds the account commands. */
export function registerAccountCommands(program: Command, context: CommandContext): void {
  const { out } = context;

  program
    .command('login')
    .description('log in as a user (the password is read from stdin or a hidden prompt, never from an argument)')
    .argument('<username>', 'login name; on AD also user@domain or DOMAIN\\user')
    .action(async (username: string, _options: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const password = await readSecret(`password for ${username}: `);
          // The CLI runs on the server: no client address is counted (every CLI login would share one).
          const result = await app.login.login({ username, password, via: 'cli' });
          if (options.json === true)
            printJson(out, { status: 'ok', token: result.token, expiresAt: result.session.expiresAt, isNewUser: result.isNewUser, user: result.user });
          else
            out.stdout(
              `logged in as ${result.user.username}${result.isNewUser ? ' (account created)' : ''}\ntoken: ${result.token}\nexpires: ${result.session.expiresAt}\n`,
            );
          return EXIT.ok;
        }),
      );
    });

  const sessions = program.command('sessions').description('login sessions');
  sessions
    .command('list')
    .description('list sessions, newest first')
    .option('--user <username>', "only this user's sessions")
    .option('--all', 'include revoked and expired sessions')
    .option('--limit <n>', 'rows', '50')
    .action(async (local: { user?: string; all?: boolean; limit: string }, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const userId = local.user === undefined ? undefined : (await userByName(app, local.user)).id;
          const page = await app.store.sessions.list({
            limit: Number.parseInt(local.limit, 10) || 50,
            offset: 0,
            ...(userId === undefined ? {} : { userId }),
            ...(local.all === true ? {} : { isActive: true }),
          });
          if (options.json === true) printJson(out, page);
          else
            out.stdout(
              formatTable(
                ['id', 'user', 'created', 'expires', 'revoked', 'address'],
                page.sessions.map((s) => [
                  s.id,
                  s.username,
                  s.createdAt,
                  s.expiresAt,
                  s.revokedAt === null ? '' : `${s.revokedAt} (${s.revokedReason ?? ''})`,
                  s.clientAddress,
                ]),
              ),
            );
          return EXIT.ok;
        }),
      );
    });
  sessions
    .command('revoke')
    .description('revoke one session, or every session of a user')
    .argument('[id]', 'session id')
    .option('--user <username>', "revoke all of this user's sessions")
    .action(async (id: string | undefined, local: { user?: string }, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          if ((id === undefined) === (local.user === undefined)) throw new DirbridgeError('usage.invalid', 'give either a session id or --user');
          const target = id !== undefined ? { ids: [id] } : { userIds: [(await userByName(app, local.user ?? '')).id] };
          const revoked = await revokeSessionsAsAdmin(app.store, target, CLI_ACTOR, app.now);
          if (options.json === true) printJson(out, { revoked: revoked.map((session) => session.id) });
          else out.stdout(`revoked ${revoked.length} session(s)\n`);
          return EXIT.ok;
        }),
      );
    });

  const users = program.commands.find((candidate) => candidate.name() === 'users') ?? program.command('users').description('users in the store');
  users
    .command('create-local')
    .description('create a local account (password from stdin or a hidden prompt)')
    .argument('<username>')
    .option('--admin', 'make it an administrator')
    .option('--email <email>')
    .action(async (username: string, local: { admin?: boolean; email?: string }, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const password = await readSecret(`password for ${username}: `);
          const user = await createLocalAccount(app.store, { username, password, isAdmin: local.admin === true, email: local.email ?? null, actor: CLI_ACTOR });
          if (options.json === true) printJson(out, user);
          else out.stdout(`created local account ${user.username}${user.isAdmin ? ' (administrator)' : ''}\n`);
          return EXIT.ok;
        }),
      );
    });
  users
    .command('unthrottle')
    .description(
      "clear dirbridge's login throttle for one account: the failed attempts counted under its username, its directory account and the other names that account was tried by (audited as login.throttle_cleared)",
    )
    .argument('<username>')
    .addHelpText(
      'after',
      [
        '',
        "The directory's own failure counter is not cleared: dirbridge never writes to the directory. Where the",
        'directory counts failures itself (pwdFailureTime, badPwdCount, passwordRetryCount), logins stay refused',
        "until the directory's count allows another attempt (its failure count interval passes, or its",
        'administrator resets the count). A lockout in the directory is ended there, not here.',
        'Failures counted per client address are kept: they belong to the address, not to the account.',
      ].join('\n'),
    )
    .action(async (username: string, _local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const user = await userByName(app, username);
          const result = await app.accounts.unthrottle(user.id, CLI_ACTOR);
          if (options.json === true) printJson(out, { username: result.user.username, cleared: result.cleared, throttle: result.status });
          else {
            out.stdout(`cleared ${result.cleared} failed login attempt${result.cleared === 1 ? '' : 's'} of ${result.user.username}\n`);
            if (result.status.isThrottled) out.stdout(`still throttled: ${result.status.failures} failed attempts still count (attempts still running)\n`);
          }
          return EXIT.ok;
        }),
      );
    });

  program
    .command('audit')
    .description('the audit log')
    .command('list')
    .description('list audit entries, newest first')
    .option('--user <username>')
    .option('--action <action>', 'e.g. login.failed, user.disabled')
    .option('--limit <n>', 'rows', '50')
    .action(async (local: { user?: string; action?: string; limit: string }, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const userId = local.user === undefined ? undefined : (await userByName(app, local.user)).id;
          const page = await app.store.audit.list({
            limit: Number.parseInt(local.limit, 10) || 50,
            offset: 0,
            ...(userId === undefined ? {} : { userId }),
            ...(local.action === undefined ? {} : { action: local.action }),
          });
          if (options.json === true) printJson(out, page);
          else
            out.stdout(
              formatTable(
                ['at', 'actor', 'action', 'subject', 'reason'],
                page.entries.map((entry) => [entry.at, entry.actor, entry.action, entry.subject, entry.reason]),
              ),
            );
          return EXIT.ok;
        }),
      );
    });

  program
    .command('auto-logout')
    .description('revoke every session of a deactivated user now (run-jobs does it on autoLogout.schedule)')
    .action(async (_local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const revoked = await logoutDeactivatedUsers(app.store, app.now);
          if (options.json === true) printJson(out, { revoked });
          else out.stdout(`revoked ${revoked} session(s) of deactivated users\n`);
          return EXIT.ok;
        }),
      );
    });
}
