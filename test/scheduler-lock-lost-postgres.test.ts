/**
 * A run lock whose PostgreSQL session ends while another instance takes the lock: the holder
 * learns it (the handle's signal, and the job's `context.signal`, abort with the reason), stops
 * claiming the lock, and takes it again later like any other run. Uses the shared test server
 * (only one backend is terminated, the server is not stopped). Fails (never skips) when CI is
 * set and PostgreSQL is down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { jobLockKey, silentLog } from '../src/scheduler/job-lock.ts';
import { createPostgresJobLock } from '../src/scheduler/postgres-lock.ts';
import { createScheduler } from '../src/scheduler/scheduler.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { until } from './helpers/wait.ts';

const problem = await postgresProblem();

describe('a job lock lost to another instance', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, () => {
  let database: { url: string; drop: () => Promise<void> };

  before(async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    database = await createTestDatabase();
  });

  after(async () => {
    await database?.drop();
  });

  it('tells the run under it to stop, gives the lock up, and lets a later run take it again', async () => {
    const lock = createPostgresJobLock(database.url, { applicationName: 'dirbridge-test-lost', reconnectDelayMs: 100 });
    const other = new pg.Client({ connectionString: database.url });
    await other.connect();
    let stopReason: unknown;
    let runs = 0;
    const scheduler = createScheduler({
      jobs: [
        {
          name: 'background-sync',
          schedule: null,
          run: async ({ signal }) => {
            runs += 1;
            if (runs > 1) return 'second run';
            // Works until told to stop, as a sync checks its signal before each write.
            await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
            stopReason = signal.reason;
            throw signal.reason;
          },
        },
      ],
      lock,
      log: silentLog,
    });
    try {
      const first = scheduler.runNow('background-sync');
      await until(
        async () =>
          (
            await other.query<{ n: string }>(
              "select count(*) as n from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())",
            )
          ).rows[0]?.n === '1'
            ? true
            : undefined,
        10_000,
        'the run lock to be held',
      );
      // End the holder's session and take the lock at once, as another instance's tick would.
      await other.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'dirbridge-test-lost' and datname = current_database()",
      );
      await other.query('select pg_advisory_lock($1::bigint)', [jobLockKey('background-sync')]);

      const outcome = await first;
      assert.equal(outcome.ran, true);
      assert.ok(outcome.ran && outcome.run.outcome === 'failed');
      assert.ok(outcome.ran && outcome.run.lockHeldThroughout === false);
      assert.match(
        stopReason instanceof Error ? stopReason.message : '',
        /job lock "background-sync" was lost: its connection to PostgreSQL dropped and another instance took it/,
      );

      // Not claimed here any more: while the other instance holds it, a run here is refused by the database, not by a stale claim.
      assert.deepEqual(await scheduler.runNow('background-sync'), { ran: false, reason: 'locked' });
      await other.query('select pg_advisory_unlock($1::bigint)', [jobLockKey('background-sync')]);
      const later = await scheduler.runNow('background-sync');
      assert.ok(later.ran && later.run.outcome === 'succeeded' && later.run.message === 'second run', JSON.stringify(later));
    } finally {
      await scheduler.stop();
      await lock.close();
      await other.end();
    }
  });
});
