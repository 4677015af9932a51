/** What every route module receives from `createHttpServer`. */
import type { App } from '../app.ts';
import type { DirectoryConnection } from '../directory/index.ts';
import type { ServerMetrics } from './metrics.ts';

/** The server's collaborators, built once per server. */
export interface RouteContext {
  app: App;
  metrics: ServerMetrics;
  /** Opens a service-bound directory connection whose operations are timed in the metrics. */
  openDirectory: () => Promise<DirectoryConnection>;
  /** The static key applications present for the events feed, if configured. */
  appApiKey: string | undefined;
  /** Per-address limit on the admin sign-in route (on top of the app's own login throttle). */
  adminLoginRateLimit: { max: number; timeWindowMs: number };
}
