/**
 * Job locks across instances: `pg_try_advisory_lock` on one dedicated connection held for the
 * scheduler's life (session locks belong to a connection, so a pool would not do). A lost
 * connection drops its locks on the server; the lock reconnects, marks the affected handles lost
 * and takes their locks again so the rest of a run still excludes other instances. When another
 * instance took one meanwhile, that lock is gone for good: this holder stops claiming it and
 * aborts its handle's `signal`, so the run under it stops; a later run takes it again as usual.
 * The session asks the server to probe for a vanished client after 30 s, so the locks of an
 * instance whose machine rebooted are freed within about a minute, not two hours.
 */
import pg from 'pg';
import { CLIENT_KEEPALIVE_DELAY_MS, detectDeadClients } from '../store/pg-session.ts';
import { type JobLock, type JobLockHandle, jobLockKey, type SchedulerLog, silentLog } from './job-lock.ts';

/** Options for `createPostgresJobLock`. */
export interface PostgresJobLockOptions {
  log?: SchedulerLog;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
  /** Wait between reconnection attempts while locks need restoring. */
  reconnectDelayMs?: number;
}

interface HeldLock {
  name: string;
  key: string;
  /** The connection the lock is held on, or null while it is not held. */
  holder: pg.Client | null;
  /** Set once the connection holding it was lost: exclusivity had a gap. */
  lost: boolean;
  released: boolean;
  /** Aborted when another holder took the lock while it was lost. */
  controller: AbortController;
}

/** Creates the PostgreSQL lock; it connects on first use. */
export function createPostgresJobLock(url: string, options: PostgresJobLockOptions = {}): JobLock {
  const log = options.log ?? silentLog;
  const reconnectDelayMs = options.reconnectDelayMs ?? 1_000;
  let client: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  let closed = false;
  let restoreTimer: NodeJS.Timeout | undefined;
  /** Failed reconnection attempts in a row (logged at the first and every 30th, not every second of an outage). */
  let restoreFailures = 0;
  const held = new Map<string, HeldLock>();
  const pending = new Set<string>();

  function connect(): Promise<pg.Client> {
    if (closed) return Promise.reject(new Error('the job lock is closed'));
    if (client !== null) return Promise.resolve(client);
    connecting ??= (async () => {
      const candidate = new pg.Client({
        connectionString: url,
        application_name: options.applicationName ?? 'dirbridge-scheduler',
        connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
        query_timeout: options.queryTimeoutMs ?? 10_000,
        keepAlive: true,
        keepAliveInitialDelayMillis: CLIENT_KEEPALIVE_DELAY_MS,
      });
      candidate.on('error', (error) => onLost(candidate, error));
      candidate.on('end', () => onLost(candidate, undefined));
      try {
        await candidate.connect();
        // The server notices within a minute when this instance vanishes (a reboot), and frees its locks.
        await detectDeadClients(candidate);
      } catch (error) {
        await candidate.end().catch(() => {});
        throw error;
      }
      if (closed) {
        await candidate.end().catch(() => {});
        throw new Error('the job lock is closed');
      }
      client = candidate;
      return candidate;
    })().finally(() => {
      connecting = null;
    });
    return connecting;
  }

  function onLost(lostClient: pg.Client, error: Error | undefined): void {
    if (lostClient !== client) return;
    client = null;
    const affected = [...held.values()].filter((lock) => lock.holder === lostClient);
    for (const lock of affected) {
      lock.holder = null;
      lock.lost = true;
    }
    if (closed) return;
    log.warn(
      { error: error?.message, locks: affected.map((lock) => lock.name) },
      affected.length === 0
        ? 'scheduler lock connection lost; reconnecting on next use'
        : 'scheduler lock connection lost while holding job locks; reconnecting to take them again',
    );
    if (affected.length > 0) scheduleRestore(0);
  }

  function scheduleRestore(delayMs: number): void {
    if (restoreTimer !== undefined || closed) return;
    restoreTimer = setTimeout(() => {
      restoreTimer = undefined;
      void restore();
    }, delayMs);
    restoreTimer.unref();
  }

  /** Takes again the locks of runs still going after their connection was lost. */
  async function restore(): Promise<void> {
    const waiting = () => [...held.values()].filter((lock) => lock.holder === null && !lock.released);
    if (waiting().length === 0 || closed) return;
    try {
      const connection = await connect();
      for (const lock of waiting()) {
        const result = await connection.query<{ locked: boolean }>('select pg_try_advisory_lock($1::bigint) as locked', [lock.key]);
        if (result.rows[0]?.locked === true) {
          if (lock.released) await connection.query('select pg_advisory_unlock($1::bigint)', [lock.key]);
          else lock.holder = connection;
          log.info({ job: lock.name }, 'scheduler lock taken again after reconnecting');
        } else {
          log.warn({ job: lock.name }, 'another instance took the job lock while the connection was down; the run holding it here is told to stop');
          if (held.get(lock.name) === lock) held.delete(lock.name);
          lock.released = true;
          lock.controller.abort(new Error(`the job lock "${lock.name}" was lost: its connection to PostgreSQL dropped and another instance took it`));
        }
      }
      restoreFailures = 0;
    } catch (error) {
      restoreFailures += 1;
      if (restoreFailures === 1 || restoreFailures % 30 === 0) {
        log.warn({ error: error instanceof Error ? error.message : String(error), attempts: restoreFailures }, 'scheduler lock reconnection failed; retrying');
      }
      scheduleRestore(reconnectDelayMs);
    }
  }

  return {
    kind: 'postgres',
    async tryAcquire(name) {
      if (held.has(name) || pending.has(name)) return null;
      pending.add(name);
      try {
        const key = jobLockKey(name);
        const connection = await connect();
        let locked: boolean;
        try {
          const result = await connection.query<{ locked: boolean }>('select pg_try_advisory_lock($1::bigint) as locked', [key]);
          locked = result.rows[0]?.locked === true;
        } catch (error) {
          // The answer is unknown (a timeout may have taken the lock after all): drop the session, and its locks with it.
          await connection.end().catch(() => {});
          throw error;
        }
        if (!locked) return null;
        const lock: HeldLock = { name, key, holder: connection, lost: false, released: false, controller: new AbortController() };
        held.set(name, lock);
        const handle: JobLockHandle = {
          isHeld: () => !lock.released && !lock.lost,
          signal: lock.controller.signal,
          release: async () => {
            if (lock.released) return;
            lock.released = true;
            if (held.get(name) === lock) held.delete(name);
            const holder = lock.holder;
            lock.holder = null;
            if (holder !== null && holder === client) {
              await holder.query('select pg_advisory_unlock($1::bigint)', [key]).catch((error: unknown) => {
                log.warn(
                  { job: name, error: error instanceof Error ? error.message : String(error) },
                  'could not release the job lock; ending the connection releases it',
                );
                void holder.end().catch(() => {});
              });
            }
          },
        };
        return handle;
      } finally {
        pending.delete(name);
      }
    },
    async close() {
      closed = true;
      if (restoreTimer !== undefined) clearTimeout(restoreTimer);
      held.clear();
      await connecting?.catch(() => {});
      const last = client;
      client = null;
      // Ending the session releases every advisory lock it holds.
      if (last !== null) await last.end().catch(() => {});
    },
  };
}
