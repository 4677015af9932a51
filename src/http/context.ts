/** What every route module receives from `createHttpServer`. */
import type { App } from '../app.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { LogBuffer } from './log-buffer.ts';
import type { ServerMetrics } from './metrics.ts';

/** What the routes use of the scheduler: its status and manual runs. */
export type RouteScheduler = Pick<Scheduler, 'status' | 'runNow'>;

/** The server's collaborators, built once per server. */
export interface RouteContext {
  app: App;
  metrics: ServerMetrics;
  /** The static key applications present for the events feed, if configured. */
  appApiKey: string | undefined;
  /** How old an audit entry must be before the change feed shows it (`events.ts`). */
  eventsSettleMs: number;
  /** How long `/readyz` waits for the store: a hung store is not ready, and the probe must not hang with it. */
  readyTimeoutMs: number;
  /** Per-address limit on the admin sign-in route (on top of the app's own login throttle). */
  adminLoginRateLimit: { max: number; timeWindowMs: number };
  /** The server's job scheduler (`dirbridge serve`); absent, Sync Now calls `app.sync` directly and the jobs list is empty. */
  scheduler?: RouteScheduler;
  /** This instance's recent log lines (absent when logging is off). */
  logBuffer?: LogBuffer;
}
