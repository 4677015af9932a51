/**
 * The login pool: a bounded set of directory connections used only to verify user passwords with
 * simple binds. RFC 4511 makes a bind wait for every other operation on its connection, so logins
 * never share the sync connection, and one socket per login would exhaust the server; hence a pool.
 *
 * Rules:
 * - never more than `size` connections (opening, idle, in use, resetting or closing all count);
 *   extra callers wait in a FIFO queue, and give up with `directory.timeout` after `acquireTimeoutMs`;
 * - after every user bind, successful or not, the connection's identity is reset before anyone
 *   else gets it: re-bound as the service account, or, when there is none, with an anonymous bind
 *   (empty DN and password; RFC 4513 §5.1.1 defines it as the way to return a connection to the
 *   anonymous state). Re-binding costs one round trip; replacing would cost a TCP (+TLS) handshake,
 *   a bind and a RootDSE read. A reset that fails in any way destroys the connection instead, and a
 *   replacement is opened lazily by the next caller. The anonymous reset is internal: `verify()`
 *   refuses empty DNs and passwords, so an anonymous bind can never pass as a login;
 * - ldapts silently reconnects, in plain text and unauthenticated, when a request is started on a
 *   lost socket, and after StartTLS it does not even notice the socket is lost; every request here
 *   is preceded, synchronously, by connect.ts's `isAlive()` check, and a lost connection is
 *   destroyed, never reused;
 * - OpenLDAP answers a bind to a locked account with plain invalidCredentials (49). Each user bind
 *   carries the Password Policy request control, and the response control (decoded here) tells a
 *   locked account apart: `details.ppolicyLocked`. Servers without ppolicy ignore the (non-critical)
 *   control and `ppolicyLocked` stays undefined.
 * Passwords are never logged or put into errors or details.
 */
import type { Client } from 'ldapts';
import { DirbridgeError } from '../errors.ts';
import type { DirectorySettings } from '../settings/schema.ts';
import { type BindAs, type Credentials, checkCredentials, credentialsFor, type OpenedClient, openClient } from './connect.ts';
import { PasswordPolicyControl } from './controls/password-policy.ts';
import { translateLdapError } from './translate-error.ts';

export { decodePasswordPolicyResponse, PASSWORD_POLICY_OID, type PasswordPolicyError } from './controls/password-policy.ts';

/** A bounded pool of connections used only for password verification. */
export interface BindPool {
  /**
   * Verifies dn+password with a simple bind on a pooled connection. Resolves on success; throws
   * `directory.invalid_credentials` on a rejected bind (`details.adCode`, `details.diagnostic`,
   * `details.ppolicyLocked` / `details.ppolicyError` when known), `directory.unavailable`,
   * `directory.timeout` or `directory.tls_failure` on faults. An empty DN or an empty or
   * whitespace-only password is refused without contacting the server.
   */
  verify(dn: string, password: string): Promise<void>;
  /**
   * Diagnostics: takes a pooled connection (waiting like a login would) and returns the server's
   * "Who am I?" answer (RFC 4532) for its current identity, e.g. `dn:cn=reader,...` or `''` for
   * anonymous. Never binds. Lets health checks and tests see that no user identity is left behind.
   */
  whoAmI(): Promise<string>;
  /** Connection counts: `open` = every connection counted against the size (`idle` + `busy`). */
  stats(): BindPoolStats;
  /** Rejects waiting callers, lets in-flight binds finish, closes every connection. Idempotent. */
  close(): Promise<void>;
}

/** See {@link BindPool.stats}. */
export interface BindPoolStats {
  open: number;
  idle: number;
  /** Opening, verifying, resetting or closing. */
  busy: number;
  waiting: number;
  /** Connections opened successfully since the pool was created. */
  created: number;
  /** Connections closed since the pool was created. */
  destroyed: number;
}

/** Options of {@link createBindPool}. */
export interface BindPoolOptions {
  /** Most connections open at once (default 8). */
  size?: number;
  /** How long a caller waits for a free connection before `directory.timeout` (default: settings.operationTimeoutMs). */
  acquireTimeoutMs?: number;
  /** Idle connections are closed after this long (default 120 000 ms; AD drops idle connections after 900 s). */
  idleTimeoutMs?: number;
}

export const DEFAULT_BIND_POOL_SIZE = 8;
const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
const WHO_AM_I_OID = '1.3.6.1.4.1.4203.1.11.3';

// ---------------------------------------------------------------------------------------------
// The pool

interface Slot {
  readonly client: Client;
  readonly url: string;
  /** Liveness and closing from connect.ts (ldapts's `isConnected` lies after StartTLS). */
  readonly opened: OpenedClient;
  idleTimer: NodeJS.Timeout | undefined;
}

type Grant = { kind: 'slot'; slot: Slot } | { kind: 'open' };

interface Waiter {
  resolve: (grant: Grant) => void;
  reject: (error: DirbridgeError) => void;
  timer: NodeJS.Timeout;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new DirbridgeError('usage.invalid', `${name} must be a positive integer, got ${value}`);
  return value;
}

/** Adds ppolicy and diagnostic details to a rejected user bind. */
function userBindFailure(error: unknown, url: string, dn: string, control: PasswordPolicyControl): DirbridgeError {
  const translated = translateLdapError(error, { operation: 'bind', url, bindDn: dn });
  if (translated.code !== 'directory.invalid_credentials') return translated;
  const details: Record<string, unknown> = { ...translated.details };
  if (typeof details['diagnosticMessage'] === 'string') details['diagnostic'] = details['diagnosticMessage'];
  let message = translated.message;
  const policy = control.response;
  if (policy !== undefined) {
    details['ppolicyLocked'] = policy.error === 'accountLocked';
    if (policy.error !== undefined) {
      details['ppolicyError'] = policy.error;
      message += ` (password policy: ${policy.error})`;
    }
  }
  return new DirbridgeError('directory.invalid_credentials', message, { cause: error, details });
}

/** A lost or never-established connection (ldapts would silently reconnect it in plain text). */
function lostConnection(url: string): DirbridgeError {
  return new DirbridgeError('directory.unavailable', `the login connection to ${url} was lost`, { details: { url, reason: 'connection_lost' } });
}

/**
 * Creates the login pool. Connections are opened lazily (the first `verify()` opens the first one),
 * with `openDirectory`'s TLS, StartTLS, CA, failover and timeout rules, bound as the service account
 * when one is configured.
 */
export function createBindPool(settings: DirectorySettings, options: BindPoolOptions = {}): BindPool {
  const size = positiveInteger('size', options.size, DEFAULT_BIND_POOL_SIZE);
  const acquireTimeoutMs = positiveInteger('acquireTimeoutMs', options.acquireTimeoutMs, settings.operationTimeoutMs);
  const idleTimeoutMs = positiveInteger('idleTimeoutMs', options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS);
  const bindAs: BindAs = settings.bindDn === undefined ? 'anonymous' : 'service';
  // Validated once, up front: a bindDn with an empty password must fail here, not on the first login.
  const service: Credentials | undefined = credentialsFor(settings, bindAs);

  const idle: Slot[] = [];
  const waiters: Waiter[] = [];
  const background = new Set<Promise<void>>();
  let opening = 0;
  let inUse = 0;
  let closing = 0;
  let created = 0;
  let destroyed = 0;
  let closed = false;
  let closePromise: Promise<void> | undefined;

  const used = (): number => opening + inUse + closing + idle.length;
  const closedError = (): DirbridgeError => new DirbridgeError('directory.unavailable', 'the login pool is closed', { details: { reason: 'pool_closed' } });

  const track = (task: Promise<void>): void => {
    background.add(task);
    void task.finally(() => background.delete(task));
  };
  /** Runs a caller's operation so that close() waits for it. */
  const tracked = <T>(run: () => Promise<T>): Promise<T> => {
    const task = run();
    track(
      task.then(
        () => undefined,
        () => undefined,
      ),
    );
    return task;
  };

  /** Hands freed capacity to waiters, oldest first: each gets the right to open a connection. */
  const dispatch = (): void => {
    while (waiters.length > 0 && used() < size) {
      const waiter = waiters.shift();
      if (waiter === undefined) break;
      clearTimeout(waiter.timer);
      opening += 1;
      waiter.resolve({ kind: 'open' });
    }
  };

  /** Closes a connection that is no longer counted as idle or in use; its capacity frees when the socket is gone. */
  const destroy = (slot: Slot): void => {
    clearTimeout(slot.idleTimer);
    closing += 1;
    track(
      slot.opened.close().finally(() => {
        closing -= 1;
        destroyed += 1;
        dispatch();
      }),
    );
  };

  /** Returns an in-use connection (identity already reset) to the next waiter or the idle stack. */
  const release = (slot: Slot): void => {
    inUse -= 1;
    if (closed || !slot.opened.isAlive()) {
      destroy(slot);
      return;
    }
    const waiter = waiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      inUse += 1;
      waiter.resolve({ kind: 'slot', slot });
      return;
    }
    slot.idleTimer = setTimeout(() => {
      const index = idle.indexOf(slot);
      if (index === -1) return;
      idle.splice(index, 1);
      destroy(slot);
    }, idleTimeoutMs);
    slot.idleTimer.unref();
    idle.push(slot);
  };

  /** Opens a connection for a caller that holds an `opening` reservation. */
  const openSlot = async (): Promise<Slot> => {
    let opened;
    try {
      opened = await openClient(settings, bindAs);
    } catch (error) {
      opening -= 1;
      dispatch();
      if (error instanceof DirbridgeError && error.code === 'directory.invalid_credentials') {
        // The service account was rejected: a configuration fault, never a verdict on the user's password.
        throw new DirbridgeError('directory.unavailable', 'the login pool cannot open a connection: the service account bind was rejected', {
          cause: error,
          details: { ...error.details, reason: 'service_bind_rejected' },
        });
      }
      throw error;
    }
    opening -= 1;
    created += 1;
    inUse += 1;
    const slot: Slot = { client: opened.client, url: opened.url, opened, idleTimer: undefined };
    if (closed) {
      inUse -= 1;
      destroy(slot);
      throw closedError();
    }
    return slot;
  };

  /** Takes a live idle connection, opens one, or waits in line. The result counts as in use. */
  const acquire = async (): Promise<Slot> => {
    if (closed) throw closedError();
    for (let slot = idle.pop(); slot !== undefined; slot = idle.pop()) {
      clearTimeout(slot.idleTimer);
      if (slot.opened.isAlive()) {
        inUse += 1;
        return slot;
      }
      destroy(slot); // lost while idle (server restart, idle disconnect): replace lazily
    }
    if (used() < size) {
      opening += 1;
      return openSlot();
    }
    const grant = await new Promise<Grant>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const index = waiters.indexOf(waiter);
          if (index !== -1) waiters.splice(index, 1);
          reject(
            new DirbridgeError('directory.timeout', `no login connection became free within ${acquireTimeoutMs} ms (pool size ${size})`, {
              details: { acquireTimeoutMs, size, reason: 'pool_exhausted' },
            }),
          );
        }, acquireTimeoutMs),
      };
      waiters.push(waiter);
    });
    return grant.kind === 'slot' ? grant.slot : openSlot();
  };

  /** Takes a connection and checks, synchronously before use, that its socket is still there. */
  const acquireLive = async (): Promise<Slot> => {
    for (let attempt = 0; ; attempt += 1) {
      const slot = await acquire();
      if (slot.opened.isAlive()) return slot;
      inUse -= 1;
      destroy(slot);
      if (attempt >= 2) throw lostConnection(slot.url);
    }
  };

  /** Resets the identity after a user bind (service or anonymous re-bind), or destroys the connection. */
  const resetAndRelease = async (slot: Slot): Promise<void> => {
    try {
      if (!slot.opened.isAlive()) throw lostConnection(slot.url);
      if (service === undefined) await slot.client.bind('', '');
      else await slot.client.bind(service.dn, service.password);
    } catch {
      inUse -= 1;
      destroy(slot);
      return;
    }
    release(slot);
  };

  const verify = async (dn: string, password: string): Promise<void> => {
    checkCredentials(dn, password); // refuses empty DNs and passwords locally
    const slot = await acquireLive();
    const control = new PasswordPolicyControl();
    let failure: DirbridgeError | undefined;
    try {
      if (!slot.opened.isAlive()) throw lostConnection(slot.url);
      await slot.client.bind(dn, password, control);
    } catch (error) {
      failure = userBindFailure(error, slot.url, dn, control);
    }
    // The caller gets the verdict now; the identity reset runs before the connection is reused.
    track(resetAndRelease(slot));
    if (failure !== undefined) throw failure;
  };

  const whoAmI = async (): Promise<string> => {
    const slot = await acquireLive();
    try {
      if (!slot.opened.isAlive()) throw lostConnection(slot.url);
      const result = await slot.client.exop(WHO_AM_I_OID);
      return result.value ?? '';
    } catch (error) {
      throw translateLdapError(error, { operation: 'exop', url: slot.url });
    } finally {
      release(slot);
    }
  };

  const close = (): Promise<void> => {
    closePromise ??= (async () => {
      closed = true;
      for (const waiter of waiters.splice(0)) {
        clearTimeout(waiter.timer);
        waiter.reject(closedError());
      }
      for (const slot of idle.splice(0)) destroy(slot);
      while (background.size > 0) await Promise.allSettled([...background]);
    })();
    return closePromise;
  };

  return {
    verify: (dn, password) => tracked(() => verify(dn, password)),
    whoAmI: () => tracked(whoAmI),
    stats: () => {
      const open = used();
      return { open, idle: idle.length, busy: open - idle.length, waiting: waiters.length, created, destroyed };
    },
    close,
  };
}
