/** `dirbridge serve`: the HTTP API (and later the console) until interrupted. */
import type { Command } from 'commander';
import { DirbridgeError } from '../../errors.ts';
import { createHttpServer } from '../../http/server.ts';
import { EXIT } from '../output.ts';
import { optionsOf, type CommandContext } from '../program.ts';

/** Reads `--trust-proxy`: `true`, a hop count, or comma-separated addresses/CIDRs. */
function trustProxyOf(value: string | undefined): boolean | number | string[] | undefined {
  if (value === undefined) return undefined;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number.parseInt(value, 10);
  return value.split(',').map((part) => part.trim()).filter((part) => part !== '');
}

/** Adds `serve`. */
export function registerServeCommand(program: Command, context: CommandContext): void {
  program
    .command('serve')
    .description('run the HTTP API: app login and sessions, the change feed, the admin API, /healthz, /readyz, /metrics and /docs')
    .option('--port <n>', 'TCP port', '8080')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--trust-proxy <value>', 'believe X-Forwarded-* from these proxies: true, a hop count, or addresses/CIDRs (comma-separated)')
    .action(async (local: { port: string; host: string; trustProxy?: string }, command: Command) => {
      const options = optionsOf(command);
      context.setExit(
        await context.withApp(options, async (app) => {
          const port = Number(local.port);
          if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new DirbridgeError('usage.invalid', `--port must be an integer from 0 to 65535, not ${JSON.stringify(local.port)}`);
          const trustProxy = trustProxyOf(local.trustProxy);
          const appApiKey = process.env['DIRBRIDGE_APP_API_KEY'];
          const server = await createHttpServer(app, {
            logger: { level: process.env['DIRBRIDGE_LOG_LEVEL'] ?? 'info' },
            ...(trustProxy === undefined ? {} : { trustProxy }),
            ...(appApiKey === undefined ? {} : { appApiKey }),
          });
          try {
            const address = await server.listen({ port, host: local.host });
            context.out.stderr(`dirbridge listening on ${address} (API docs at ${address}/docs)\n`);
            await new Promise<void>((resolve) => {
              process.once('SIGINT', resolve);
              process.once('SIGTERM', resolve);
            });
          } finally {
            await server.close();
          }
          return EXIT.ok;
        }),
      );
    });
}
