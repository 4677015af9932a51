/**
 * The connection a content synchronisation runs on: a socket of our own (ldapts cannot parse the
 * IntermediateResponses it needs), opened with exactly the rules of connect.ts: the URLs in order
 * with failover only when a server cannot be reached, ldaps:// or StartTLS (never falling back to
 * plain text), the CA file, verification and server name of the TLS settings, the connect and
 * operation timeouts, and the service bind (`credentialsFor(settings, 'service')`, which refuses
 * empty passwords). The RootDSE is read after the bind, for the server type.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { DirbridgeError } from '../../errors.ts';
import type { DirectorySettings } from '../../settings/schema.ts';
import { type ConnectionSecurity, type Credentials, credentialsFor, openFirstReachable, tlsOptionsFor } from '../connect.ts';
import type { ServerType } from '../root-dse.ts';
import { type ErrorContext, translateLdapError } from '../translate-error.ts';
import { MessageChannel } from './message-channel.ts';
import { abandonRequest, simpleBindRequest, unbindRequest } from './requests.ts';
import { resultError } from './result-error.ts';
import { readServerType } from './server-type.ts';
import { connectSocket, startTls } from './socket-connect.ts';

/** An open, bound connection for one synchronisation search. */
export interface SyncConnection {
  readonly url: string;
  readonly security: ConnectionSecurity;
  /** From the RootDSE, read after the bind. */
  readonly serverType: ServerType;
  readonly channel: MessageChannel;
  /** The next message id to use. */
  nextMessageId(): number;
  /** Abandons `abandonId` (if given), unbinds and closes the socket; never throws; resolves once the socket is closed. */
  close(abandonId?: number): Promise<void>;
}

/** How long close() waits for the server to close its side after the unbind before destroying the socket. */
const CLOSE_GRACE_MS = 1000;

async function bind(channel: MessageChannel, url: string, settings: DirectorySettings, credentials: Credentials, messageId: number): Promise<void> {
  const context: ErrorContext = { operation: 'bind', url, bindDn: credentials.dn };
  channel.send(simpleBindRequest(messageId, credentials.dn, credentials.password));
  const response = await channel.receive({ timeoutMs: settings.operationTimeoutMs });
  if (response === 'aborted' || response.op.kind !== 'bindResponse') {
    throw new DirbridgeError('directory.protocol', `unexpected answer to a bind (${url})`, { details: { url } });
  }
  if (response.op.result.resultCode !== 0) throw resultError(response.op.result, context);
}

function waitClosed(socket: net.Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function openOne(
  url: string,
  settings: DirectorySettings,
  tlsOptions: tls.ConnectionOptions,
  credentials: Credentials | undefined,
): Promise<SyncConnection> {
  let messageId = 0;
  const nextMessageId = (): number => ++messageId;
  const isLdaps = url.toLowerCase().startsWith('ldaps://');
  let context: ErrorContext = { operation: 'connect', url };
  let socket: net.Socket | undefined;
  try {
    socket = await connectSocket(url, settings, tlsOptions);
    let channel = new MessageChannel(socket);
    let security: ConnectionSecurity = isLdaps ? 'ldaps' : 'plain';
    if (settings.startTls && !isLdaps) {
      context = { operation: 'starttls', url };
      socket = await startTls(channel, url, settings, tlsOptions, nextMessageId());
      channel = new MessageChannel(socket);
      security = 'starttls';
    }
    if (credentials !== undefined) {
      context = { operation: 'bind', url, bindDn: credentials.dn };
      await bind(channel, url, settings, credentials, nextMessageId());
    }
    context = { operation: 'rootdse', url };
    const serverType = await readServerType(channel, nextMessageId(), settings, url);
    socket.setKeepAlive(true, 30_000);
    socket.setNoDelay(true);
    const open = channel;
    const opened = socket;
    return {
      url,
      security,
      serverType,
      channel: open,
      nextMessageId,
      close: async (abandonId) => {
        try {
          if (open.isOpen) {
            if (abandonId !== undefined) open.send(abandonRequest(nextMessageId(), abandonId));
            open.send(unbindRequest(nextMessageId()));
            opened.end();
          }
        } catch {
          // closing after a failure: the socket is destroyed below either way
        }
        opened.resume();
        await waitClosed(opened);
      },
    };
  } catch (error) {
    socket?.destroy();
    const translated = translateLdapError(error, context);
    if (context.operation === 'starttls' && translated.code === 'directory.protocol') {
      throw new DirbridgeError('directory.tls_failure', `StartTLS failed (${url}): ${translated.message}`, { cause: error, details: translated.details });
    }
    throw translated;
  }
}

/** Opens and binds a synchronisation connection to the first reachable URL (service account). */
export async function openSyncConnection(settings: DirectorySettings): Promise<SyncConnection> {
  const credentials = credentialsFor(settings, 'service');
  const tlsOptions = await tlsOptionsFor(settings);
  return openFirstReachable(settings, (url) => openOne(url, settings, tlsOptions, credentials));
}
