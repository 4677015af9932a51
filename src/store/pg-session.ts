/**
 * Settings every dirbridge session on PostgreSQL runs with, so that a client that vanished
 * without closing its connection (its machine rebooted, lost power or dropped off the network)
 * is noticed by the server within about a minute instead of the system default of two hours:
 * the session ends, its transaction rolls back, and the advisory locks it held (a job's run
 * lock) go with it, so another instance can sync. TCP keepalives are per session settings
 * (`SET`), sent after connecting rather than as startup options, which poolers may refuse.
 */
import type pg from 'pg';

/** TCP keepalive on the server's side of the session: first probe after 30 s idle, then 3 probes 10 s apart. */
export const DEAD_CLIENT_DETECTION_SQL = 'set tcp_keepalives_idle = 30; set tcp_keepalives_interval = 10; set tcp_keepalives_count = 3';

/** How long a client socket idles before its first keepalive probe (the server side is set above). */
export const CLIENT_KEEPALIVE_DELAY_MS = 10_000;

/** Applies the settings to a freshly connected client; a failure (a pooler refusing SET) only loses the faster detection. */
export async function detectDeadClients(client: Pick<pg.Client, 'query'>): Promise<void> {
  await client.query(DEAD_CLIENT_DETECTION_SQL).catch(() => {});
}
