/**
 * Opening the socket of a content synchronisation: TCP, TLS for ldaps://, or the StartTLS upgrade,
 * each bounded by the settings' timeouts, with connect.ts's TLS options. Errors are raw (socket,
 * TLS, "Connection timeout"); the caller translates them as connect.ts does.
 */
import net from 'node:net';
import tls from 'node:tls';
import { DirbridgeError } from '../../errors.ts';
import type { DirectorySettings } from '../../settings/schema.ts';
import { hostOf } from '../connect.ts';
import type { ErrorContext } from '../translate-error.ts';
import type { MessageChannel } from './message-channel.ts';
import { startTlsRequest } from './requests.ts';
import { resultError } from './result-error.ts';

/** Resolves with `socket` once it emits `ready`; destroys it and rejects on an error or after `timeoutMs`. */
function settle<T extends net.Socket>(socket: T, ready: 'connect' | 'secureConnect', timeoutMs: number, timeoutMessage: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(timeoutMessage));
    }, timeoutMs);
    const onError = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.once('error', onError);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** TLS options for `host`: SNI and certificate name checks use the host name unless settings name a server. */
function withServerName(options: tls.ConnectionOptions, host: string): tls.ConnectionOptions {
  return options.servername === undefined && net.isIP(host) === 0 ? { ...options, servername: host } : options;
}

function defaultPort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'ldaps:' ? 636 : 389;
}

/** Connects (TCP, plus TLS for ldaps://) within the connect timeout. */
export function connectSocket(url: string, settings: DirectorySettings, tlsOptions: tls.ConnectionOptions): Promise<net.Socket> {
  const parsed = new URL(url);
  const host = hostOf(url);
  const port = defaultPort(parsed);
  if (parsed.protocol === 'ldaps:')
    return settle(tls.connect({ ...withServerName(tlsOptions, host), host, port }), 'secureConnect', settings.connectTimeoutMs, 'Connection timeout');
  return settle(net.connect({ host, port }), 'connect', settings.connectTimeoutMs, 'Connection timeout');
}

/** Upgrades a plain socket with StartTLS; failures other than not reaching the server are TLS failures. */
export async function startTls(
  channel: MessageChannel,
  url: string,
  settings: DirectorySettings,
  tlsOptions: tls.ConnectionOptions,
  messageId: number,
): Promise<net.Socket> {
  const context: ErrorContext = { operation: 'starttls', url };
  channel.send(startTlsRequest(messageId));
  const response = await channel.receive({ timeoutMs: settings.operationTimeoutMs });
  if (response === 'aborted' || response.op.kind !== 'extendedResponse') {
    throw new DirbridgeError('directory.tls_failure', `StartTLS failed (${url}): unexpected answer`, { details: { url } });
  }
  if (response.op.result.resultCode !== 0) throw resultError(response.op.result, context);
  channel.detach();
  // Bounded like connect.ts bounds ldapts's StartTLS, whose handshake has no timeout of its own.
  const secure = tls.connect({ ...withServerName(tlsOptions, hostOf(url)), socket: channel.socket });
  return settle(secure, 'secureConnect', settings.connectTimeoutMs + settings.operationTimeoutMs, 'StartTLS: Operation timed out');
}
