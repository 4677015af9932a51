/**
 * Store contract for `users.markSynced` ("Last synced" is the last time a sync saw the user), run
 * against SQLite and PostgreSQL: it sets lastSyncedAt of exactly the listed users, in batches
 * larger than one statement holds, and leaves updatedAt and every other column alone; on
 * PostgreSQL the users table leaves room on each page for that update (migration 0010). When
 * PostgreSQL is unreachable its suite is skipped locally and FAILS when `CI` is set.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { NewUser } from '../src/model/index.ts';
import { type OpenStoreOptions, openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { createTestDatabase, maintenanceUrl, postgresProblem } from './helpers/postgres.ts';

type OpenFn = (options?: OpenStoreOptions) => Promise<Store>;

function describeSyncedContract(
  name: string,
  openFn: OpenFn,
  lifecycle: { setup: () => Promise<void>; teardown: () => Promise<void>; query?: (text: string) => Promise<Array<Record<string, unknown>>> },
): void {
  describe(`store contract (users.markSynced): ${name}`, () => {
    before(lifecycle.setup);
    after(lifecycle.teardown);

    it('sets lastSyncedAt of exactly the listed users, across statements, and nothing else', async () => {
      let time = Date.parse('2030-01-02T03:04:05.000Z');
      const store = await openFn({ now: () => new Date(time) });
      try {
        const tag = `t${randomBytes(4).toString('hex')}`;
        const count = 40_000; // more ids than one statement binds on either backend
        const users: NewUser[] = Array.from({ length: count }, (_, index) => ({
          username: `${tag}-${index}`,
          source: 'directory',
          externalId: `${tag}:${index}`,
          email: `${tag}-${index}@example.org`,
          lastSyncedAt: '2030-01-01T00:00:00Z',
        }));
        const created = await store.transaction((tx) => tx.users.insert(users));
        const before = await store.users.get(created[0]?.id ?? '');
        assert.ok(before);
        time += 60_000;
        const seen = created.filter((_, index) => index % 4 !== 3).map((user) => user.id);
        await store.transaction((tx) => tx.users.markSynced([...seen, ...seen.slice(0, 10), 'no-such-id'], '2030-06-01T12:00:00+02:00'));

        const page = await store.users.list({ search: tag, limit: count, offset: 0 });
        assert.equal(page.total, count);
        const seenIds = new Set(seen);
        for (const user of page.users) {
          assert.equal(user.lastSyncedAt, seenIds.has(user.id) ? '2030-06-01T10:00:00.000Z' : '2030-01-01T00:00:00.000Z', user.username);
        }
        const after = await store.users.get(before.id);
        assert.deepEqual({ ...after, lastSyncedAt: before.lastSyncedAt }, before, 'updatedAt and every other column unchanged');
        await store.transaction((tx) => tx.users.markSynced([], '2030-06-02T00:00:00Z'));
      } finally {
        await store.close();
      }
    });

    if (lifecycle.query !== undefined) {
      const query = lifecycle.query;
      it('leaves room on each users page (fillfactor 70), so the update stays on the page', async () => {
        const store = await openFn();
        await store.close();
        const rows = await query("select reloptions from pg_class where relname = 'users' and relkind = 'r'");
        assert.deepEqual(
          rows.map((row) => row['reloptions']),
          [['fillfactor=70']],
        );
      });
    }

    it('refuses a timestamp that is not one', async () => {
      const store = await openFn();
      try {
        await assert.rejects(
          store.transaction((tx) => tx.users.markSynced(['x'], 'yesterday')),
          (error: Error & { code?: string }) => error.code === 'usage.invalid',
        );
      } finally {
        await store.close();
      }
    });
  });
}

{
  let dataDir = '';
  describeSyncedContract('sqlite', (options) => openStore({ dataDir }, options), {
    setup: async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'dirbridge-store-synced-'));
    },
    teardown: async () => {
      await rm(dataDir, { recursive: true, force: true });
    },
  });
}

const pgProblem = await postgresProblem();
if (pgProblem === undefined) {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  describeSyncedContract('postgres', (options) => openStore({ url: database?.url ?? '', dataDir: '.' }, options), {
    setup: async () => {
      database = await createTestDatabase();
    },
    teardown: async () => {
      await database?.drop();
    },
    query: async (text) => {
      const client = new pg.Client({ connectionString: database?.url ?? '' });
      await client.connect();
      try {
        return (await client.query(text)).rows as Array<Record<string, unknown>>;
      } finally {
        await client.end();
      }
    },
  });
} else if (process.env.CI) {
  describe('store contract (users.markSynced): postgres', () => {
    it('connects to PostgreSQL (required when CI is set)', () => {
      assert.fail(`PostgreSQL at ${maintenanceUrl} is unreachable: ${pgProblem}`);
    });
  });
} else {
  describe('store contract (users.markSynced): postgres', { skip: `PostgreSQL unreachable (${pgProblem}); set CI to make this fail` }, () => {});
}
