/**
 * Every pooled PostgreSQL session asks the server to probe for a vanished client after 30 s (3
 * probes 10 s apart), in and out of transactions: the session of an instance whose machine
 * rebooted then ends within about a minute, with its transaction and its advisory locks, instead
 * of after the system's two hours. Fails (never skips) when CI is set and PostgreSQL is down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createPostgresKysely } from '../src/store/postgres.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const problem = await postgresProblem();

describe('PostgreSQL sessions of the store', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, () => {
  let database: { url: string; drop: () => Promise<void> };

  before(async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    database = await createTestDatabase();
  });

  after(async () => {
    await database?.drop();
  });

  it('detect a vanished client within about a minute, on every pooled connection', async () => {
    const db = createPostgresKysely(database.url, { maxConnections: 3 });
    try {
      const settings = async () =>
        (
          await sql<{
            idle: string;
            interval: string;
            count: string;
          }>`select current_setting('tcp_keepalives_idle') as idle, current_setting('tcp_keepalives_interval') as interval, current_setting('tcp_keepalives_count') as count`.execute(
            db,
          )
        ).rows[0];
      // Three at once: three connections, each set up as it connected.
      const all = await Promise.all([
        settings(),
        settings(),
        settings(),
        db
          .transaction()
          .execute(async (trx) => (await sql<{ tcp_keepalives_idle: string }>`show tcp_keepalives_idle`.execute(trx)).rows[0]?.tcp_keepalives_idle),
      ]);
      for (const row of all.slice(0, 3)) assert.deepEqual(row, { idle: '30', interval: '10', count: '3' });
      assert.equal(all[3], '30');
    } finally {
      await db.destroy();
    }
  });
});
