/**
 * `dirbridge oidc`: the OpenID Connect provider's clients and signing keys. The command names and
 * options are fixed (scripts rely on them): `oidc clients add|list|remove|rotate-secret`,
 * `oidc keys rotate`. A client secret is printed once, when it is made; every change is audited.
 */
import type { Command } from 'commander';
import { createOidcClientService } from '../../oidc/clients.ts';
import { rotateSigningKey } from '../../oidc/signing-keys.ts';
import type { OidcClientRecord } from '../../store/oidc-repository.ts';
import { EXIT, formatTable, printJson } from '../output.ts';
import { type CommandContext, optionsOf } from '../program.ts';

/** The audit actor for commands an administrator runs at the shell. */
const CLI_ACTOR = 'admin:cli';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** A client as the CLI prints it. */
const clientJson = (client: OidcClientRecord) => ({
  clientId: client.id,
  name: client.name,
  public: client.isPublic,
  firstParty: client.isFirstParty,
  redirectUris: client.redirectUris,
  postLogoutRedirectUris: client.postLogoutRedirectUris,
  backchannelLogoutUri: client.backchannelLogoutUri,
  allowedGroups: client.allowedGroups,
  createdAt: client.createdAt,
  updatedAt: client.updatedAt,
});

/** Adds `oidc`. */
export function registerOidcCommands(program: Command, context: CommandContext): void {
  const { out } = context;
  const oidc = program.command('oidc').description('the OpenID Connect provider: clients (applications) and signing keys');
  const clients = oidc.command('clients').description('applications that sign users in through dirbridge');

  clients
    .command('add')
    .description('register an application; prints its client id and (unless --public) its secret, shown only this once')
    .requiredOption('--name <name>', 'the name users see on the sign-in and consent pages')
    .requiredOption('--redirect-uri <uri>', 'a redirect URI, matched exactly (repeat for more)', collect)
    .option('--public', 'a public client (a single-page or native app): no secret, PKCE with S256 required')
    .option('--first-party', 'skip the consent page (an application you run yourself)')
    .option('--post-logout-redirect-uri <uri>', 'where RP-initiated logout may return to (repeat for more)', collect)
    .option('--backchannel-logout-uri <uri>', 'where OpenID Back-Channel Logout tokens are posted')
    .option('--allowed-group <group>', 'only members of this group may sign in (repeat for more; default: every enabled user)', collect)
    .action(
      async (
        local: {
          name: string;
          redirectUri: string[];
          public?: boolean;
          firstParty?: boolean;
          postLogoutRedirectUri?: string[];
          backchannelLogoutUri?: string;
          allowedGroup?: string[];
        },
        command: Command,
      ) => {
        const options = optionsOf(command);
        context.setExit(
          await context.withApp(options, async (app) => {
            const { client, clientSecret } = await createOidcClientService({ store: app.store.oidc }).add(
              {
                name: local.name,
                redirectUris: local.redirectUri,
                isPublic: local.public === true,
                isFirstParty: local.firstParty === true,
                postLogoutRedirectUris: local.postLogoutRedirectUri ?? [],
                backchannelLogoutUri: local.backchannelLogoutUri,
                allowedGroups: local.allowedGroup ?? [],
              },
              CLI_ACTOR,
            );
            if (options.json === true) printJson(out, { clientId: client.id, ...(clientSecret === undefined ? {} : { clientSecret }) });
            else
              out.stdout(
                `client id: ${client.id}\n${clientSecret === undefined ? 'public client: no secret\n' : `client secret: ${clientSecret}\n(shown once; rotate it with \`dirbridge oidc clients rotate-secret ${client.id}\`)\n`}`,
              );
            return EXIT.ok;
          }),
        );
      },
    );

  clients
    .command('list')
    .description('list the registered applications (never their secrets)')
    .action(async (_local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const list = await app.store.oidc.listOidcClients();
          if (options.json === true) printJson(out, { clients: list.map(clientJson) });
          else
            out.stdout(
              formatTable(
                ['client id', 'name', 'type', 'redirect URIs', 'allowed groups'],
                list.map((c) => [c.id, c.name, c.isPublic ? 'public' : 'confidential', c.redirectUris.join(' '), c.allowedGroups.join(', ')]),
              ),
            );
          return EXIT.ok;
        }),
      );
    });

  clients
    .command('remove')
    .description('remove an application, with every code, token and grant issued to it')
    .argument('<id>', 'the client id')
    .action(async (id: string, _local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          await createOidcClientService({ store: app.store.oidc }).remove(id, CLI_ACTOR);
          if (options.json === true) printJson(out, { status: 'ok', clientId: id });
          else out.stdout(`removed client ${id}\n`);
          return EXIT.ok;
        }),
      );
    });

  clients
    .command('rotate-secret')
    .description("replace a confidential application's secret; prints the new one, shown only this once")
    .argument('<id>', 'the client id')
    .action(async (id: string, _local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const clientSecret = await createOidcClientService({ store: app.store.oidc }).rotateSecret(id, CLI_ACTOR);
          if (options.json === true) printJson(out, { clientId: id, clientSecret });
          else out.stdout(`client id: ${id}\nclient secret: ${clientSecret}\n(shown once)\n`);
          return EXIT.ok;
        }),
      );
    });

  oidc
    .command('keys')
    .description('signing keys')
    .command('rotate')
    .description('sign with a new key from now on; the previous key stays published until tokens signed with it have expired')
    .action(async (_local: unknown, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const kid = await rotateSigningKey(app.store.oidc, app.secretBox, app.now, { actor: CLI_ACTOR });
          if (options.json === true) printJson(out, { status: 'ok', kid });
          else out.stdout(`new signing key ${kid}; running servers switch to it within seconds\n`);
          return EXIT.ok;
        }),
      );
    });
}
