/**
 * Prometheus metrics, in a registry created per server (never prom-client's global one, so two
 * servers in one process — as in tests — never share counters).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DirectoryObserver } from '../directory/timed.ts';
import type { Scheduler } from '../scheduler/scheduler.ts';
import type { Store } from '../store/store.ts';
import type { SyncResult } from '../sync/run-sync.ts';

/** The server's metrics and the hooks that feed them. */
export interface ServerMetrics {
  registry: Registry;
  /** Counts a finished sync run, whatever started it (labelled with its trigger). */
  observeSync(result: SyncResult): void;
  /** Counts a login by outcome (`succeeded`, `invalid_credentials`, `throttled`, `directory_unavailable`, `error`) and failure reason. */
  observeLogin(kind: 'app' | 'admin', outcome: string, reason: string | undefined, seconds: number): void;
  /** Times one HTTP request by route pattern. */
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void;
  /** Times one directory operation (sync reads page by page, login binds, Test Connection, ...). */
  observeDirectory: DirectoryObserver;
}

/**
 * Creates the registry and its metrics; the latest recorded run is read from the store, and the
 * scheduler's job counters from its status, at scrape time.
 */
export function createMetrics(deps: { store: Store; scheduler?: Pick<Scheduler, 'status'> }): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dirbridge_' });

  const syncRuns = new Counter({
    name: 'dirbridge_sync_runs_total',
    help: 'Sync runs this instance ran, by trigger (schedule, startup, api, cli, login), status and dry run',
    labelNames: ['trigger', 'status', 'dry_run'],
    registers: [registry],
  });
  const syncDuration = new Histogram({
    name: 'dirbridge_sync_duration_seconds',
    help: 'Duration of sync runs started through this server',
    labelNames: ['trigger', 'dry_run'],
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [registry],
  });
  const syncChanges = new Counter({
    name: 'dirbridge_sync_changes_total',
    help: 'Changes applied by sync runs this instance ran, by object and change',
    labelNames: ['object', 'change'],
    registers: [registry],
  });
  new Gauge({
    name: 'dirbridge_sync_last_run_info',
    help: 'The latest recorded sync run (any instance, CLI or scheduler): 1 labelled with its status',
    labelNames: ['status', 'trigger'],
    registers: [registry],
    async collect() {
      this.reset();
      const latest = await latestRun();
      if (latest !== undefined) this.set({ status: latest.status, trigger: latest.trigger }, 1);
    },
  });
  new Gauge({
    name: 'dirbridge_sync_last_run_duration_seconds',
    help: 'Duration of the latest finished sync run recorded in the store',
    registers: [registry],
    async collect() {
      this.reset();
      const latest = await latestRun();
      if (latest?.durationMs !== null && latest?.durationMs !== undefined) this.set(latest.durationMs / 1000);
    },
  });
  new Gauge({
    name: 'dirbridge_sync_last_run_timestamp_seconds',
    help: 'When the latest recorded sync run started',
    registers: [registry],
    async collect() {
      this.reset();
      const latest = await latestRun();
      if (latest !== undefined) this.set(Date.parse(latest.startedAt) / 1000);
    },
  });
  const logins = new Counter({
    name: 'dirbridge_logins_total',
    help: 'Logins through the API by kind (app or admin) and outcome',
    labelNames: ['kind', 'outcome'],
    registers: [registry],
  });
  const loginFailures = new Counter({
    name: 'dirbridge_login_failures_total',
    help: 'Failed logins by reason (the audited reason, never shown to clients)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const loginDuration = new Histogram({
    name: 'dirbridge_login_duration_seconds',
    help: 'Duration of login requests',
    labelNames: ['kind'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'dirbridge_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const directoryDuration = new Histogram({
    name: 'dirbridge_directory_operation_seconds',
    help: 'Directory operations of this instance (connect, search, search_page of a paged read, bind, verify of a login, and the writes add, modify, modify_dn, delete, exop), by operation and outcome',
    labelNames: ['operation', 'outcome'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const { scheduler } = deps;
  if (scheduler !== undefined) {
    new Counter({
      name: 'dirbridge_job_runs_total',
      help: 'Runs of the scheduled jobs on this instance (scheduled, startup and manual, Sync Now included), by job and outcome',
      labelNames: ['job', 'outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const job of scheduler.status()) {
          this.inc({ job: job.name, outcome: 'succeeded' }, job.runs - job.failures);
          this.inc({ job: job.name, outcome: 'failed' }, job.failures);
        }
      },
    });
    new Counter({
      name: 'dirbridge_job_skips_total',
      help: 'Due runs this instance skipped (already running, another instance holds the lock, lock unavailable, stopping), by job',
      labelNames: ['job'],
      registers: [registry],
      collect() {
        this.reset();
        for (const job of scheduler.status()) this.inc({ job: job.name }, job.skips);
      },
    });
    new Gauge({
      name: 'dirbridge_job_running',
      help: '1 while the job runs on this instance',
      labelNames: ['job'],
      registers: [registry],
      collect() {
        this.reset();
        for (const job of scheduler.status()) this.set({ job: job.name }, job.running ? 1 : 0);
      },
    });
    new Gauge({
      name: 'dirbridge_job_last_run_duration_seconds',
      help: "Duration of the job's latest finished run on this instance",
      labelNames: ['job'],
      registers: [registry],
      collect() {
        this.reset();
        for (const job of scheduler.status()) if (job.lastRun !== null) this.set({ job: job.name }, job.lastRun.durationMs / 1000);
      },
    });
  }

  // One store read per scrape, shared by the three gauges above.
  let cached: { at: number; run: Promise<Awaited<ReturnType<Store['runs']['list']>>['runs'][number] | undefined> } | undefined;
  function latestRun() {
    const now = Date.now();
    if (cached === undefined || now - cached.at > 1000) {
      cached = {
        at: now,
        run: deps.store.runs.list({ limit: 1, offset: 0 }).then(
          (page) => page.runs[0],
          () => undefined,
        ),
      };
    }
    return cached.run;
  }

  return {
    registry,
    observeSync(result) {
      const { trigger } = result;
      const dryRun = String(result.isDryRun);
      syncRuns.inc({ trigger, status: result.status, dry_run: dryRun });
      syncDuration.observe({ trigger, dry_run: dryRun }, result.durationMs / 1000);
      if (result.isDryRun || result.status !== 'succeeded') return;
      const objects = {
        users: result.users,
        groups: result.groups,
        memberships: result.memberships,
        roles: result.roles,
        channels: result.channels,
        teams: result.teams,
        attributes: result.attributes,
        sessions: result.sessions,
      };
      for (const [object, changes] of Object.entries(objects)) {
        for (const [change, value] of Object.entries(changes)) if (value > 0 && change !== 'unchanged') syncChanges.inc({ object, change }, value);
      }
    },
    observeLogin(kind, outcome, reason, seconds) {
      logins.inc({ kind, outcome });
      if (reason !== undefined) loginFailures.inc({ reason });
      loginDuration.observe({ kind }, seconds);
    },
    observeRequest(method, route, statusCode, seconds) {
      httpDuration.observe({ method, route, status_code: String(statusCode) }, seconds);
    },
    observeDirectory(operation, outcome, seconds) {
      directoryDuration.observe({ operation, outcome }, seconds);
    },
  };
}
