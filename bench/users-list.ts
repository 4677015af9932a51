/**
 * The admin users list at scale: 100,000 users (15% disabled) in a fresh store, listed through
 * the HTTP API as the console lists them (first page, a deep page, a search, disabled users only).
 *
 * Each case is the median of repeated requests, reported as a ratio against a floor measured in
 * the same run on the same server: an authenticated admin request that lists nothing
 * (`GET /api/v1/admin/session`: cookie, session lookup, serialisation), the least any admin page
 * costs. The raw SQL for one page of usernames is shown too, for what the database alone takes. Run:
 * `node --import tsx bench/users-list.ts [--users 100000] [--store postgres]`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { createHttpServer } from '../src/http/server.ts';
import type { NewUser } from '../src/model/index.ts';
import { validateSettings } from '../src/settings/load.ts';
import { SQLITE_FILE_NAME } from '../src/store/sqlite.ts';

const { values } = parseArgs({
  options: { users: { type: 'string', default: '100000' }, store: { type: 'string', default: 'sqlite' }, repeat: { type: 'string', default: '21' } },
});
const userCount = Number(values.users);
const repeat = Number(values.repeat);
const ADMIN_PASSWORD = 'bench-admin-password';

const maintenance = async (statement: string) => {
  const admin = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query(statement);
  await admin.end();
};

async function median(work: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let index = 0; index < repeat; index += 1) {
    const start = performance.now();
    await work();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}

const dataDir = await mkdtemp(path.join(tmpdir(), 'dirbridge-users-bench-'));
const database = values.store === 'postgres' ? `dirbridge_users_bench_${process.pid}` : undefined;
if (database !== undefined) await maintenance(`CREATE DATABASE ${database}`);
const url = database === undefined ? undefined : `postgres://postgres@127.0.0.1:5432/${database}`;
try {
  const settings = validateSettings(
    {
      directory: { urls: ['ldap://127.0.0.1:1'], bindDn: 'cn=reader,dc=example,dc=org', bindPassword: 'unused' },
      users: { baseDn: 'dc=example,dc=org' },
      store: url === undefined ? { dataDir } : { url, dataDir },
    },
    'bench',
  );
  const app = await openApp(settings, { env: { DIRBRIDGE_SECRET_KEY: 'b'.repeat(64) } });
  try {
    // 100k directory users, every seventh disabled (about 15%), inserted in batches.
    const loadStart = performance.now();
    for (let from = 0; from < userCount; from += 5_000) {
      const batch: NewUser[] = [];
      for (let index = from; index < Math.min(userCount, from + 5_000); index += 1) {
        const username = `user${String(index).padStart(6, '0')}`;
        batch.push({
          username,
          source: 'directory',
          email: `${username}@example.org`,
          firstName: `First${index % 997}`,
          lastName: `Last${index % 1_009}`,
          displayName: `First${index % 997} Last${index % 1_009}`,
          externalId: `ext-${index}`,
          dn: `uid=${username},ou=people,dc=example,dc=org`,
          isEnabled: index % 7 !== 0,
          ...(index % 7 === 0 ? { disabledBy: 'sync' as const, disabledReason: 'gone from the directory' } : {}),
        });
      }
      await app.store.transaction((tx) => tx.users.insert(batch));
    }
    const loadMs = performance.now() - loadStart;
    if (url !== undefined) {
      // Autovacuum analyses a freshly loaded table within a minute; do it now so the planner sees 100k rows.
      const analyse = new pg.Client({ connectionString: url });
      await analyse.connect();
      await analyse.query('analyze users');
      await analyse.end();
    }
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });

    const server = await createHttpServer(app, { logger: false });
    try {
      const signIn = await server.inject({ method: 'POST', url: '/api/v1/admin/session', payload: { username: 'admin', password: ADMIN_PASSWORD } });
      const cookie = signIn.cookies.find((candidate) => candidate.name === 'dirbridge_session');
      if (signIn.statusCode !== 200 || cookie === undefined) throw new Error(`sign-in failed: ${signIn.body}`);
      const list = async (query: string): Promise<number> => {
        const reply = await server.inject({ method: 'GET', url: `/api/v1/admin/users?${query}`, cookies: { dirbridge_session: cookie.value } });
        if (reply.statusCode !== 200) throw new Error(`${query}: ${reply.statusCode} ${reply.body}`);
        return (reply.json() as { total: number }).total;
      };

      // Floor: an authenticated admin request that lists nothing.
      const floorMs = await median(async () => {
        const reply = await server.inject({ method: 'GET', url: '/api/v1/admin/session', cookies: { dirbridge_session: cookie.value } });
        if (reply.statusCode !== 200) throw new Error(`session: ${reply.statusCode}`);
      });
      // For reference: one page of usernames in username order, raw SQL through the same driver.
      const pageSql = 'select id, username from users order by username_key, id limit 50';
      let rawSqlMs: number;
      if (url === undefined) {
        const raw = new BetterSqlite3(path.join(dataDir, SQLITE_FILE_NAME), { readonly: true });
        const statement = raw.prepare(pageSql);
        rawSqlMs = await median(async () => statement.all());
        raw.close();
      } else {
        const raw = new pg.Client({ connectionString: url });
        await raw.connect();
        rawSqlMs = await median(() => raw.query(pageSql));
        await raw.end();
      }

      const deepOffset = Math.max(0, userCount - 50);
      const cases: Array<[string, string]> = [
        ['first page (50, with the total)', 'limit=50&offset=0'],
        [`deep page (offset ${deepOffset})`, `limit=50&offset=${deepOffset}`],
        ['search "last42" (substring of name fields)', 'limit=50&search=last42'],
        ['search "user0999" (a username substring)', 'limit=50&search=user0999'],
        ['disabled only, first page', 'limit=50&state=disabled'],
        ['disabled only, deep page', `limit=50&state=disabled&offset=${Math.max(0, Math.floor(userCount / 7) - 50)}`],
      ];
      console.log(
        `users-list: ${userCount} users (${Math.ceil(userCount / 7)} disabled), store ${app.store.dialect}; loaded in ${(loadMs / 1000).toFixed(1)} s; median of ${repeat}`,
      );
      console.log('| request | total | median | ratio to floor |\n|---|---|---|---|');
      console.log(`| floor: GET /api/v1/admin/session (authenticated, lists nothing) | | ${floorMs.toFixed(2)} ms | 1.00 |`);
      console.log(`| (reference) raw SQL: a page of 50 usernames in username order | | ${rawSqlMs.toFixed(2)} ms | ${(rawSqlMs / floorMs).toFixed(2)} |`);
      for (const [name, query] of cases) {
        const total = await list(query);
        const ms = await median(() => list(query));
        console.log(`| GET /api/v1/admin/users?${query} — ${name} | ${total} | ${ms.toFixed(2)} ms | ${(ms / floorMs).toFixed(1)} |`);
      }
    } finally {
      await server.close();
    }
  } finally {
    await app.close();
  }
} finally {
  await rm(dataDir, { recursive: true, force: true });
  if (database !== undefined) await maintenance(`DROP DATABASE IF EXISTS ${database}`);
}
