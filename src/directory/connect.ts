/**
 * Opening a directory connection: TLS (ldaps:// or StartTLS), failover across the configured URLs,
 * the service bind, and the RootDSE read. A connection is one ldapts client, i.e. one socket.
 *
 * Failover rule: only "could not reach it" (refused, DNS, unreachable, timeout) moves on to the next
 * URL. A TLS failure or rejected credentials is a configuration error and stops at once, and a
 * failed StartTLS never continues in plain text.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { Control } from 'ldapts';
import { Client } from 'ldapts';
import { withDeadline } from '../deadline.ts';
import { DirbridgeError } from '../errors.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import type { DirectorySettings } from '../settings/schema.ts';
import type { Modification } from './modifications.ts';
import { ROOT_DSE_ATTRIBUTES, type RootDse, rootDseFromEntry } from './root-dse.ts';
import { type SearchContext, type SearchRequest, searchAll, searchPages, searchWithControls } from './search.ts';
import { type ErrorContext, translateLdapError } from './translate-error.ts';
import {
  addEntry,
  deleteEntry,
  type ExtendedResult,
  extendedOperation,
  modifyEntry,
  modifyEntryDn,
  type NewEntryAttributes,
  type NewName,
  type WriteOptions,
} from './write.ts';

/** How the connection is protected. */
export type ConnectionSecurity = 'ldaps' | 'starttls' | 'plain';

/** An open connection to one directory server. Close it on every path (`await using` works). */
export interface DirectoryConnection {
  /** The URL actually connected (after failover). */
  readonly url: string;
  readonly security: ConnectionSecurity;
  /** The RootDSE as read when the connection opened. */
  readonly rootDse: RootDse;
  /** Yields the matching entries page by page; throws typed errors mid-iteration, never ends early. */
  searchPages(request: SearchRequest): AsyncIterable<DirectoryEntry[]>;
  /** Collects a small search; throws `directory.size_limit` when more than `maxEntries` match. */
  searchAll(request: SearchRequest & { maxEntries: number }): Promise<DirectoryEntry[]>;
  /**
   * One unpaged search with request controls (such as DirSync); the server's response controls are
   * decoded into the given control objects of the same OID. Ranged attributes are returned as sent.
   */
  searchWithControls(request: SearchRequest & { maxEntries?: number }, controls: readonly Control[]): Promise<DirectoryEntry[]>;
  /** Re-binds this connection as `dn` (its identity changes; a failed bind leaves it anonymous). Refuses empty passwords locally. */
  bind(dn: string, password: string): Promise<void>;
  /** Unbinds and closes the socket; safe to call more than once. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A connection that may also write. Opened with `openWritableDirectory`, so that code that only
 * reads never holds one. Failures are typed (`directory.*`); see write.ts.
 */
export interface WritableDirectoryConnection extends DirectoryConnection {
  add(dn: string, attributes: NewEntryAttributes, options?: WriteOptions): Promise<void>;
  /** Least change: pass add/delete of single values (modifications.ts), `replace` only where meant. */
  modify(dn: string, changes: readonly Modification[], options?: WriteOptions): Promise<void>;
  /** Renames and/or moves; resolves to the new DN. */
  modifyDn(dn: string, to: NewName, options?: WriteOptions): Promise<string>;
  delete(dn: string, options?: WriteOptions): Promise<void>;
  extendedOperation(oid: string, value?: Buffer, options?: WriteOptions & { dn?: string }): Promise<ExtendedResult>;
}

/** Whom to bind as when opening: the configured service account (default), nobody, or given credentials. */
export type BindAs = { dn: string; password: string } | 'anonymous' | 'service';

/** Options for `openDirectory`. */
export interface OpenDirectoryOptions {
  bindAs?: BindAs;
}

/** A DN and password for a simple bind. */
export interface Credentials {
  dn: string;
  password: string;
}

/** Refuses credentials that would make an unauthenticated ("anonymous") simple bind succeed. */
export function checkCredentials(dn: string, password: string): Credentials {
  if (dn.trim() === '') {
    throw new DirbridgeError('directory.invalid_credentials', 'refusing to bind with an empty DN (the server would treat it as anonymous)');
  }
  if (password.trim() === '') {
    throw new DirbridgeError(
      'directory.invalid_credentials',
      'refusing to bind with an empty password (the server would treat it as an unauthenticated bind)',
      {
        details: { bindDn: dn },
      },
    );
  }
  return { dn, password };
}

/** The credentials `bindAs` stands for (undefined: no bind at all); refuses empty DNs and passwords. */
export function credentialsFor(settings: DirectorySettings, bindAs: BindAs): Credentials | undefined {
  if (bindAs === 'anonymous') return undefined;
  if (bindAs === 'service') {
    if (settings.bindDn === undefined) return undefined;
    return checkCredentials(settings.bindDn, settings.bindPassword ?? '');
  }
  return checkCredentials(bindAs.dn, bindAs.password);
}

/** The TLS options the settings ask for (CA file read, verification, server name); shared with the content-sync reader. */
export async function tlsOptionsFor(settings: DirectorySettings): Promise<tls.ConnectionOptions> {
  const options: tls.ConnectionOptions = { rejectUnauthorized: settings.tls.rejectUnauthorized };
  if (settings.tls.serverName !== undefined) options.servername = settings.tls.serverName;
  if (settings.tls.caFile !== undefined) {
    try {
      options.ca = [await readFile(settings.tls.caFile)];
    } catch (error) {
      throw new DirbridgeError('directory.tls_failure', `cannot read the CA file ${settings.tls.caFile}`, {
        cause: error,
        details: { caFile: settings.tls.caFile },
      });
    }
  }
  return options;
}

/** The host of an LDAP URL, without IPv6 brackets. */
export function hostOf(url: string): string {
  const host = new URL(url).hostname;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

async function closeQuietly(client: Client): Promise<void> {
  try {
    await client.unbind();
  } catch {
    // closing after a failure: the socket is destroyed either way
  }
}

/** A connected (TLS'd, bound as asked) raw ldapts client. The caller owns it and must close it. */
export interface OpenedClient {
  client: Client;
  /** The URL actually connected (after failover). */
  url: string;
  security: ConnectionSecurity;
  rootDse: RootDse;
  /**
   * False once the socket is gone. Use this, not `client.isConnected`: after StartTLS, ldapts keeps
   * its close listeners on the plain socket underneath and never notices the TLS socket closing, so
   * `isConnected` stays true and every request on the dead connection waits for the timeout.
   */
  isAlive(): boolean;
  /** Unbinds (when alive) and closes the socket; never throws, never waits on a dead socket. */
  close(): Promise<void>;
}

/**
 * `tls.connect` that reports the socket it creates. ldapts calls `createSecureConnection` with one
 * options object to upgrade a StartTLS connection (and with a port and host for ldaps://, where this
 * is not used).
 */
function recordingTlsConnect(record: (socket: tls.TLSSocket) => void): typeof tls.connect {
  function connect(options: tls.ConnectionOptions, secureConnectListener?: () => void): tls.TLSSocket;
  function connect(port: number, host?: string, options?: tls.ConnectionOptions, secureConnectListener?: () => void): tls.TLSSocket;
  function connect(port: number, options?: tls.ConnectionOptions, secureConnectListener?: () => void): tls.TLSSocket;
  function connect(first: tls.ConnectionOptions | number, ...rest: unknown[]): tls.TLSSocket {
    if (typeof first === 'number' || rest.length > 0) throw new Error('unexpected tls.connect call (StartTLS upgrades pass one options object)');
    const socket = tls.connect(first);
    record(socket);
    return socket;
  }
  return connect;
}

async function openOne(
  url: string,
  settings: DirectorySettings,
  tlsOptions: tls.ConnectionOptions,
  credentials: Credentials | undefined,
): Promise<OpenedClient> {
  const isLdaps = url.toLowerCase().startsWith('ldaps://');
  // ldapts switches to TLS-on-connect whenever tlsOptions is non-empty, even for ldap:// URLs, so
  // pass them only for ldaps:// and hand them to startTLS() otherwise.
  let upgradedSocketClosed = false;
  const recordUpgradedSocket = (socket: tls.TLSSocket): void => {
    socket.once('close', () => {
      upgradedSocketClosed = true;
    });
  };
  const client = new Client({
    url,
    timeout: settings.operationTimeoutMs,
    connectTimeout: settings.connectTimeoutMs,
    ...(isLdaps ? { tlsOptions } : { createSecureConnection: recordingTlsConnect(recordUpgradedSocket) }),
  });
  const isAlive = (): boolean => client.isConnected && !upgradedSocketClosed;
  let context: ErrorContext = { operation: 'connect', url };
  try {
    let security: ConnectionSecurity = isLdaps ? 'ldaps' : 'plain';
    if (settings.startTls && !isLdaps) {
      context = { operation: 'starttls', url };
      const host = hostOf(url);
      const startTlsOptions: tls.ConnectionOptions = { ...tlsOptions, host };
      if (startTlsOptions.servername === undefined && net.isIP(host) === 0) startTlsOptions.servername = host;
      // ldapts bounds the StartTLS request but not the handshake that follows it.
      // The error reads like ldapts's own timeouts, so it is translated the same way.
      await withDeadline(client.startTLS(startTlsOptions), settings.connectTimeoutMs + settings.operationTimeoutMs, () => {
        void closeQuietly(client);
        return new Error('StartTLS: Operation timed out');
      });
      security = 'starttls';
    }
    if (credentials !== undefined) {
      context = { operation: 'bind', url, bindDn: credentials.dn };
      await client.bind(credentials.dn, credentials.password);
    }
    context = { operation: 'rootdse', url };
    const rootDse = await readRootDse(client, url);
    return {
      client,
      url,
      security,
      rootDse,
      isAlive,
      // A dead StartTLS client would wait the whole operation timeout for its unbind to be answered.
      close: async () => (isAlive() ? closeQuietly(client) : undefined),
    };
  } catch (error) {
    await closeQuietly(client);
    const translated = translateLdapError(error, context);
    // Anything that fails during StartTLS, other than not reaching the server, is a TLS failure.
    if (context.operation === 'starttls' && translated.code === 'directory.protocol') {
      throw new DirbridgeError('directory.tls_failure', `StartTLS failed (${url}): ${translated.message}`, { cause: error, details: translated.details });
    }
    throw translated;
  }
}

async function readRootDse(client: Client, url: string): Promise<RootDse> {
  const context: SearchContext = { client, url, pageSize: 1, supportsPaging: false, assertUsable: () => undefined, operation: 'rootdse' };
  try {
    const [entry] = await searchAll(context, { baseDn: '', scope: 'base', filter: '(objectClass=*)', attributes: [...ROOT_DSE_ATTRIBUTES], maxEntries: 1 });
    return rootDseFromEntry(entry);
  } catch (error) {
    // Some servers hide the RootDSE from some identities; that is no reason to refuse to work.
    if (error instanceof DirbridgeError && (error.code === 'directory.insufficient_access' || error.code === 'directory.no_such_object')) {
      return rootDseFromEntry(undefined);
    }
    throw error;
  }
}

/** True for a failure that moves failover on to the next URL (could not reach the server). */
export function isUnreachable(error: DirbridgeError): boolean {
  return error.code === 'directory.unavailable' || error.code === 'directory.timeout';
}

function createConnection(opened: OpenedClient, url: string, settings: DirectorySettings): WritableDirectoryConnection {
  const { client } = opened;
  let closed = false;
  const assertUsable = (): void => {
    if (closed) throw new DirbridgeError('directory.unavailable', 'the directory connection is closed', { details: { url } });
    if (!opened.isAlive()) {
      throw new DirbridgeError('directory.unavailable', 'the directory connection was lost; open a new one', { details: { url } });
    }
  };
  const context: SearchContext = {
    client,
    url,
    pageSize: settings.pageSize,
    supportsPaging: opened.rootDse.supportsPaging,
    assertUsable,
    knownBases: new Set(),
  };
  const writeContext = { client, url, assertUsable };
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await opened.close();
  };
  return {
    url,
    security: opened.security,
    rootDse: opened.rootDse,
    searchPages: (request) => searchPages(context, request),
    searchAll: (request) => searchAll(context, request),
    searchWithControls: (request, controls) => searchWithControls(context, request, controls),
    async bind(dn: string, password: string): Promise<void> {
      const credentials = checkCredentials(dn, password);
      try {
        assertUsable();
        await client.bind(credentials.dn, credentials.password);
      } catch (error) {
        throw translateLdapError(error, { operation: 'bind', url, bindDn: dn });
      }
    },
    add: (dn, attributes, options) => addEntry(writeContext, dn, attributes, options),
    modify: (dn, changes, options) => modifyEntry(writeContext, dn, changes, options),
    modifyDn: (dn, to, options) => modifyEntryDn(writeContext, dn, to, options),
    delete: (dn, options) => deleteEntry(writeContext, dn, options),
    extendedOperation: (oid, value, options) => extendedOperation(writeContext, oid, value, options),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Opens a raw ldapts client with the same TLS, StartTLS, CA, failover and timeout rules as
 * `openDirectory`, bound as `bindAs` (nothing is bound for 'anonymous'), RootDSE read. For code in
 * src/directory that needs the bare client (the login pool); everything else uses `openDirectory`.
 * Beware: ldapts silently reconnects in plain text when an operation is started on a lost socket,
 * so check `client.isConnected` synchronously right before every request.
 */
export async function openClient(settings: DirectorySettings, bindAs: BindAs = 'service'): Promise<OpenedClient> {
  const credentials = credentialsFor(settings, bindAs);
  const tlsOptions = await tlsOptionsFor(settings);
  return openFirstReachable(settings, (url) => openOne(url, settings, tlsOptions, credentials));
}

/**
 * The failover rule for any kind of connection: tries `settings.urls` in order, moving on only
 * when a server cannot be reached; any other failure (TLS, credentials) stops at once.
 */
export async function openFirstReachable<T>(settings: Pick<DirectorySettings, 'urls'>, open: (url: string) => Promise<T>): Promise<T> {
  const failures: DirbridgeError[] = [];
  for (const url of settings.urls) {
    try {
      return await open(url);
    } catch (error) {
      const translated = translateLdapError(error, { operation: 'connect', url });
      if (!isUnreachable(translated)) throw translated;
      failures.push(translated);
    }
  }
  throw noServerReached(failures);
}

/** The error when every configured URL failed as unreachable, listing each attempt. */
export function noServerReached(failures: readonly DirbridgeError[]): DirbridgeError {
  return new DirbridgeError('directory.unavailable', `no directory server could be reached: ${failures.map((failure) => failure.message).join('; ')}`, {
    cause: new AggregateError(failures, 'every directory URL failed'),
    details: {
      attempts: failures.map((failure) => ({ url: failure.details['url'], code: failure.code, message: failure.message, reason: failure.details['reason'] })),
    },
  });
}

/**
 * Opens a connection to the first reachable server in `settings.urls`, sets up TLS, binds (the
 * service account unless told otherwise) and reads the RootDSE. Throws `directory.unavailable`
 * listing every URL's cause when none can be reached.
 */
export async function openDirectory(settings: DirectorySettings, options: OpenDirectoryOptions = {}): Promise<DirectoryConnection> {
  const opened = await openClient(settings, options.bindAs ?? 'service');
  return createConnection(opened, opened.url, settings);
}

/**
 * Like `openDirectory`, but the connection can also write (add, modify, modify DN, delete,
 * extended operations). Bind as an account with write rights (`bindAs`; default the service account).
 */
export async function openWritableDirectory(settings: DirectorySettings, options: OpenDirectoryOptions = {}): Promise<WritableDirectoryConnection> {
  const opened = await openClient(settings, options.bindAs ?? 'service');
  return createConnection(opened, opened.url, settings);
}
