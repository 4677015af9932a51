/**
 * The store contract: one suite, run against SQLite (temporary directory) and PostgreSQL
 * (a throwaway database created through the `postgres` maintenance database and dropped
 * afterwards). Set DIRBRIDGE_TEST_PG_URL to point at another server's maintenance database.
 * When PostgreSQL is unreachable its suite is skipped locally and FAILS when `CI` is set.
 *
 * Tests share one database per backend, so each test works under its own random tag and
 * only asserts on records carrying that tag.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { NewUser, SessionRecord, UserRecord } from '../src/model/index.ts';
import { type OpenStoreOptions, openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { createTestDatabase, declareWhenPostgres, postgresProblem } from './helpers/postgres.ts';
import { rejectsWithCode } from './helpers/rejects.ts';

/** Opens a store on the backend under test (a new Kysely instance each call, same database). */
type OpenFn = (options?: OpenStoreOptions) => Promise<Store>;

/** Creates and removes the backend's database around the suite. */
interface Lifecycle {
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A clock the test moves by hand. */
function manualClock(start = '2030-01-02T03:04:05.000Z') {
  let time = Date.parse(start);
  return {
    now: () => new Date(time),
    iso: () => new Date(time).toISOString(),
    advance(ms: number) {
      time += ms;
    },
  };
}

function newTag(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

/** A token hash as the session service stores it. */
function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** `iso` moved by `ms`. */
function shift(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}

const MINUTE = 60_000;

/** Asserts that `promise` rejects with a DirbridgeError of `code`, returning it. */
/** Runs the store contract against one backend. */
export function describeStoreContract(name: string, openFn: OpenFn, lifecycle: Lifecycle = {}): void {
  describe(`store contract: ${name}`, () => {
    before(async () => {
      await lifecycle.setup?.();
    });
    after(async () => {
      await lifecycle.teardown?.();
    });

    /** Opens a store for one test and always closes it. */
    async function withStore<T>(work: (store: Store) => Promise<T>, options: OpenStoreOptions = {}): Promise<T> {
      const store = await openFn(options);
      try {
        return await work(store);
      } finally {
        await store.close();
      }
    }

    const user = (tag: string, name: string, extra: Partial<NewUser> = {}): NewUser => ({
      username: `${tag}-${name}`,
      source: 'directory',
      externalId: `${tag}:${name}`,
      ...extra,
    });

    it('migrates idempotently: opening twice keeps the schema and the data', async () => {
      const tag = newTag();
      const first = await openFn();
      const [created] = await first.transaction((tx) => tx.users.insert([user(tag, 'persist')]));
      await first.close();
      const second = await openFn();
      try {
        assert.equal((await second.users.get(created?.id ?? ''))?.username, `${tag}-persist`);
      } finally {
        await second.close();
      }
    });

    it('inserts users with generated ids and defaults, and finds them', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [alice, bob] = await store.transaction((tx) =>
            tx.users.insert([
              user(tag, 'Alice', {
                email: `Alice.${tag}@Example.org`,
                firstName: 'Alice',
                lastName: 'Liddell',
                displayName: 'Alice L.',
                dn: 'uid=alice,ou=people,dc=example,dc=org',
                lastSyncedAt: '2030-01-01T00:00:00Z',
              }),
              { username: `${tag}-bob`, source: 'local', passwordHash: '$argon2id$fake', isAdmin: true },
            ]),
          );
          assert.ok(alice && bob);
          assert.match(alice.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
          assert.notEqual(alice.id, bob.id);
          assert.deepEqual(await store.users.get(alice.id), alice);
          assert.deepEqual(alice, {
            id: alice.id,
            username: `${tag}-Alice`,
            email: `Alice.${tag}@Example.org`,
            firstName: 'Alice',
            lastName: 'Liddell',
            displayName: 'Alice L.',
            source: 'directory',
            externalId: `${tag}:Alice`,
            dn: 'uid=alice,ou=people,dc=example,dc=org',
            isEnabled: true,
            disabledBy: null,
            disabledReason: null,
            isAdmin: false,
            hasPassword: false,
            missingRuns: 0,
            notes: null,
            createdAt: clock.iso(),
            updatedAt: clock.iso(),
            lastSyncedAt: '2030-01-01T00:00:00.000Z',
            passwordChangedAt: null,
          });
          const storedBob = await store.users.get(bob.id);
          assert.equal(storedBob?.firstName, '');
          assert.equal(storedBob?.email, null);
          assert.equal(storedBob?.externalId, null);
          assert.equal(storedBob?.isAdmin, true);
          assert.equal(storedBob?.hasPassword, true);
          assert.equal(await store.transaction((tx) => tx.users.getPasswordHash(bob.id)), '$argon2id$fake');
          assert.equal(await store.users.getPasswordHash(alice.id), null);
          await rejectsWithCode(store.users.getPasswordHash('00000000-0000-4000-8000-000000000000'), 'store.not_found');

          assert.equal((await store.users.findByUsername(`${tag}-ALICE`))?.id, alice.id);
          assert.equal((await store.users.findByExternalId(`${tag}:Alice`))?.id, alice.id);
          assert.equal(await store.users.findByExternalId(`${tag}:alice`), undefined, 'external ids are exact');
          assert.equal((await store.users.findByEmail(`alice.${tag}@EXAMPLE.ORG`))?.id, alice.id);
          assert.equal(await store.users.findByEmail(`nobody.${tag}@example.org`), undefined);
          assert.equal(await store.users.findByUsername(`${tag}-nobody`), undefined);
          assert.equal(await store.users.get('00000000-0000-4000-8000-000000000000'), undefined);

          await store.transaction((tx) => tx.users.insert([user(tag, 'alias', { email: `ALICE.${tag}@example.org` })]));
          await rejectsWithCode(store.users.findByEmail(`alice.${tag}@example.org`), 'store.ambiguous');
        },
        { now: clock.now },
      );
    });

    it('returns booleans as booleans and timestamps as ISO strings on every read path', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [u] = await store.transaction((tx) => tx.users.insert([user(tag, 'flags', { isEnabled: false, disabledBy: 'admin', isAdmin: true })]));
        assert.ok(u);
        const [g] = await store.transaction((tx) => tx.groups.insert([{ name: `${tag}-g`, source: 'local' }]));
        assert.ok(g);
        await store.transaction((tx) => tx.groups.addMemberships([{ userId: u.id, groupId: g.id }]));
        const state = await store.runs.loadSyncState();
        const reads: UserRecord[] = [
          (await store.users.get(u.id))!,
          (await store.users.list({ search: tag, limit: 10, offset: 0 })).users[0]!,
          (await store.groups.listMembers(g.id, { limit: 10, offset: 0 })).users[0]!,
          state.users.find((candidate) => candidate.id === u.id)!,
        ];
        for (const read of reads) {
          assert.strictEqual(read.isEnabled, false);
          assert.strictEqual(read.isAdmin, true);
          assert.strictEqual(read.hasPassword, false);
          assert.strictEqual(read.missingRuns, 0);
          assert.match(read.createdAt, ISO);
          assert.match(read.updatedAt, ISO);
        }
        await store.transaction((tx) => tx.users.update([{ id: u.id, isEnabled: true, isAdmin: false, lastSyncedAt: '2030-06-01T12:00:00+02:00' }]));
        const updated = await store.users.get(u.id);
        assert.strictEqual(updated?.isEnabled, true);
        assert.strictEqual(updated?.isAdmin, false);
        assert.equal(updated?.lastSyncedAt, '2030-06-01T10:00:00.000Z', 'timestamps are normalised to UTC');
        await rejectsWithCode(
          store.transaction((tx) => tx.users.update([{ id: u.id, lastSyncedAt: 'yesterday' }])),
          'usage.invalid',
        );
      });
    });

    it('updates only the patched fields and stamps updatedAt', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [u, v] = await store.transaction((tx) =>
            tx.users.insert([user(tag, 'patch', { email: `p.${tag}@example.org`, firstName: 'Pat', displayName: 'Pat' }), user(tag, 'other')]),
          );
          assert.ok(u && v);
          clock.advance(60_000);
          await store.transaction((tx) =>
            tx.users.update([
              { id: u.id, displayName: null, missingRuns: 2 },
              { id: v.id, isEnabled: false, disabledBy: 'directory', disabledReason: 'missing from directory' },
              { id: u.id, email: `New.${tag}@Example.org` },
            ]),
          );
          const after1 = await store.users.get(u.id);
          assert.deepEqual(after1, {
            ...u,
            displayName: null,
            missingRuns: 2,
            email: `New.${tag}@Example.org`,
            updatedAt: clock.iso(),
          });
          assert.equal(after1?.createdAt, u.createdAt);
          assert.notEqual(after1?.updatedAt, u.updatedAt);
          assert.equal((await store.users.findByEmail(`new.${tag}@example.org`))?.id, u.id, 'email key follows the email');
          assert.equal(await store.users.findByEmail(`p.${tag}@example.org`), undefined);
          const v1 = await store.users.get(v.id);
          assert.equal(v1?.isEnabled, false);
          assert.equal(v1?.disabledBy, 'directory');
          assert.equal(v1?.disabledReason, 'missing from directory');
          assert.equal(v1?.username, v.username);

          await store.transaction((tx) => tx.users.update([{ id: u.id }]));
          await store.transaction((tx) => tx.users.update([]));
          await rejectsWithCode(
            store.transaction((tx) =>
              tx.users.update([
                { id: u.id, firstName: 'Changed' },
                { id: '00000000-0000-4000-8000-000000000000', firstName: 'x' },
              ]),
            ),
            'store.not_found',
          );
          assert.equal((await store.users.get(u.id))?.firstName, 'Pat', 'the failed batch was rolled back');
        },
        { now: clock.now },
      );
    });

    it('lists users with search, source filter and pagination', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        await store.transaction((tx) =>
          tx.users.insert([
            user(tag, 'dave', { displayName: 'Dave Grohl' }),
            user(tag, 'Carol', { email: `carol.${tag}@example.org` }),
            user(tag, 'erin', { firstName: 'Erin', lastName: 'Brockovich' }),
            user(tag, 'bob', { source: 'local' }),
            user(tag, 'alice'),
            user(tag, 'per%cent'),
            user(tag, 'under_score'),
          ]),
        );
        const all = await store.users.list({ search: tag, limit: 100, offset: 0 });
        assert.equal(all.total, 7);
        assert.deepEqual(
          all.users.map((u) => u.username),
          ['alice', 'bob', 'Carol', 'dave', 'erin', 'per%cent', 'under_score'].map((n) => `${tag}-${n}`),
          'ordered by username, case-insensitively',
        );
        const page = await store.users.list({ search: tag, limit: 2, offset: 2 });
        assert.equal(page.total, 7);
        assert.deepEqual(
          page.users.map((u) => u.username),
          [`${tag}-Carol`, `${tag}-dave`],
        );
        assert.equal((await store.users.list({ search: tag, limit: 5, offset: 100 })).users.length, 0);

        assert.deepEqual(
          (await store.users.list({ search: `CAROL.${tag}@`, limit: 10, offset: 0 })).users.map((u) => u.username),
          [`${tag}-Carol`],
        );
        assert.equal(
          (await store.users.list({ search: 'grohl', limit: 10, offset: 0 })).users.some((u) => u.username === `${tag}-dave`),
          true,
        );
        assert.equal(
          (await store.users.list({ search: 'brockovich', limit: 10, offset: 0 })).users.some((u) => u.username === `${tag}-erin`),
          true,
        );
        assert.deepEqual(
          (await store.users.list({ search: `${tag}-per%`, limit: 10, offset: 0 })).users.map((u) => u.username),
          [`${tag}-per%cent`],
          '% is literal',
        );
        assert.deepEqual(
          (await store.users.list({ search: `${tag}-under_`, limit: 10, offset: 0 })).users.map((u) => u.username),
          [`${tag}-under_score`],
          '_ is literal',
        );
        assert.equal((await store.users.list({ search: `${tag}-u_der`, limit: 10, offset: 0 })).total, 0);
        const local = await store.users.list({ search: tag, source: 'local', limit: 10, offset: 0 });
        assert.deepEqual(
          local.users.map((u) => u.username),
          [`${tag}-bob`],
        );
        assert.equal(local.total, 1);
        const everyone = await store.users.list({ limit: 1, offset: 0 });
        assert.ok(everyone.total >= 7);
        await rejectsWithCode(store.users.list({ limit: -1, offset: 0 }), 'usage.invalid');
      });
    });

    it('filters users by state, with search, source, isAdmin and pagination, and follows state changes', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const users = await store.transaction((tx) =>
          tx.users.insert([
            user(tag, 'Dora'),
            user(tag, 'carl', { isEnabled: false, disabledBy: 'admin', disabledReason: 'left' }),
            user(tag, 'bea', { isEnabled: false, disabledBy: 'sync' }),
            user(tag, 'Abe', { source: 'local', isAdmin: true }),
            user(tag, 'eve', { isEnabled: false, disabledBy: 'directory', source: 'local' }),
            user(tag, 'fay', { isEnabled: false, disabledBy: null }),
          ]),
        );
        const names = (page: { users: UserRecord[] }) => page.users.map((u) => u.username.slice(tag.length + 1));
        const active = await store.users.list({ search: tag, state: 'active', limit: 10, offset: 0 });
        assert.equal(active.total, 2);
        assert.deepEqual(names(active), ['Abe', 'Dora']);
        const disabled = await store.users.list({ search: tag, state: 'disabled', limit: 10, offset: 0 });
        assert.equal(disabled.total, 4, 'disabled by anyone (or by no one recorded)');
        assert.deepEqual(names(disabled), ['bea', 'carl', 'eve', 'fay'], 'ordered by username, case-insensitively');
        assert.ok(disabled.users.every((u) => !u.isEnabled) && active.users.every((u) => u.isEnabled));
        assert.equal((await store.users.list({ search: tag, limit: 10, offset: 0 })).total, 6, 'no state: everyone');

        // Pages of one state: the total counts that state, the pages follow username order.
        const second = await store.users.list({ search: tag, state: 'disabled', limit: 2, offset: 2 });
        assert.equal(second.total, 4);
        assert.deepEqual(names(second), ['eve', 'fay']);
        assert.deepEqual(names(await store.users.list({ search: tag, state: 'disabled', limit: 3, offset: 1 })), ['carl', 'eve', 'fay']);
        assert.deepEqual(names(await store.users.list({ search: tag, state: 'disabled', limit: 2, offset: 4 })), []);

        // With the other filters.
        assert.deepEqual(names(await store.users.list({ search: tag, state: 'disabled', source: 'local', limit: 10, offset: 0 })), ['eve']);
        assert.deepEqual(names(await store.users.list({ search: tag, state: 'active', source: 'local', limit: 10, offset: 0 })), ['Abe']);
        assert.deepEqual(names(await store.users.list({ search: tag, state: 'active', isAdmin: false, limit: 10, offset: 0 })), ['Dora']);
        assert.equal((await store.users.list({ search: tag, state: 'disabled', isAdmin: true, limit: 10, offset: 0 })).total, 0);
        assert.deepEqual(names(await store.users.list({ search: `${tag}-C`, state: 'disabled', limit: 10, offset: 0 })), ['carl']);
        assert.equal((await store.users.list({ search: `${tag}-c`, state: 'active', limit: 10, offset: 0 })).total, 0);

        // Enabling and disabling moves users between the lists at once; inside a transaction too.
        const dora = users.find((u) => u.username === `${tag}-Dora`);
        const carl = users.find((u) => u.username === `${tag}-carl`);
        assert.ok(dora && carl);
        await store.transaction(async (tx) => {
          await tx.users.update([
            { id: dora.id, isEnabled: false, disabledBy: 'admin' },
            { id: carl.id, isEnabled: true, disabledBy: null, disabledReason: null },
          ]);
          assert.deepEqual(names(await tx.users.list({ search: tag, state: 'active', limit: 10, offset: 0 })), ['Abe', 'carl']);
        });
        assert.deepEqual(names(await store.users.list({ search: tag, state: 'disabled', limit: 10, offset: 0 })), ['bea', 'Dora', 'eve', 'fay']);

        // Across the whole store (no search): every listed user has the state, and the totals add up.
        const everyone = (await store.users.list({ limit: 1, offset: 0 })).total;
        const allActive = await store.users.list({ state: 'active', limit: 50, offset: 0 });
        const allDisabled = await store.users.list({ state: 'disabled', limit: 50, offset: 0 });
        assert.equal(allActive.total + allDisabled.total, everyone);
        assert.ok(allActive.users.every((u) => u.isEnabled) && allDisabled.users.every((u) => !u.isEnabled));

        // An unknown state from an untyped caller is refused, never read as "all".
        await rejectsWithCode(store.users.list({ state: 'enabled' as 'active', limit: 10, offset: 0 }), 'usage.invalid');
        await rejectsWithCode(store.users.list({ state: 'toString' as 'active', limit: 10, offset: 0 }), 'usage.invalid');
      });
    });

    it('keeps usernames unique case-insensitively', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        await store.transaction((tx) => tx.users.insert([user(tag, 'Carol')]));
        const error = await rejectsWithCode(
          store.transaction((tx) => tx.users.insert([user(tag, 'x1'), user(tag, 'CAROL', { externalId: `${tag}:other` })])),
          'store.conflict',
        );
        assert.equal(error.details.value, `${tag}-CAROL`);
        assert.match(error.message, new RegExp(`${tag}-CAROL`));
        await rejectsWithCode(
          store.transaction((tx) => tx.users.insert([user(tag, 'dup'), user(tag, 'DUP', { externalId: `${tag}:dup2` })])),
          'store.conflict',
        );
        assert.equal((await store.users.list({ search: tag, limit: 10, offset: 0 })).total, 1, 'a failed insert writes nothing');
      });
    });

    it('keeps external ids unique', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [a, b] = await store.transaction((tx) => tx.users.insert([user(tag, 'a'), user(tag, 'b')]));
        assert.ok(a && b);
        const error = await rejectsWithCode(
          store.transaction((tx) => tx.users.insert([user(tag, 'c', { externalId: `${tag}:a` })])),
          'store.conflict',
        );
        assert.equal(error.details.value, `${tag}:a`);
        await rejectsWithCode(
          store.transaction((tx) => tx.users.update([{ id: b.id, externalId: `${tag}:a` }])),
          'store.conflict',
        );
        // Many users may have no external id.
        await store.transaction((tx) => tx.users.insert([user(tag, 'n1', { externalId: null }), user(tag, 'n2', { externalId: null })]));
        // Swapping external ids within one batch is allowed.
        await store.transaction((tx) =>
          tx.users.update([
            { id: a.id, externalId: `${tag}:b` },
            { id: b.id, externalId: `${tag}:a` },
          ]),
        );
        assert.equal((await store.users.findByExternalId(`${tag}:a`))?.id, b.id);
        assert.equal((await store.users.findByExternalId(`${tag}:b`))?.id, a.id);
        // Taking an id another user gives up in the same batch is allowed.
        await store.transaction((tx) =>
          tx.users.update([
            { id: a.id, externalId: null },
            { id: b.id, externalId: `${tag}:b` },
          ]),
        );
        assert.equal((await store.users.get(a.id))?.externalId, null);
        assert.equal((await store.users.findByExternalId(`${tag}:b`))?.id, b.id);
      });
    });

    it('swaps and rotates usernames inside one transaction', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [a, b, c] = await store.transaction((tx) => tx.users.insert([user(tag, 'anna'), user(tag, 'ben'), user(tag, 'cleo')]));
        assert.ok(a && b && c);
        await store.transaction((tx) =>
          tx.users.update([
            { id: a.id, username: `${tag}-Ben` },
            { id: b.id, username: `${tag}-ANNA` },
          ]),
        );
        assert.equal((await store.users.findByUsername(`${tag}-ben`))?.id, a.id);
        assert.equal((await store.users.findByUsername(`${tag}-anna`))?.id, b.id);
        assert.equal((await store.users.get(a.id))?.username, `${tag}-Ben`);

        // a → cleo, b → ben (held by a), c → anna (held by b): a three-way rotation.
        await store.transaction((tx) =>
          tx.users.update([
            { id: a.id, username: `${tag}-cleo` },
            { id: b.id, username: `${tag}-ben` },
            { id: c.id, username: `${tag}-anna` },
          ]),
        );
        assert.equal((await store.users.findByUsername(`${tag}-cleo`))?.id, a.id);
        assert.equal((await store.users.findByUsername(`${tag}-ben`))?.id, b.id);
        assert.equal((await store.users.findByUsername(`${tag}-anna`))?.id, c.id);
        // A case-only rename of one user is not a conflict with itself.
        await store.transaction((tx) => tx.users.update([{ id: a.id, username: `${tag}-CLEO` }]));
        assert.equal((await store.users.findByUsername(`${tag}-cleo`))?.username, `${tag}-CLEO`);
        const listed = await store.users.list({ search: tag, limit: 10, offset: 0 });
        assert.deepEqual(listed.users.map((u) => u.username).sort(), [`${tag}-CLEO`, `${tag}-anna`, `${tag}-ben`].sort());
      });
    });

    it('raises store.conflict naming the username on a genuine rename clash, writing nothing', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [a, b, c] = await store.transaction((tx) => tx.users.insert([user(tag, 'amy'), user(tag, 'bea'), user(tag, 'cat')]));
        assert.ok(a && b && c);
        const error = await rejectsWithCode(
          store.transaction(async (tx) => {
            await tx.users.update([{ id: c.id, firstName: 'Cat' }]);
            // amy → bea while bea keeps her name; cat's change in the same transaction must roll back.
            await tx.users.update([
              { id: a.id, username: `${tag}-BEA` },
              { id: b.id, displayName: 'Bea' },
            ]);
          }),
          'store.conflict',
        );
        assert.equal(error.details.value, `${tag}-BEA`);
        assert.equal(error.details.field, 'username');
        assert.equal((await store.users.get(c.id))?.firstName, '');
        assert.equal((await store.users.get(a.id))?.username, `${tag}-amy`);
        // Two users claiming the same new name in one batch.
        await rejectsWithCode(
          store.transaction((tx) =>
            tx.users.update([
              { id: a.id, username: `${tag}-zed` },
              { id: c.id, username: `${tag}-ZED` },
            ]),
          ),
          'store.conflict',
        );
        assert.equal(await store.users.findByUsername(`${tag}-zed`), undefined);
      });
    });

    it('manages groups: insert, update, search, pagination and external id rules', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [g1, g2, g3] = await store.transaction((tx) =>
            tx.groups.insert([
              { name: `${tag}-Zeta`, source: 'directory', externalId: `${tag}:z`, dn: 'cn=zeta,ou=groups,dc=example,dc=org' },
              { name: `${tag}-alpha`, source: 'directory', externalId: `${tag}:a` },
              { name: `${tag}-Beta`, source: 'local' },
            ]),
          );
          assert.ok(g1 && g2 && g3);
          assert.deepEqual(await store.groups.get(g1.id), g1);
          assert.equal(g1.createdAt, clock.iso());
          assert.equal(g3.externalId, null);
          assert.equal((await store.groups.findByExternalId(`${tag}:a`))?.id, g2.id);
          const listed = await store.groups.list({ search: tag.toUpperCase(), limit: 10, offset: 0 });
          assert.equal(listed.total, 3);
          assert.deepEqual(
            listed.groups.map((g) => g.name),
            [`${tag}-alpha`, `${tag}-Beta`, `${tag}-Zeta`],
          );
          assert.deepEqual(
            listed.groups.map((g) => g.memberCount),
            [0, 0, 0],
          );
          assert.deepEqual(
            (await store.groups.list({ search: tag, limit: 1, offset: 1 })).groups.map((g) => g.name),
            [`${tag}-Beta`],
          );
          await rejectsWithCode(
            store.transaction((tx) => tx.groups.insert([{ name: 'dup', source: 'directory', externalId: `${tag}:z` }])),
            'store.conflict',
          );

          clock.advance(1_000);
          await store.transaction((tx) =>
            tx.groups.update([
              { id: g1.id, externalId: `${tag}:a`, name: `${tag}-omega` },
              { id: g2.id, externalId: `${tag}:z` },
            ]),
          );
          const g1b = await store.groups.get(g1.id);
          assert.deepEqual(g1b, { ...g1, externalId: `${tag}:a`, name: `${tag}-omega`, updatedAt: clock.iso() });
          assert.equal((await store.groups.findByExternalId(`${tag}:z`))?.id, g2.id);
          await rejectsWithCode(
            store.transaction((tx) => tx.groups.update([{ id: g3.id, externalId: `${tag}:a` }])),
            'store.conflict',
          );
          await rejectsWithCode(
            store.transaction((tx) => tx.groups.update([{ id: '00000000-0000-4000-8000-000000000000', name: 'x' }])),
            'store.not_found',
          );
        },
        { now: clock.now },
      );
    });

    it('adds memberships idempotently, lists and removes them', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [u1, u2, u3] = await store.transaction((tx) => tx.users.insert([user(tag, 'm1'), user(tag, 'm2'), user(tag, 'm3')]));
        const [ga, gb] = await store.transaction((tx) =>
          tx.groups.insert([
            { name: `${tag}-ga`, source: 'directory' },
            { name: `${tag}-gb`, source: 'directory' },
          ]),
        );
        assert.ok(u1 && u2 && u3 && ga && gb);
        const pairs = [
          { userId: u1.id, groupId: ga.id },
          { userId: u2.id, groupId: ga.id },
          { userId: u1.id, groupId: gb.id },
        ];
        await store.transaction((tx) => tx.groups.addMemberships(pairs));
        await store.transaction((tx) => tx.groups.addMemberships([...pairs, pairs[0]!]));
        const members = await store.groups.listMembers(ga.id, { limit: 10, offset: 0 });
        assert.equal(members.total, 2);
        assert.deepEqual(
          members.users.map((u) => u.id),
          [u1.id, u2.id],
        );
        assert.deepEqual(
          (await store.groups.listMembers(ga.id, { limit: 1, offset: 1 })).users.map((u) => u.id),
          [u2.id],
        );
        assert.deepEqual(
          (await store.groups.listOfUser(u1.id)).map((g) => g.id),
          [ga.id, gb.id],
        );
        assert.deepEqual(await store.groups.listOfUser(u3.id), []);
        const counts = await store.groups.list({ search: tag, limit: 10, offset: 0 });
        assert.deepEqual(
          counts.groups.map((g) => [g.name, g.memberCount]),
          [
            [`${tag}-ga`, 2],
            [`${tag}-gb`, 1],
          ],
        );
        const state = await store.runs.loadSyncState();
        const mine = state.memberships.filter((m) => m.groupId === ga.id || m.groupId === gb.id);
        assert.equal(mine.length, 3);

        await store.transaction((tx) =>
          tx.groups.removeMemberships([
            { userId: u1.id, groupId: ga.id },
            { userId: u3.id, groupId: gb.id },
          ]),
        );
        assert.deepEqual(
          (await store.groups.listMembers(ga.id, { limit: 10, offset: 0 })).users.map((u) => u.id),
          [u2.id],
        );
        assert.deepEqual(
          (await store.groups.listOfUser(u1.id)).map((g) => g.id),
          [gb.id],
        );
        await store.transaction((tx) => tx.groups.removeMemberships([]));
        await rejectsWithCode(
          store.transaction((tx) => tx.groups.addMemberships([{ userId: u3.id, groupId: '00000000-0000-4000-8000-000000000000' }])),
          'store.not_found',
        );
      });
    });

    it('cascades group and user deletes to memberships', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [u1, u2] = await store.transaction((tx) => tx.users.insert([user(tag, 'c1'), user(tag, 'c2')]));
        const [g1, g2] = await store.transaction((tx) =>
          tx.groups.insert([
            { name: `${tag}-g1`, source: 'directory' },
            { name: `${tag}-g2`, source: 'directory' },
          ]),
        );
        assert.ok(u1 && u2 && g1 && g2);
        await store.transaction((tx) =>
          tx.groups.addMemberships([
            { userId: u1.id, groupId: g1.id },
            { userId: u2.id, groupId: g1.id },
            { userId: u1.id, groupId: g2.id },
          ]),
        );
        await store.transaction((tx) => tx.groups.delete([g1.id, '00000000-0000-4000-8000-000000000000']));
        assert.equal(await store.groups.get(g1.id), undefined);
        assert.ok(await store.users.get(u1.id), 'users survive');
        assert.deepEqual(
          (await store.groups.listOfUser(u1.id)).map((g) => g.id),
          [g2.id],
        );
        assert.deepEqual(await store.groups.listOfUser(u2.id), []);
        const state = await store.runs.loadSyncState();
        assert.equal(
          state.memberships.some((m) => m.groupId === g1.id),
          false,
        );

        await store.transaction((tx) => tx.users.delete([u1.id]));
        assert.equal((await store.groups.listMembers(g2.id, { limit: 10, offset: 0 })).total, 0);
      });
    });

    it('rolls back everything when the transaction fails', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [kept] = await store.transaction((tx) => tx.users.insert([user(tag, 'kept')]));
        assert.ok(kept);
        const boom = new Error('boom');
        await assert.rejects(
          store.transaction(async (tx) => {
            const [u] = await tx.users.insert([user(tag, 'ghost')]);
            const [g] = await tx.groups.insert([{ name: `${tag}-ghosts`, source: 'directory' }]);
            await tx.groups.addMemberships([
              { userId: u!.id, groupId: g!.id },
              { userId: kept.id, groupId: g!.id },
            ]);
            await tx.users.update([{ id: kept.id, username: `${tag}-renamed` }]);
            assert.ok(await tx.users.findByUsername(`${tag}-ghost`), 'visible inside the transaction');
            throw boom;
          }),
          (error) => error === boom,
        );
        assert.equal(await store.users.findByUsername(`${tag}-ghost`), undefined);
        assert.equal((await store.groups.list({ search: tag, limit: 10, offset: 0 })).total, 0);
        assert.equal((await store.users.get(kept.id))?.username, `${tag}-kept`);
        assert.deepEqual(await store.groups.listOfUser(kept.id), []);
        assert.equal(await store.transaction(async (tx) => (await tx.users.get(kept.id))?.username), `${tag}-kept`, 'transaction returns the work result');
      });
    });

    it('keeps incremental sync state per directory id: cursors, stored groups, and the slices a delta plans with', async () => {
      const tag = newTag();
      await withStore(async (store) => {
        const directoryId = `dir-${tag}`;
        const other = `other-${tag}`;
        assert.deepEqual(await store.directoryState.listCursors(directoryId), []);
        const cursor = { source: 'contentSync' as const, position: 'cm9vdA==', serverIdentity: 'ldap://a', settingsFingerprint: 'f1' };
        await store.transaction(async (tx) => {
          await tx.directoryState.putCursors(directoryId, [
            { scope: 'users', ...cursor },
            { scope: 'groups', ...cursor, position: null },
          ]);
          await tx.directoryState.putCursors(other, [{ scope: 'users', ...cursor, position: 'b3RoZXI=' }]);
        });
        await store.transaction((tx) => tx.directoryState.putCursors(directoryId, [{ scope: 'users', ...cursor, position: 'bmV4dA==' }]));
        const cursors = await store.directoryState.listCursors(directoryId);
        assert.deepEqual(cursors.map((one) => [one.scope, one.source, one.position, one.serverIdentity, one.settingsFingerprint]).sort(), [
          ['groups', 'contentSync', null, 'ldap://a', 'f1'],
          ['users', 'contentSync', 'bmV4dA==', 'ldap://a', 'f1'],
        ]);
        assert.match(cursors[0]?.updatedAt ?? '', ISO);
        await store.transaction((tx) => tx.directoryState.clearCursors(directoryId));
        assert.deepEqual(await store.directoryState.listCursors(directoryId), []);
        assert.equal((await store.directoryState.listCursors(other)).length, 1, 'another directory keeps its cursor');

        const groups = Array.from({ length: 1_200 }, (_, index) => ({ externalId: `${tag}-g${index}`, content: `{"n":${index}}`, contentHash: `h${index}` }));
        await store.transaction((tx) => tx.directoryState.saveGroups(directoryId, { upserted: groups, removed: [] }));
        await store.transaction((tx) =>
          tx.directoryState.saveGroups(directoryId, {
            upserted: [{ externalId: `${tag}-g0`, content: '{"n":"changed"}', contentHash: 'changed' }],
            removed: [`${tag}-g1`],
          }),
        );
        const hashes = await store.directoryState.loadGroupHashes(directoryId);
        assert.equal(hashes.size, 1_199);
        assert.equal(hashes.get(`${tag}-g0`), 'changed');
        assert.equal(hashes.has(`${tag}-g1`), false);
        const loaded = await store.directoryState.loadGroups(directoryId);
        assert.equal(loaded.find((group) => group.externalId === `${tag}-g0`)?.content, '{"n":"changed"}');
        assert.equal((await store.directoryState.loadGroups(other)).length, 0);

        const countedBefore = await store.runs.countDirectoryUsers();
        const inserted = await store.transaction((tx) =>
          tx.users.insert([user(tag, 'anna', { dn: `uid=anna-${tag},dc=x`, email: `anna.${tag}@example.org` }), user(tag, 'bert'), user(tag, 'carl')]),
        );
        const [anna, bert, carl] = inserted;
        assert.ok(anna && bert && carl);
        await store.transaction((tx) =>
          tx.users.update([
            { id: carl.id, isEnabled: false, disabledBy: 'sync' },
            { id: bert.id, missingRuns: 1 },
          ]),
        );
        const counted = await store.runs.countDirectoryUsers();
        assert.deepEqual({ total: counted.total - countedBefore.total, enabled: counted.enabled - countedBefore.enabled }, { total: 3, enabled: 2 });
        assert.ok((await store.runs.listMissingDirectoryUsers()).includes(`${tag}:bert`));
        assert.ok(!(await store.runs.listMissingDirectoryUsers()).includes(`${tag}:carl`), 'disabled users are not counted missing');
        const identities = await store.runs.findDirectoryIdentities([`${tag}:anna`, `${tag}:nobody`]);
        assert.deepEqual(identities, [{ id: anna.id, externalId: `${tag}:anna`, dn: `uid=anna-${tag},dc=x`, username: `${tag}-anna` }]);
        assert.ok((await store.runs.listDirectoryIdentities()).some((identity) => identity.id === bert.id));

        const group = (await store.transaction((tx) => tx.groups.insert([{ name: `${tag}-staff`, source: 'directory', externalId: `${tag}:staff` }])))[0];
        assert.ok(group);
        await store.transaction((tx) =>
          tx.groups.addMemberships([
            { userId: anna.id, groupId: group.id },
            { userId: bert.id, groupId: group.id },
          ]),
        );
        const slice = await store.runs.loadSyncStateOf({ externalIds: [`${tag}:anna`], usernames: [`${tag.toUpperCase()}-CARL`], emails: [] });
        assert.deepEqual(slice.users.map((one) => one.id).sort(), [anna.id, carl.id].sort(), 'by unique id and by username, case-insensitively');
        assert.deepEqual(slice.memberships, [{ userId: anna.id, groupId: group.id }], 'memberships of the users loaded only');
        assert.ok(
          slice.groups.some((one) => one.id === group.id),
          'every group',
        );
        const byGroup = await store.runs.loadSyncStateOf({ groupIds: [group.id] });
        assert.equal(byGroup.memberships.length, 2, "a group's memberships");
        const byEmail = await store.runs.loadSyncStateOf({ emails: [`ANNA.${tag}@example.org`] });
        assert.deepEqual(
          byEmail.users.map((one) => one.id),
          [anna.id],
        );
        const mapping = await store.mapping.loadState({ userIds: [anna.id] });
        assert.deepEqual(mapping.roles, []);
      });
    });

    it('records sync runs with counts, plan summary and duration', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const run = await store.runs.start({ trigger: 'cli', isDryRun: true });
          assert.deepEqual(run, {
            id: run.id,
            trigger: 'cli',
            isDryRun: true,
            status: 'running',
            reason: null,
            errorCode: null,
            errorMessage: null,
            startedAt: clock.iso(),
            finishedAt: null,
            durationMs: null,
            counts: {},
            planSummary: null,
            progress: { phase: 'connecting', usersRead: 0, groupsRead: 0, applied: 0, applyTotal: 0, updatedAt: clock.iso() },
            // The lease is by the database's clock (test/store-run-lease-contract.test.ts).
            owner: null,
            heartbeatAt: run.heartbeatAt,
            leaseExpiresAt: run.leaseExpiresAt,
            mode: null,
            modeReason: null,
            entriesRead: null,
          });
          assert.deepEqual(await store.runs.get(run.id), run);
          clock.advance(1_234);
          const finished = await store.runs.finish(run.id, {
            status: 'refused',
            reason: 'would disable 40% of users (limit 10%)',
            counts: { created: 3, updated: 0, disabled: 40 },
            planSummary: { steps: 43, byKind: { createUser: 3, disableUser: 40 }, sample: ['a', null, true] },
          });
          assert.equal(finished.status, 'refused');
          assert.equal(finished.finishedAt, clock.iso());
          assert.equal(finished.durationMs, 1_234);
          assert.deepEqual(finished.counts, { created: 3, updated: 0, disabled: 40 });
          assert.deepEqual(finished.planSummary, { steps: 43, byKind: { createUser: 3, disableUser: 40 }, sample: ['a', null, true] });
          assert.equal(finished.reason, 'would disable 40% of users (limit 10%)');
          assert.deepEqual([finished.mode, finished.modeReason, finished.entriesRead], [null, null, null], 'not given: unknown');
          assert.deepEqual(await store.runs.get(run.id), finished);
          await rejectsWithCode(store.runs.finish(run.id, { status: 'succeeded', counts: {} }), 'store.conflict');
          await rejectsWithCode(store.runs.finish('00000000-0000-4000-8000-000000000000', { status: 'succeeded', counts: {} }), 'store.not_found');
          await rejectsWithCode(
            store.runs.finish((await store.runs.start({ trigger: 'api', isDryRun: false })).id, { status: 'failed', counts: { bad: Number.NaN } }),
            'usage.invalid',
          );

          clock.advance(1_000);
          const second = await store.runs.start({ trigger: 'schedule', isDryRun: false });
          assert.strictEqual(second.isDryRun, false);
          const failed = await store.runs.finish(second.id, {
            status: 'failed',
            errorCode: 'directory.unavailable',
            errorMessage: 'connect ECONNREFUSED',
            counts: {},
            mode: 'full',
            modeReason: 'no stored position yet',
            entriesRead: 12,
          });
          assert.deepEqual([failed.mode, failed.modeReason, failed.entriesRead], ['full', 'no stored position yet', 12]);
          assert.equal(failed.errorCode, 'directory.unavailable');
          assert.equal(failed.planSummary, null);
          assert.equal(failed.durationMs, 0);
          const listed = await store.runs.list({ limit: 3, offset: 0 });
          assert.ok(listed.total >= 3);
          assert.equal(listed.runs[0]?.id, second.id, 'newest first');
          assert.equal((await store.runs.list({ limit: 1, offset: 0 })).runs.length, 1);
          assert.equal(await store.runs.get('00000000-0000-4000-8000-000000000000'), undefined);
        },
        { now: clock.now },
      );
    });

    it('keeps the live progress of a running run, and clears it when the run finishes', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const run = await store.runs.start({ trigger: 'api', isDryRun: false });
          assert.deepEqual(run.progress, { phase: 'connecting', usersRead: 0, groupsRead: 0, applied: 0, applyTotal: 0, updatedAt: clock.iso() });
          clock.advance(500);
          assert.equal(await store.runs.updateProgress(run.id, { phase: 'reading_users', usersRead: 1500, groupsRead: 0, applied: 0, applyTotal: 0 }), true);
          assert.deepEqual((await store.runs.get(run.id))?.progress, {
            phase: 'reading_users',
            usersRead: 1500,
            groupsRead: 0,
            applied: 0,
            applyTotal: 0,
            updatedAt: clock.iso(),
          });
          clock.advance(700);
          assert.equal(await store.runs.updateProgress(run.id, { phase: 'applying', usersRead: 3000, groupsRead: 40, applied: 120, applyTotal: 300 }), true);
          const listed = (await store.runs.list({ limit: 50, offset: 0 })).runs.find((candidate) => candidate.id === run.id);
          assert.deepEqual(listed?.progress, { phase: 'applying', usersRead: 3000, groupsRead: 40, applied: 120, applyTotal: 300, updatedAt: clock.iso() });
          await rejectsWithCode(
            store.runs.updateProgress(run.id, { phase: 'applying', usersRead: -1, groupsRead: 0, applied: 0, applyTotal: 0 }),
            'usage.invalid',
          );
          await rejectsWithCode(
            store.runs.updateProgress(run.id, { phase: 'nowhere' as 'applying', usersRead: 0, groupsRead: 0, applied: 0, applyTotal: 0 }),
            'usage.invalid',
          );

          const finished = await store.runs.finish(run.id, { status: 'succeeded', counts: { 'users.created': 3 } });
          assert.equal(finished.progress, null, 'a finished run has no progress');
          assert.equal(
            (await store.runs.finish((await store.runs.start({ trigger: 'cli', isDryRun: true })).id, { status: 'failed', counts: {} })).progress,
            null,
          );
          assert.equal(
            await store.runs.updateProgress(run.id, { phase: 'finishing', usersRead: 3000, groupsRead: 40, applied: 300, applyTotal: 300 }),
            false,
            'a late write is refused',
          );
          assert.equal((await store.runs.get(run.id))?.progress, null);
          assert.equal(
            await store.runs.updateProgress('00000000-0000-4000-8000-000000000000', {
              phase: 'connecting',
              usersRead: 0,
              groupsRead: 0,
              applied: 0,
              applyTotal: 0,
            }),
            false,
          );
        },
        { now: clock.now },
      );
    });

    it('round-trips notes and filters users by isAdmin', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [a, b] = await store.transaction((tx) =>
          tx.users.insert([user(tag, 'noted', { notes: 'contractor until June\nask HR' }), user(tag, 'plain', { isAdmin: true, source: 'local' })]),
        );
        assert.ok(a && b);
        assert.equal(a.notes, 'contractor until June\nask HR');
        assert.equal(b.notes, null);
        assert.equal((await store.users.get(a.id))?.notes, 'contractor until June\nask HR');
        await store.transaction((tx) =>
          tx.users.update([
            { id: a.id, notes: null },
            { id: b.id, notes: 'üñí — ok' },
          ]),
        );
        assert.equal((await store.users.get(a.id))?.notes, null);
        assert.equal((await store.users.findByUsername(`${tag}-plain`))?.notes, 'üñí — ok');
        assert.equal((await store.runs.loadSyncState()).users.find((u) => u.id === b.id)?.notes, 'üñí — ok');
        await store.transaction((tx) => tx.users.update([{ id: b.id, firstName: 'Unrelated' }]));
        assert.equal((await store.users.get(b.id))?.notes, 'üñí — ok', 'patches without notes leave them');

        assert.deepEqual(
          (await store.users.list({ search: tag, isAdmin: true, limit: 10, offset: 0 })).users.map((u) => u.id),
          [b.id],
        );
        assert.deepEqual(
          (await store.users.list({ search: tag, isAdmin: false, limit: 10, offset: 0 })).users.map((u) => u.id),
          [a.id],
        );
        assert.equal((await store.users.list({ search: tag, isAdmin: false, source: 'local', limit: 10, offset: 0 })).total, 0);
      });
    });

    it('inserts sessions, finds them by token hash and touches them forward only', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [u] = await store.transaction((tx) => tx.users.insert([user(tag, 'sess')]));
          assert.ok(u);
          const expiresAt = shift(clock.iso(), 60 * MINUTE);
          const session = await store.transaction((tx) =>
            tx.sessions.insert({ userId: u.id, tokenHash: tokenHash(`${tag}-1`), expiresAt: expiresAt.replace('Z', '+00:00'), clientAddress: '192.0.2.7' }),
          );
          assert.deepEqual(session, {
            id: session.id,
            userId: u.id,
            createdAt: clock.iso(),
            expiresAt,
            lastSeenAt: null,
            revokedAt: null,
            revokedReason: null,
            clientAddress: '192.0.2.7',
          });
          assert.equal('tokenHash' in session, false, 'the hash is not handed out');
          assert.deepEqual(await store.sessions.findByTokenHash(tokenHash(`${tag}-1`)), session);
          assert.equal(await store.sessions.findByTokenHash(tokenHash(`${tag}-unknown`)), undefined);
          const bare = await store.transaction((tx) => tx.sessions.insert({ userId: u.id, tokenHash: tokenHash(`${tag}-2`), expiresAt }));
          assert.equal(bare.clientAddress, null);

          await rejectsWithCode(
            store.transaction((tx) => tx.sessions.insert({ userId: u.id, tokenHash: tokenHash(`${tag}-1`), expiresAt })),
            'store.conflict',
          );
          await rejectsWithCode(
            store.transaction((tx) => tx.sessions.insert({ userId: '00000000-0000-4000-8000-000000000000', tokenHash: tokenHash(`${tag}-3`), expiresAt })),
            'store.not_found',
          );
          await rejectsWithCode(
            store.transaction((tx) => tx.sessions.insert({ userId: u.id, tokenHash: `${tag}-raw-token`, expiresAt })),
            'usage.invalid',
          );
          await rejectsWithCode(
            store.transaction((tx) => tx.sessions.insert({ userId: u.id, tokenHash: tokenHash(`${tag}-4`).toUpperCase(), expiresAt })),
            'usage.invalid',
          );
          await rejectsWithCode(
            store.transaction((tx) => tx.sessions.insert({ userId: u.id, tokenHash: tokenHash(`${tag}-5`), expiresAt: 'tomorrow' })),
            'usage.invalid',
          );

          const seen1 = shift(clock.iso(), 5 * MINUTE);
          const seen0 = shift(clock.iso(), 2 * MINUTE);
          await store.transaction((tx) => tx.sessions.touch(session.id, seen1));
          await store.transaction((tx) => tx.sessions.touch(session.id, seen0));
          assert.equal((await store.sessions.findByTokenHash(tokenHash(`${tag}-1`)))?.lastSeenAt, seen1, 'an older touch does not move lastSeenAt back');
          await store.transaction((tx) => tx.sessions.touch(session.id, shift(seen1, 1)));
          assert.equal((await store.sessions.findByTokenHash(tokenHash(`${tag}-1`)))?.lastSeenAt, shift(seen1, 1));
          assert.equal((await store.sessions.findByTokenHash(tokenHash(`${tag}-2`)))?.lastSeenAt, null, 'other sessions untouched');
          await store.transaction((tx) => tx.sessions.touch('00000000-0000-4000-8000-000000000000', seen1));
        },
        { now: clock.now },
      );
    });

    it('lists sessions newest first with usernames, filtering by user and by activity', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [u, v] = await store.transaction((tx) => tx.users.insert([user(tag, 'Lister'), user(tag, 'other')]));
          assert.ok(u && v);
          const start = clock.iso();
          const add = async (n: number, userId: string, ttlMinutes: number): Promise<SessionRecord> => {
            const session = await store.transaction((tx) =>
              tx.sessions.insert({ userId, tokenHash: tokenHash(`${tag}-${n}`), expiresAt: shift(clock.iso(), ttlMinutes * MINUTE) }),
            );
            clock.advance(MINUTE);
            return session;
          };
          const short = await add(1, u.id, 10); // created at +0, expires at +10
          const revoked = await add(2, u.id, 60); // created at +1
          const long = await add(3, u.id, 60); // created at +2
          const others = await add(4, v.id, 60);
          await store.transaction((tx) => tx.sessions.revoke({ ids: [revoked.id] }, 'logout', clock.iso()));

          const all = await store.sessions.list({ userId: u.id, limit: 10, offset: 0 });
          assert.equal(all.total, 3);
          assert.deepEqual(
            all.sessions.map((s) => s.id),
            [long.id, revoked.id, short.id],
            'newest first',
          );
          assert.deepEqual(
            all.sessions.map((s) => s.username),
            [`${tag}-Lister`, `${tag}-Lister`, `${tag}-Lister`],
          );
          assert.equal(all.sessions[1]?.revokedReason, 'logout');
          assert.deepEqual(
            (await store.sessions.list({ userId: u.id, limit: 1, offset: 1 })).sessions.map((s) => s.id),
            [revoked.id],
          );

          // The store clock is at +4: `short` is still active.
          const active = await store.sessions.list({ userId: u.id, isActive: true, limit: 10, offset: 0 });
          assert.deepEqual(
            active.sessions.map((s) => s.id),
            [long.id, short.id],
          );
          assert.equal(active.total, 2);
          assert.deepEqual(
            (await store.sessions.list({ userId: u.id, isActive: false, limit: 10, offset: 0 })).sessions.map((s) => s.id),
            [revoked.id],
          );

          // At +10 `short` has expired (expiry is exclusive): with an explicit `now` and by the store clock.
          const at10 = shift(start, 10 * MINUTE);
          assert.deepEqual(
            (await store.sessions.list({ userId: u.id, isActive: true, now: at10, limit: 10, offset: 0 })).sessions.map((s) => s.id),
            [long.id],
          );
          assert.deepEqual(
            (await store.sessions.list({ userId: u.id, isActive: false, now: at10, limit: 10, offset: 0 })).sessions.map((s) => s.id),
            [revoked.id, short.id],
          );
          clock.advance(6 * MINUTE);
          const ended = await store.sessions.list({ userId: u.id, isActive: false, limit: 10, offset: 0 });
          assert.deepEqual(
            ended.sessions.map((s) => s.id),
            [revoked.id, short.id],
          );
          assert.equal(ended.total, 2);

          const everyone = await store.sessions.list({ isActive: true, limit: 1_000, offset: 0 });
          assert.ok(everyone.sessions.some((s) => s.id === others.id && s.username === `${tag}-other`));
          assert.ok(everyone.total >= 2);
          await rejectsWithCode(store.sessions.list({ limit: 1, offset: -1 }), 'usage.invalid');
          await rejectsWithCode(store.sessions.list({ limit: 1, offset: 0, isActive: true, now: 'soon' }), 'usage.invalid');
        },
        { now: clock.now },
      );
    });

    it('revokes only active sessions, by id and by user, and returns them', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [u, v, w] = await store.transaction((tx) => tx.users.insert([user(tag, 'r1'), user(tag, 'r2'), user(tag, 'r3')]));
          assert.ok(u && v && w);
          const add = (n: number, userId: string, ttlMinutes: number) =>
            store.transaction((tx) => tx.sessions.insert({ userId, tokenHash: tokenHash(`${tag}-${n}`), expiresAt: shift(clock.iso(), ttlMinutes * MINUTE) }));
          const u1 = await add(1, u.id, 60);
          const u2 = await add(2, u.id, 60);
          const uExpired = await add(3, u.id, 1);
          const uRevoked = await add(4, u.id, 60);
          const v1 = await add(5, v.id, 60);
          const w1 = await add(6, w.id, 60);
          await store.transaction((tx) => tx.sessions.revoke({ ids: [uRevoked.id] }, 'logout', clock.iso()));
          clock.advance(2 * MINUTE);
          const at = clock.iso();

          const first = await store.transaction((tx) => tx.sessions.revoke({ ids: [u1.id, uExpired.id, u1.id], userIds: [v.id] }, 'admin', at));
          assert.deepEqual(first.map((s) => s.id).sort(), [u1.id, v1.id].sort());
          for (const session of first) {
            assert.equal(session.revokedAt, at);
            assert.equal(session.revokedReason, 'admin');
          }
          assert.deepEqual(
            first.find((s) => s.id === u1.id),
            { ...u1, revokedAt: at, revokedReason: 'admin' },
          );

          const second = await store.transaction((tx) => tx.sessions.revoke({ ids: [u1.id], userIds: [u.id] }, 'user disabled', shift(at, 1_000)));
          assert.deepEqual(
            second.map((s) => s.id),
            [u2.id],
            'already revoked and expired sessions are left alone',
          );
          assert.equal((await store.sessions.findByTokenHash(tokenHash(`${tag}-1`)))?.revokedReason, 'admin', 'the first revocation stands');
          assert.equal((await store.sessions.findByTokenHash(tokenHash(`${tag}-4`)))?.revokedReason, 'logout');
          assert.equal((await store.sessions.findByTokenHash(tokenHash(`${tag}-3`)))?.revokedAt, null, 'expired sessions are not revoked');
          assert.equal((await store.sessions.findByTokenHash(tokenHash(`${tag}-6`)))?.revokedAt, null, 'other users keep theirs');

          assert.deepEqual(await store.transaction((tx) => tx.sessions.revoke({}, 'nothing', at)), []);
          assert.deepEqual(await store.transaction((tx) => tx.sessions.revoke({ ids: [], userIds: [] }, 'nothing', at)), []);
          // Many ids: more than one statement's worth.
          const many = [...Array.from({ length: 6_000 }, () => randomUUID()), w1.id];
          const bulk = await store.transaction((tx) => tx.sessions.revoke({ ids: many, userIds: many }, 'bulk', at));
          assert.deepEqual(
            bulk.map((s) => s.id),
            [w1.id],
          );
          await rejectsWithCode(
            store.transaction((tx) => tx.sessions.revoke({ ids: [u2.id] }, 'x', 'now')),
            'usage.invalid',
          );
        },
        { now: clock.now },
      );
    });

    it('revokes the active sessions of disabled users', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [on, off, gone] = await store.transaction((tx) => tx.users.insert([user(tag, 'on'), user(tag, 'off'), user(tag, 'gone')]));
          assert.ok(on && off && gone);
          const add = (n: number, userId: string, ttlMinutes: number) =>
            store.transaction((tx) => tx.sessions.insert({ userId, tokenHash: tokenHash(`${tag}-${n}`), expiresAt: shift(clock.iso(), ttlMinutes * MINUTE) }));
          const onSession = await add(1, on.id, 60);
          const off1 = await add(2, off.id, 60);
          const off2 = await add(3, off.id, 60);
          const offExpired = await add(4, off.id, 1);
          const gone1 = await add(5, gone.id, 60);
          const mine = new Set([onSession.id, off1.id, off2.id, offExpired.id, gone1.id]);
          await store.transaction((tx) =>
            tx.users.update([
              { id: off.id, isEnabled: false, disabledBy: 'directory' },
              { id: gone.id, isEnabled: false, disabledBy: 'sync' },
            ]),
          );
          clock.advance(2 * MINUTE);
          const at = clock.iso();
          const revoked = await store.transaction((tx) => tx.sessions.revokeOfDisabledUsers('user disabled', at));
          const revokedMine = revoked.filter((s) => mine.has(s.id));
          assert.deepEqual(revokedMine.map((s) => s.id).sort(), [off1.id, off2.id, gone1.id].sort());
          assert.ok(revokedMine.every((s) => s.revokedAt === at && s.revokedReason === 'user disabled'));
          assert.equal((await store.sessions.findByTokenHash(tokenHash(`${tag}-1`)))?.revokedAt, null);
          assert.equal((await store.sessions.findByTokenHash(tokenHash(`${tag}-4`)))?.revokedAt, null, 'expired sessions stay as they are');

          const again = await store.transaction((tx) => tx.sessions.revokeOfDisabledUsers('user disabled', shift(at, 1)));
          assert.equal(again.filter((s) => mine.has(s.id)).length, 0, 'already revoked sessions are not returned again');
          // Re-enabled and disabled again: only the new session is revoked.
          await store.transaction((tx) => tx.users.update([{ id: off.id, isEnabled: true, disabledBy: null }]));
          const fresh = await add(6, off.id, 60);
          assert.equal(
            (await store.transaction((tx) => tx.sessions.revokeOfDisabledUsers('user disabled', at))).some((s) => s.id === fresh.id),
            false,
          );
          await store.transaction((tx) => tx.users.update([{ id: off.id, isEnabled: false, disabledBy: 'admin' }]));
          const third = await store.transaction((tx) => tx.sessions.revokeOfDisabledUsers('user disabled', at));
          assert.deepEqual(
            third.filter((s) => mine.has(s.id) || s.id === fresh.id).map((s) => s.id),
            [fresh.id],
          );
        },
        { now: clock.now },
      );
    });

    it('deletes sessions that ended before a time, and cascades user deletion to sessions', async () => {
      // A timeline of its own (1990), so the count covers only this test's sessions.
      const clock = manualClock('1990-01-01T00:00:00.000Z');
      await withStore(
        async (store) => {
          const tag = newTag();
          const [u, v] = await store.transaction((tx) => tx.users.insert([user(tag, 'old'), user(tag, 'doomed')]));
          assert.ok(u && v);
          const add = (n: number, userId: string, ttlMinutes: number) =>
            store.transaction((tx) => tx.sessions.insert({ userId, tokenHash: tokenHash(`${tag}-${n}`), expiresAt: shift(clock.iso(), ttlMinutes * MINUTE) }));
          await add(1, u.id, 10); // expires at +10
          const revokedEarly = await add(2, u.id, 600);
          const survivor = await add(3, u.id, 600); // active until +600
          await add(4, u.id, 30); // expires at +30
          await store.transaction((tx) => tx.sessions.revoke({ ids: [revokedEarly.id] }, 'logout', shift(clock.iso(), 5 * MINUTE)));

          assert.equal(
            await store.transaction((tx) => tx.sessions.deleteEndedBefore(shift(clock.iso(), 10 * MINUTE))),
            1,
            'only the revoked one ended before +10',
          );
          assert.equal(await store.sessions.findByTokenHash(tokenHash(`${tag}-2`)), undefined);
          assert.ok(await store.sessions.findByTokenHash(tokenHash(`${tag}-1`)), 'expiring exactly at the limit is kept');
          assert.equal(await store.transaction((tx) => tx.sessions.deleteEndedBefore(shift(clock.iso(), 60 * MINUTE))), 2);
          assert.deepEqual(
            (await store.sessions.list({ userId: u.id, limit: 10, offset: 0 })).sessions.map((s) => s.id),
            [survivor.id],
          );

          const doomed = await add(5, v.id, 600);
          await store.transaction((tx) => tx.users.delete([v.id]));
          assert.equal(await store.sessions.findByTokenHash(tokenHash(`${tag}-5`)), undefined, 'sessions go with their user');
          assert.equal((await store.sessions.list({ userId: v.id, limit: 10, offset: 0 })).total, 0);
          assert.equal((await store.transaction((tx) => tx.sessions.revoke({ ids: [doomed.id] }, 'x', clock.iso()))).length, 0);
          assert.ok(await store.sessions.findByTokenHash(tokenHash(`${tag}-3`)), 'other users keep theirs');
        },
        { now: clock.now },
      );
    });

    it('appends to the audit log and lists it newest first, by user and by action', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [u, v] = await store.transaction((tx) => tx.users.insert([user(tag, 'audited'), user(tag, 'bystander')]));
          assert.ok(u && v);
          const created = `${tag}.created`;
          const disabled = `${tag}.disabled`;
          await store.transaction((tx) =>
            tx.audit.append([
              {
                actor: 'sync',
                action: created,
                userId: u.id,
                subject: u.username,
                details: { dn: 'uid=a,dc=example,dc=org', groups: ['x', 'y'], n: 2, ok: true, none: null },
              },
              { actor: 'sync', action: created, userId: v.id, subject: v.username },
              // Same `at` as the two above: listed after them (newest first) because appended later.
              { actor: 'admin:alice', action: disabled, userId: u.id, reason: 'left the company' },
              { actor: 'login', action: `${tag}.failed`, subject: `${tag}-nobody`, at: '2029-12-31T23:00:00-02:00' },
            ]),
          );
          clock.advance(1_000);
          await store.transaction((tx) => tx.audit.append([{ actor: 'auto-logout', action: `${tag}.revoked`, userId: u.id, reason: 'user disabled' }]));
          await store.transaction((tx) => tx.audit.append([]));

          const forU = await store.audit.list({ userId: u.id, limit: 10, offset: 0 });
          assert.equal(forU.total, 3);
          assert.deepEqual(
            forU.entries.map((e) => e.action),
            [`${tag}.revoked`, disabled, created],
          );
          const [revokedEntry, disabledEntry, createdEntry] = forU.entries;
          assert.ok(revokedEntry && disabledEntry && createdEntry);
          assert.equal(revokedEntry.at, clock.iso());
          assert.equal(disabledEntry.at, shift(clock.iso(), -1_000));
          assert.deepEqual(disabledEntry, {
            id: disabledEntry.id,
            at: shift(clock.iso(), -1_000),
            actor: 'admin:alice',
            action: disabled,
            userId: u.id,
            subject: null,
            reason: 'left the company',
            details: null,
          });
          assert.deepEqual(createdEntry.details, { dn: 'uid=a,dc=example,dc=org', groups: ['x', 'y'], n: 2, ok: true, none: null });
          assert.equal(createdEntry.subject, u.username);
          assert.deepEqual(
            (await store.audit.list({ userId: u.id, limit: 1, offset: 1 })).entries.map((e) => e.action),
            [disabled],
          );

          const byAction = await store.audit.list({ action: created, limit: 10, offset: 0 });
          assert.equal(byAction.total, 2);
          assert.deepEqual(
            byAction.entries.map((e) => e.userId),
            [v.id, u.id],
          );
          assert.deepEqual(
            (await store.audit.list({ action: created, userId: v.id, limit: 10, offset: 0 })).entries.map((e) => e.subject),
            [v.username],
          );
          const failed = await store.audit.list({ action: `${tag}.failed`, limit: 10, offset: 0 });
          assert.equal(failed.entries[0]?.at, '2030-01-01T01:00:00.000Z', 'explicit times are normalised to UTC');
          assert.equal(failed.entries[0]?.userId, null);
          const everything = await store.audit.list({ limit: 3, offset: 0 });
          assert.ok(everything.total >= 5);
          assert.equal(everything.entries.length, 3);
          assert.equal(everything.entries[0]?.id, revokedEntry.id, 'the whole log is newest first too');

          await rejectsWithCode(
            store.transaction((tx) => tx.audit.append([{ actor: 'x', action: 'y', details: { bad: Number.POSITIVE_INFINITY } }])),
            'usage.invalid',
          );
          await rejectsWithCode(
            store.transaction((tx) => tx.audit.append([{ actor: 'x', action: 'y', at: 'later' }])),
            'usage.invalid',
          );
          await rejectsWithCode(store.audit.list({ limit: 1.5, offset: 0 }), 'usage.invalid');
        },
        { now: clock.now },
      );
    });

    it('keeps audit entries after their user is deleted, and accepts entries about deleted users', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [u] = await store.transaction((tx) => tx.users.insert([user(tag, 'leaver')]));
          assert.ok(u);
          await store.transaction((tx) => tx.audit.append([{ actor: 'sync', action: 'user.created', userId: u.id, subject: u.username }]));
          clock.advance(1);
          await store.transaction(async (tx) => {
            await tx.users.delete([u.id]);
            await tx.audit.append([{ actor: 'admin:root', action: 'user.deleted', userId: u.id, subject: u.username, reason: 'left' }]);
          });
          assert.equal(await store.users.get(u.id), undefined);
          const history = await store.audit.list({ userId: u.id, limit: 10, offset: 0 });
          assert.deepEqual(
            history.entries.map((e) => [e.action, e.userId, e.subject]),
            [
              ['user.deleted', u.id, u.username],
              ['user.created', u.id, u.username],
            ],
          );
        },
        { now: clock.now },
      );
    });

    it('pages the audit log by id after a cursor, filtered by action prefix (wildcards escaped) and exact action', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const actions = [`${tag}.a.one`, `${tag}Za.like`, `${tag}_a.two`, `${tag}.exact`, `${tag}.exactly`, `${tag}.a.three`, `${tag}%a.pct`];
        for (const action of actions) await store.transaction((tx) => tx.audit.append([{ actor: 'sync', action }]));
        const query = { actionPrefixes: [`${tag}.a.`, `${tag}_a.`], actions: [`${tag}.exact`] };
        const first = await store.audit.listAfter({ ...query, limit: 2 });
        assert.deepEqual(
          first.map((entry) => entry.action),
          [`${tag}.a.one`, `${tag}_a.two`],
        );
        const rest = await store.audit.listAfter({ ...query, after: first[1]?.id ?? '', limit: 10 });
        assert.deepEqual(
          rest.map((entry) => entry.action),
          [`${tag}.exact`, `${tag}.a.three`],
        );
        assert.deepEqual(await store.audit.listAfter({ ...query, after: rest[1]?.id ?? '', limit: 10 }), []);
        const bounded = await store.audit.listAfter({ ...query, before: rest[0]?.id ?? '', limit: 10 });
        assert.deepEqual(
          bounded.map((entry) => entry.action),
          [`${tag}.a.one`, `${tag}_a.two`],
        );
        assert.deepEqual(await store.audit.listAfter({ actionPrefixes: [], actions: [], limit: 10 }), []);
      });
    });

    it('keeps insertion order among audit entries with the same time, across statements', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const count = 9_000; // more rows than one statement holds on either backend
          await store.transaction((tx) => tx.audit.append(Array.from({ length: count }, (_, i) => ({ actor: 'sync', action: `${tag}.bulk`, details: { i } }))));
          const listed = await store.audit.list({ action: `${tag}.bulk`, limit: count, offset: 0 });
          assert.equal(listed.total, count);
          assert.ok(
            listed.entries.every(
              (e, index) =>
                e.at === clock.iso() &&
                typeof e.details === 'object' &&
                e.details !== null &&
                !Array.isArray(e.details) &&
                e.details['i'] === count - 1 - index,
            ),
          );
          assert.equal(new Set(listed.entries.map((e) => e.id)).size, count);
        },
        { now: clock.now },
      );
    });

    it('handles batches larger than one statement (chunking) and loads them back', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const userCount = 4_000;
        const groupCount = 30;
        const users = await store.transaction((tx) =>
          tx.users.insert(Array.from({ length: userCount }, (_, i) => user(tag, `bulk${i}`, { email: `bulk${i}.${tag}@example.org`, firstName: 'Bulk' }))),
        );
        const groups = await store.transaction((tx) =>
          tx.groups.insert(
            Array.from({ length: groupCount }, (_, i) => ({ name: `${tag}-bg${i}`, source: 'directory' as const, externalId: `${tag}:bg${i}` })),
          ),
        );
        const pairs = users.flatMap((u, i) => [0, 1, 2].map((k) => ({ userId: u.id, groupId: groups[(i + k) % groupCount]!.id })));
        await store.transaction((tx) => tx.groups.addMemberships(pairs));
        // Every user patched, with two different column sets, plus a rotation across the whole batch.
        await store.transaction((tx) =>
          tx.users.update(
            users.map((u, i) => (i % 2 === 0 ? { id: u.id, missingRuns: 1 } : { id: u.id, username: `${tag}-bulk${(i + 2) % userCount}`, isEnabled: false })),
          ),
        );
        await store.transaction((tx) => tx.groups.removeMemberships(pairs.filter((_, i) => i % 3 === 0)));

        const state = await store.runs.loadSyncState();
        const mine = new Map(state.users.filter((u) => u.username.startsWith(`${tag}-`)).map((u) => [u.id, u]));
        assert.equal(mine.size, userCount);
        const groupIds = new Set(groups.map((g) => g.id));
        assert.equal(state.memberships.filter((m) => groupIds.has(m.groupId)).length, (pairs.length * 2) / 3);
        const first = mine.get(users[0]!.id);
        assert.equal(first?.missingRuns, 1);
        assert.equal(first?.isEnabled, true);
        const odd = mine.get(users[1]!.id);
        assert.equal(odd?.username, `${tag}-bulk3`);
        assert.equal(odd?.isEnabled, false);
        assert.equal((await store.users.findByUsername(`${tag}-bulk1`))?.id, users[userCount - 1]!.id);
        assert.equal(new Set([...mine.values()].map((u) => u.username.toLowerCase())).size, userCount);
      });
    });

    // ---- mapping: roles, channels, teams, custom fields, ABAC attributes, avatars ----

    it('grants roles idempotently, revokes only the listed ones, and lists them', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [u1, u2, u3] = await store.transaction((tx) => tx.users.insert([user(tag, 'r1'), user(tag, 'r2'), user(tag, 'r3')]));
        assert.ok(u1 && u2 && u3);
        const admin = `${tag}-admin`;
        const mod = `${tag}-Moderator`;
        const bot = `${tag}-bot`;
        const grants = [
          { userId: u1.id, role: mod },
          { userId: u1.id, role: admin },
          { userId: u2.id, role: mod },
          { userId: u1.id, role: bot },
        ];
        await store.transaction((tx) => tx.mapping.grantRoles(grants));
        // Granting again (and twice in one batch) changes nothing.
        await store.transaction((tx) => tx.mapping.grantRoles([...grants, { userId: u2.id, role: mod }, { userId: u2.id, role: mod }]));
        await store.transaction((tx) => tx.mapping.grantRoles([]));
        assert.deepEqual(await store.mapping.listUserRoles(u1.id), [mod, admin, bot].sort());
        assert.deepEqual(await store.mapping.listUserRoles(u2.id), [mod]);
        assert.deepEqual(await store.mapping.listUserRoles(u3.id), []);
        const mine = (await store.mapping.listRoles()).filter((r) => r.role.startsWith(`${tag}-`));
        assert.deepEqual(mine, [
          { role: mod, userCount: 2 },
          { role: admin, userCount: 1 },
          { role: bot, userCount: 1 },
        ]);
        const holders = await store.mapping.listRoleMembers(mod, { limit: 1, offset: 0 });
        assert.equal(holders.total, 2);
        assert.deepEqual(
          holders.users.map((u) => u.id),
          [[u1, u2].sort((a, b) => a.username.toLowerCase().localeCompare(b.username.toLowerCase()))[0]?.id],
        );
        assert.equal((await store.mapping.listRoleMembers(mod, { limit: 10, offset: 1 })).users.length, 1);
        assert.deepEqual(await store.mapping.listRoleMembers(`${tag}-nobody`, { limit: 10, offset: 0 }), { total: 0, users: [] });

        // Only the listed grants go; absent ones (and other users' same role) are ignored.
        await store.transaction((tx) =>
          tx.mapping.revokeRoles([
            { userId: u1.id, role: mod },
            { userId: u1.id, role: `${tag}-never` },
            { userId: u3.id, role: admin },
          ]),
        );
        await store.transaction((tx) => tx.mapping.revokeRoles([]));
        assert.deepEqual(await store.mapping.listUserRoles(u1.id), [admin, bot].sort());
        assert.deepEqual(await store.mapping.listUserRoles(u2.id), [mod]);
        // Roles are case-sensitive names: revoking another spelling leaves the grant.
        await store.transaction((tx) => tx.mapping.revokeRoles([{ userId: u2.id, role: mod.toLowerCase() }]));
        assert.deepEqual(await store.mapping.listUserRoles(u2.id), [mod]);
        await rejectsWithCode(
          store.transaction((tx) => tx.mapping.grantRoles([{ userId: '00000000-0000-4000-8000-000000000000', role: admin }])),
          'store.not_found',
        );
      });
    });

    it('sets channel owners in batches: per distinct owner, null removes, unknown ids ignored, last entry wins, rolled back with its transaction', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const channels = await store.transaction((tx) =>
          tx.mapping.insertChannels(
            Array.from({ length: 5 }, (_, index) => ({ name: `${tag}-own${index}`, ownerUsername: `${tag}-old`, source: 'directory' as const })),
          ),
        );
        const [c0, c1, c2, c3, c4] = channels;
        assert.ok(c0 && c1 && c2 && c3 && c4);
        await store.transaction((tx) =>
          tx.mapping.setChannelOwners([
            { channelId: c0.id, ownerUsername: `${tag}-admin` },
            { channelId: c1.id, ownerUsername: null },
            { channelId: c2.id, ownerUsername: `${tag}-admin` },
            { channelId: '00000000-0000-4000-8000-000000000000', ownerUsername: `${tag}-admin` },
            { channelId: c3.id, ownerUsername: null },
            { channelId: c3.id, ownerUsername: `${tag}-other` },
          ]),
        );
        await store.transaction((tx) => tx.mapping.setChannelOwners([]));
        const owners = async () =>
          (await store.mapping.listChannels({ search: `${tag}-own`, limit: 10, offset: 0 })).channels.map((c) => [c.name, c.ownerUsername]);
        assert.deepEqual(await owners(), [
          [`${tag}-own0`, `${tag}-admin`],
          [`${tag}-own1`, null],
          [`${tag}-own2`, `${tag}-admin`],
          [`${tag}-own3`, `${tag}-other`],
          [`${tag}-own4`, `${tag}-old`],
        ]);
        assert.deepEqual(
          await store.mapping.findChannelByName(`${tag}-own0`),
          { ...c0, ownerUsername: `${tag}-admin`, memberCount: 0 },
          'only the owner changed',
        );
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.mapping.setChannelOwners([{ channelId: c4.id, ownerUsername: null }]);
            throw new Error('abort');
          }),
          /abort/,
        );
        assert.equal((await store.mapping.findChannelByName(`${tag}-own4`))?.ownerUsername, `${tag}-old`, 'rolled back');
      });
    });

    it('creates channels with case-insensitively unique names, manages members and lists them with counts', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [u1, u2, u3] = await store.transaction((tx) => tx.users.insert([user(tag, 'cb'), user(tag, 'ca'), user(tag, 'cc')]));
          assert.ok(u1 && u2 && u3);
          const [general, dev, empty] = await store.transaction((tx) =>
            tx.mapping.insertChannels([
              { name: `${tag}-General`, ownerUsername: `${tag}-ca`, source: 'directory' },
              { name: `${tag}-dev_ops`, ownerUsername: null, source: 'directory' },
              { name: `${tag}-empty`, ownerUsername: null, source: 'local' },
            ]),
          );
          assert.ok(general && dev && empty);
          assert.deepEqual(general, { id: general.id, name: `${tag}-General`, ownerUsername: `${tag}-ca`, source: 'directory', createdAt: clock.iso() });
          assert.deepEqual(await store.transaction((tx) => tx.mapping.insertChannels([])), []);

          // Case-insensitive clash with an existing channel, and within one batch: store.conflict, nothing written.
          const clash = await rejectsWithCode(
            store.transaction((tx) =>
              tx.mapping.insertChannels([
                { name: `${tag}-other`, ownerUsername: null, source: 'directory' },
                { name: `${tag}-GENERAL`, ownerUsername: null, source: 'directory' },
              ]),
            ),
            'store.conflict',
          );
          assert.match(String(clash), /GENERAL/);
          await rejectsWithCode(
            store.transaction((tx) =>
              tx.mapping.insertChannels([
                { name: `${tag}-Twin`, ownerUsername: null, source: 'directory' },
                { name: `${tag}-twin`, ownerUsername: null, source: 'directory' },
              ]),
            ),
            'store.conflict',
          );
          assert.equal((await store.mapping.listChannels({ search: tag, limit: 10, offset: 0 })).total, 3);

          const pairs = [
            { channelId: general.id, userId: u1.id },
            { channelId: general.id, userId: u2.id },
            { channelId: dev.id, userId: u1.id },
          ];
          await store.transaction((tx) => tx.mapping.addChannelMembers(pairs));
          await store.transaction((tx) => tx.mapping.addChannelMembers([...pairs, pairs[0]!]));
          await store.transaction((tx) => tx.mapping.addChannelMembers([]));

          const listed = await store.mapping.listChannels({ search: tag, limit: 10, offset: 0 });
          assert.equal(listed.total, 3);
          assert.deepEqual(
            listed.channels.map((c) => [c.name, c.memberCount]),
            [
              [`${tag}-dev_ops`, 1],
              [`${tag}-empty`, 0],
              [`${tag}-General`, 2],
            ],
          );
          assert.deepEqual(listed.channels[2], { ...general, memberCount: 2 });
          // Search is case-insensitive and literal (the underscore is no wildcard).
          assert.deepEqual(
            (await store.mapping.listChannels({ search: `${tag}-GEN`, limit: 10, offset: 0 })).channels.map((c) => c.id),
            [general.id],
          );
          assert.deepEqual(
            (await store.mapping.listChannels({ search: `${tag}-dev_`, limit: 10, offset: 0 })).channels.map((c) => c.id),
            [dev.id],
          );
          assert.equal((await store.mapping.listChannels({ search: `${tag}-dev%`, limit: 10, offset: 0 })).total, 0);
          const page = await store.mapping.listChannels({ search: tag, limit: 1, offset: 1 });
          assert.equal(page.total, 3);
          assert.deepEqual(
            page.channels.map((c) => c.id),
            [empty.id],
          );
          await rejectsWithCode(store.mapping.listChannels({ limit: -1, offset: 0 }), 'usage.invalid');

          // One channel by name: case-insensitively, exactly (no wildcards), with its member count.
          assert.deepEqual(await store.mapping.findChannelByName(`${tag}-general`), { ...general, memberCount: 2 });
          assert.deepEqual(await store.mapping.findChannelByName(`${tag}-DEV_OPS`), { ...dev, memberCount: 1 });
          assert.deepEqual(await store.mapping.findChannelByName(`${tag}-empty`), { ...empty, memberCount: 0 });
          assert.equal(await store.mapping.findChannelByName(`${tag}-dev%`), undefined);
          assert.equal(await store.mapping.findChannelByName(`${tag}-dev_op_`), undefined);
          assert.equal(await store.mapping.findChannelByName(`${tag}-gen`), undefined);
          assert.equal(await store.mapping.findChannelByName(''), undefined);
          assert.deepEqual(await store.transaction((tx) => tx.mapping.findChannelByName(`${tag}-GENERAL`)), { ...general, memberCount: 2 });

          const members = await store.mapping.listChannelMembers(general.id, { limit: 10, offset: 0 });
          assert.equal(members.total, 2);
          assert.deepEqual(
            members.users.map((u) => u.id),
            [u2.id, u1.id],
            'ordered by username',
          );
          assert.deepEqual(
            (await store.mapping.listChannelMembers(general.id, { limit: 1, offset: 1 })).users.map((u) => u.id),
            [u1.id],
          );
          assert.deepEqual(await store.mapping.listUserChannels(u1.id), [dev, general]);
          assert.deepEqual(await store.mapping.listUserChannels(u3.id), []);

          await store.transaction((tx) =>
            tx.mapping.removeChannelMembers([
              { channelId: general.id, userId: u1.id },
              { channelId: empty.id, userId: u3.id },
            ]),
          );
          await store.transaction((tx) => tx.mapping.removeChannelMembers([]));
          assert.deepEqual(
            (await store.mapping.listChannelMembers(general.id, { limit: 10, offset: 0 })).users.map((u) => u.id),
            [u2.id],
          );
          assert.deepEqual(
            (await store.mapping.listUserChannels(u1.id)).map((c) => c.id),
            [dev.id],
          );

          await rejectsWithCode(
            store.transaction((tx) => tx.mapping.addChannelMembers([{ channelId: '00000000-0000-4000-8000-000000000000', userId: u3.id }])),
            'store.not_found',
          );
          await rejectsWithCode(
            store.transaction((tx) => tx.mapping.addChannelMembers([{ channelId: empty.id, userId: '00000000-0000-4000-8000-000000000000' }])),
            'store.not_found',
          );
          assert.equal((await store.mapping.listChannelMembers(empty.id, { limit: 10, offset: 0 })).total, 0);
        },
        { now: clock.now },
      );
    });

    it('creates teams with case-insensitively unique names, manages members and lists them with counts', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [u1, u2, u3] = await store.transaction((tx) => tx.users.insert([user(tag, 'tb'), user(tag, 'ta'), user(tag, 'tc')]));
          assert.ok(u1 && u2 && u3);
          const [sales, eng] = await store.transaction((tx) =>
            tx.mapping.insertTeams([
              { name: `${tag}-Sales`, source: 'directory' },
              { name: `${tag}-eng`, source: 'local' },
            ]),
          );
          assert.ok(sales && eng);
          assert.deepEqual(sales, { id: sales.id, name: `${tag}-Sales`, source: 'directory', createdAt: clock.iso() });
          assert.deepEqual(await store.transaction((tx) => tx.mapping.insertTeams([])), []);
          await rejectsWithCode(
            store.transaction((tx) => tx.mapping.insertTeams([{ name: `${tag}-ENG`, source: 'directory' }])),
            'store.conflict',
          );
          await rejectsWithCode(
            store.transaction((tx) =>
              tx.mapping.insertTeams([
                { name: `${tag}-x`, source: 'directory' },
                { name: `${tag}-X`, source: 'directory' },
              ]),
            ),
            'store.conflict',
          );
          assert.equal((await store.mapping.listTeams({ search: tag, limit: 10, offset: 0 })).total, 2);

          const pairs = [
            { teamId: sales.id, userId: u1.id },
            { teamId: sales.id, userId: u2.id },
            { teamId: eng.id, userId: u2.id },
          ];
          await store.transaction((tx) => tx.mapping.addTeamMembers(pairs));
          await store.transaction((tx) => tx.mapping.addTeamMembers(pairs));
          const listed = await store.mapping.listTeams({ search: tag.toUpperCase(), limit: 10, offset: 0 });
          assert.equal(listed.total, 2);
          assert.deepEqual(listed.teams, [
            { ...eng, memberCount: 1 },
            { ...sales, memberCount: 2 },
          ]);
          assert.deepEqual(
            (await store.mapping.listTeams({ search: `${tag}-sal`, limit: 10, offset: 0 })).teams.map((t) => t.id),
            [sales.id],
          );
          assert.deepEqual(
            (await store.mapping.listTeams({ search: tag, limit: 1, offset: 1 })).teams.map((t) => t.id),
            [sales.id],
          );

          // One team by name: case-insensitively, exactly, with its member count.
          assert.deepEqual(await store.mapping.findTeamByName(`${tag}-SALES`), { ...sales, memberCount: 2 });
          assert.deepEqual(await store.transaction((tx) => tx.mapping.findTeamByName(`${tag}-Eng`)), { ...eng, memberCount: 1 });
          assert.equal(await store.mapping.findTeamByName(`${tag}-sal`), undefined);
          assert.equal(await store.mapping.findTeamByName(`${tag}-%`), undefined);

          const members = await store.mapping.listTeamMembers(sales.id, { limit: 10, offset: 0 });
          assert.equal(members.total, 2);
          assert.deepEqual(
            members.users.map((u) => u.id),
            [u2.id, u1.id],
          );
          assert.deepEqual(await store.mapping.listUserTeams(u2.id), [eng, sales]);
          assert.deepEqual(await store.mapping.listUserTeams(u3.id), []);

          await store.transaction((tx) =>
            tx.mapping.removeTeamMembers([
              { teamId: sales.id, userId: u2.id },
              { teamId: eng.id, userId: u1.id },
            ]),
          );
          assert.deepEqual(
            (await store.mapping.listTeamMembers(sales.id, { limit: 10, offset: 0 })).users.map((u) => u.id),
            [u1.id],
          );
          assert.deepEqual(
            (await store.mapping.listUserTeams(u2.id)).map((t) => t.id),
            [eng.id],
          );
          await rejectsWithCode(
            store.transaction((tx) => tx.mapping.addTeamMembers([{ teamId: '00000000-0000-4000-8000-000000000000', userId: u3.id }])),
            'store.not_found',
          );
          await rejectsWithCode(
            store.transaction((tx) => tx.mapping.addTeamMembers([{ teamId: eng.id, userId: '00000000-0000-4000-8000-000000000000' }])),
            'store.not_found',
          );
        },
        { now: clock.now },
      );
    });

    it('replaces custom fields per user; an empty record clears them', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [u1, u2] = await store.transaction((tx) => tx.users.insert([user(tag, 'f1'), user(tag, 'f2')]));
        assert.ok(u1 && u2);
        await store.transaction((tx) =>
          tx.mapping.setCustomFields([
            { userId: u1.id, fields: { department: 'Sales', phone: '+49 30 1234', ünïcode: 'Grüße 🎉', empty: '' } },
            { userId: u2.id, fields: { department: 'Eng' } },
          ]),
        );
        assert.deepEqual(await store.mapping.getUserAttributes(u1.id), {
          customFields: { department: 'Sales', phone: '+49 30 1234', ünïcode: 'Grüße 🎉', empty: '' },
          abacAttributes: {},
        });
        // Replace: fields not in the new set are gone, others change; the other user is untouched.
        await store.transaction((tx) => tx.mapping.setCustomFields([{ userId: u1.id, fields: { department: 'Support', location: 'Berlin' } }]));
        assert.deepEqual((await store.mapping.getUserAttributes(u1.id)).customFields, { department: 'Support', location: 'Berlin' });
        assert.deepEqual((await store.mapping.getUserAttributes(u2.id)).customFields, { department: 'Eng' });
        // A user listed twice in one batch gets the later set.
        await store.transaction((tx) =>
          tx.mapping.setCustomFields([
            { userId: u2.id, fields: { a: '1' } },
            { userId: u2.id, fields: { b: '2' } },
          ]),
        );
        assert.deepEqual((await store.mapping.getUserAttributes(u2.id)).customFields, { b: '2' });
        // An empty record clears.
        await store.transaction((tx) => tx.mapping.setCustomFields([{ userId: u1.id, fields: {} }]));
        assert.deepEqual(await store.mapping.getUserAttributes(u1.id), { customFields: {}, abacAttributes: {} });
        await store.transaction((tx) => tx.mapping.setCustomFields([]));
        await rejectsWithCode(
          store.transaction((tx) => tx.mapping.setCustomFields([{ userId: '00000000-0000-4000-8000-000000000000', fields: {} }])),
          'store.not_found',
        );
        await rejectsWithCode(
          store.transaction((tx) => tx.mapping.setCustomFields([{ userId: '00000000-0000-4000-8000-000000000000', fields: { a: 'b' } }])),
          'store.not_found',
        );
        assert.deepEqual(await store.mapping.getUserAttributes('00000000-0000-4000-8000-000000000000'), { customFields: {}, abacAttributes: {} });
      });
    });

    it('replaces ABAC attributes per user, keeping every value in order; an empty record clears them', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [u1, u2] = await store.transaction((tx) => tx.users.insert([user(tag, 'a1'), user(tag, 'a2')]));
        assert.ok(u1 && u2);
        const clearance = ['secret', 'confidential', 'public', 'confidential'];
        await store.transaction((tx) =>
          tx.mapping.setAbacAttributes([
            { userId: u1.id, attributes: { clearance, project: ['zeta', 'alpha', 'Mu'] } },
            { userId: u2.id, attributes: { clearance: ['public'] } },
          ]),
        );
        assert.deepEqual(await store.mapping.getUserAttributes(u1.id), { customFields: {}, abacAttributes: { clearance, project: ['zeta', 'alpha', 'Mu'] } });
        await store.transaction((tx) => tx.mapping.setAbacAttributes([{ userId: u1.id, attributes: { project: ['omega'], site: ['b', 'a'] } }]));
        assert.deepEqual((await store.mapping.getUserAttributes(u1.id)).abacAttributes, { project: ['omega'], site: ['b', 'a'] });
        assert.deepEqual((await store.mapping.getUserAttributes(u2.id)).abacAttributes, { clearance: ['public'] });
        await store.transaction((tx) => tx.mapping.setAbacAttributes([{ userId: u1.id, attributes: {} }]));
        assert.deepEqual((await store.mapping.getUserAttributes(u1.id)).abacAttributes, {});
        await rejectsWithCode(
          store.transaction((tx) => tx.mapping.setAbacAttributes([{ userId: '00000000-0000-4000-8000-000000000000', attributes: {} }])),
          'store.not_found',
        );
      });
    });

    it('stores avatars byte-exact, replaces and removes them', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [u1, u2] = await store.transaction((tx) => tx.users.insert([user(tag, 'v1'), user(tag, 'v2')]));
          assert.ok(u1 && u2);
          // Not valid UTF-8 (lone continuation bytes, 0xff, NUL) and ~200 KB.
          const big = Buffer.concat([Buffer.from([0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x00]), randomBytes(200 * 1024)]);
          const small = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]);
          const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
          await store.transaction((tx) =>
            tx.mapping.setAvatars([
              { userId: u1.id, contentHash: sha(big), mimeType: 'image/png', data: big },
              { userId: u2.id, contentHash: sha(small), mimeType: 'image/jpeg', data: small },
            ]),
          );
          const first = await store.mapping.getAvatar(u1.id);
          assert.ok(first);
          assert.ok(Buffer.isBuffer(first.data));
          assert.equal(first.data.length, big.length);
          assert.ok(first.data.equals(big), 'bytes round-trip exactly');
          assert.deepEqual(first, { userId: u1.id, contentHash: sha(big), mimeType: 'image/png', data: big, updatedAt: clock.iso() });
          assert.ok((await store.mapping.getAvatar(u2.id))?.data.equals(small));

          clock.advance(MINUTE);
          const next = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff]);
          await store.transaction((tx) => tx.mapping.setAvatars([{ userId: u1.id, contentHash: sha(next), mimeType: 'image/gif', data: next }]));
          assert.deepEqual(await store.mapping.getAvatar(u1.id), {
            userId: u1.id,
            contentHash: sha(next),
            mimeType: 'image/gif',
            data: next,
            updatedAt: clock.iso(),
          });
          assert.ok((await store.mapping.getAvatar(u2.id))?.data.equals(small), 'other avatars untouched');

          await store.transaction((tx) => tx.mapping.removeAvatars([u1.id, '00000000-0000-4000-8000-000000000000']));
          await store.transaction((tx) => tx.mapping.removeAvatars([]));
          assert.equal(await store.mapping.getAvatar(u1.id), undefined);
          assert.ok(await store.mapping.getAvatar(u2.id));
          await rejectsWithCode(
            store.transaction((tx) =>
              tx.mapping.setAvatars([{ userId: '00000000-0000-4000-8000-000000000000', contentHash: 'x', mimeType: 'image/png', data: small }]),
            ),
            'store.not_found',
          );
        },
        { now: clock.now },
      );
    });

    it('lists avatar hashes, types, sizes and times without the bytes, for any number of users', async () => {
      const clock = manualClock();
      await withStore(
        async (store) => {
          const tag = newTag();
          const [u1, u2, u3] = await store.transaction((tx) => tx.users.insert([user(tag, 'i1'), user(tag, 'i2'), user(tag, 'i3')]));
          assert.ok(u1 && u2 && u3);
          const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(3000)]);
          const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00]);
          await store.transaction((tx) =>
            tx.mapping.setAvatars([
              { userId: u1.id, contentHash: `${tag}-png`, mimeType: 'image/png', data: png },
              { userId: u2.id, contentHash: `${tag}-jpeg`, mimeType: 'image/jpeg', data: jpeg },
            ]),
          );
          const byUser = (infos: Awaited<ReturnType<typeof store.mapping.listAvatarInfo>>) => new Map(infos.map((info) => [info.userId, info]));
          const infos = byUser(await store.mapping.listAvatarInfo([u1.id, u2.id, u3.id, u1.id]));
          assert.equal(infos.size, 2, 'a user without an avatar is left out, a repeated id counted once');
          assert.deepEqual(infos.get(u1.id), {
            userId: u1.id,
            contentHash: `${tag}-png`,
            mimeType: 'image/png',
            byteLength: png.length,
            updatedAt: clock.iso(),
          });
          assert.deepEqual(infos.get(u2.id), {
            userId: u2.id,
            contentHash: `${tag}-jpeg`,
            mimeType: 'image/jpeg',
            byteLength: jpeg.length,
            updatedAt: clock.iso(),
          });
          assert.deepEqual(await store.mapping.listAvatarInfo([]), []);
          // More ids than one statement takes (a page of users is at most 1000; this is several statements).
          const many = [...Array.from({ length: 6000 }, () => randomUUID()), u2.id];
          assert.deepEqual([...byUser(await store.mapping.listAvatarInfo(many)).keys()], [u2.id]);
          await store.transaction((tx) => tx.mapping.removeAvatars([u1.id]));
          assert.deepEqual([...byUser(await store.mapping.listAvatarInfo([u1.id, u2.id])).keys()], [u2.id]);
        },
        { now: clock.now },
      );
    });

    it('writes many large avatars in several statements', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const users = await store.transaction((tx) => tx.users.insert(Array.from({ length: 60 }, (_, i) => user(tag, `big${i}`))));
        const images = users.map((u) => ({ userId: u.id, contentHash: randomUUID(), mimeType: 'image/png', data: randomBytes(200 * 1024) }));
        await store.transaction((tx) => tx.mapping.setAvatars(images));
        const hashes = new Map((await store.mapping.loadState()).avatarHashes.map((a) => [a.userId, a.contentHash]));
        for (const image of images) assert.equal(hashes.get(image.userId), image.contentHash);
        const last = images[images.length - 1]!;
        assert.ok((await store.mapping.getAvatar(last.userId))?.data.equals(last.data));
      });
    });

    it('cascades user deletion to roles, channel and team members, custom fields, ABAC attributes and avatar', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [gone, stays] = await store.transaction((tx) => tx.users.insert([user(tag, 'gone'), user(tag, 'stays')]));
        assert.ok(gone && stays);
        const [channel] = await store.transaction((tx) =>
          tx.mapping.insertChannels([{ name: `${tag}-ch`, ownerUsername: gone.username, source: 'directory' }]),
        );
        const [team] = await store.transaction((tx) => tx.mapping.insertTeams([{ name: `${tag}-tm`, source: 'directory' }]));
        assert.ok(channel && team);
        await store.transaction(async (tx) => {
          for (const u of [gone, stays]) {
            await tx.mapping.grantRoles([{ userId: u.id, role: `${tag}-role` }]);
            await tx.mapping.addChannelMembers([{ channelId: channel.id, userId: u.id }]);
            await tx.mapping.addTeamMembers([{ teamId: team.id, userId: u.id }]);
            await tx.mapping.setCustomFields([{ userId: u.id, fields: { f: u.username } }]);
            await tx.mapping.setAbacAttributes([{ userId: u.id, attributes: { a: [u.username, 'x'] } }]);
            await tx.mapping.setAvatars([{ userId: u.id, contentHash: u.id, mimeType: 'image/png', data: Buffer.from(u.id) }]);
          }
        });
        await store.transaction((tx) => tx.users.delete([gone.id]));

        assert.deepEqual(await store.mapping.listUserRoles(gone.id), []);
        assert.deepEqual(await store.mapping.getUserAttributes(gone.id), { customFields: {}, abacAttributes: {} });
        assert.equal(await store.mapping.getAvatar(gone.id), undefined);
        assert.deepEqual(
          (await store.mapping.listChannelMembers(channel.id, { limit: 10, offset: 0 })).users.map((u) => u.id),
          [stays.id],
        );
        assert.deepEqual(
          (await store.mapping.listTeamMembers(team.id, { limit: 10, offset: 0 })).users.map((u) => u.id),
          [stays.id],
        );
        assert.deepEqual(
          (await store.mapping.listRoles()).filter((r) => r.role === `${tag}-role`),
          [{ role: `${tag}-role`, userCount: 1 }],
        );
        const state = await store.mapping.loadState();
        for (const list of [state.roles, state.channelMembers, state.teamMembers, state.customFields, state.abacAttributes, state.avatarHashes]) {
          assert.equal(
            list.some((entry) => entry.userId === gone.id),
            false,
          );
          assert.equal(
            list.some((entry) => entry.userId === stays.id),
            true,
          );
        }
        // The channel keeps its (now dangling) owner name: it is a name, not a reference.
        assert.equal(state.channels.find((c) => c.id === channel.id)?.ownerUsername, gone.username);
        assert.deepEqual(await store.mapping.getUserAttributes(stays.id), {
          customFields: { f: stays.username },
          abacAttributes: { a: [stays.username, 'x'] },
        });
      });
    });

    it('loads the mapping state with every grant, channel, team, member, field, attribute and avatar hash', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const [u1, u2, u3] = await store.transaction((tx) => tx.users.insert([user(tag, 's1'), user(tag, 's2'), user(tag, 's3')]));
        assert.ok(u1 && u2 && u3);
        const { channels, teams } = await store.transaction(async (tx) => {
          const channels = await tx.mapping.insertChannels([
            { name: `${tag}-c1`, ownerUsername: u1.username, source: 'directory' },
            { name: `${tag}-c2`, ownerUsername: null, source: 'local' },
          ]);
          const teams = await tx.mapping.insertTeams([{ name: `${tag}-t1`, source: 'directory' }]);
          await tx.mapping.grantRoles([
            { userId: u1.id, role: `${tag}-admin` },
            { userId: u2.id, role: `${tag}-user` },
            { userId: u1.id, role: `${tag}-user` },
          ]);
          await tx.mapping.addChannelMembers([
            { channelId: channels[0]!.id, userId: u1.id },
            { channelId: channels[0]!.id, userId: u2.id },
            { channelId: channels[1]!.id, userId: u3.id },
          ]);
          await tx.mapping.addTeamMembers([{ teamId: teams[0]!.id, userId: u2.id }]);
          await tx.mapping.setCustomFields([
            { userId: u1.id, fields: { dept: 'Sales', site: 'HQ' } },
            { userId: u3.id, fields: {} },
          ]);
          await tx.mapping.setAbacAttributes([{ userId: u2.id, attributes: { level: ['3', '1', '2'], tag: ['x'] } }]);
          await tx.mapping.setAvatars([{ userId: u3.id, contentHash: `${tag}-hash`, mimeType: 'image/png', data: Buffer.from([1, 2, 3]) }]);
          return { channels, teams };
        });
        const mine = new Set([u1.id, u2.id, u3.id]);
        const state = await store.mapping.loadState();
        const byKey = <T>(list: T[], key: (item: T) => string) => [...list].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
        assert.deepEqual(
          byKey(
            state.roles.filter((r) => mine.has(r.userId)),
            (r) => `${r.role}/${r.userId}`,
          ),
          byKey(
            [
              { userId: u1.id, role: `${tag}-admin` },
              { userId: u2.id, role: `${tag}-user` },
              { userId: u1.id, role: `${tag}-user` },
            ],
            (r) => `${r.role}/${r.userId}`,
          ),
        );
        assert.deepEqual(
          byKey(
            state.channels.filter((c) => c.name.startsWith(tag)),
            (c) => c.name,
          ),
          channels,
        );
        assert.deepEqual(
          state.teams.filter((t) => t.name.startsWith(tag)),
          teams,
        );
        const channelIds = new Set(channels.map((c) => c.id));
        assert.deepEqual(
          byKey(
            state.channelMembers.filter((m) => channelIds.has(m.channelId)),
            (m) => `${m.channelId}/${m.userId}`,
          ),
          byKey(
            [
              { channelId: channels[0]!.id, userId: u1.id },
              { channelId: channels[0]!.id, userId: u2.id },
              { channelId: channels[1]!.id, userId: u3.id },
            ],
            (m) => `${m.channelId}/${m.userId}`,
          ),
        );
        assert.deepEqual(
          state.teamMembers.filter((m) => m.teamId === teams[0]!.id),
          [{ teamId: teams[0]!.id, userId: u2.id }],
        );
        assert.deepEqual(
          state.customFields.filter((f) => mine.has(f.userId)),
          [{ userId: u1.id, fields: { dept: 'Sales', site: 'HQ' } }],
          'only users that have any',
        );
        assert.deepEqual(
          state.abacAttributes.filter((a) => mine.has(a.userId)),
          [{ userId: u2.id, attributes: { level: ['3', '1', '2'], tag: ['x'] } }],
        );
        assert.deepEqual(
          state.avatarHashes.filter((a) => mine.has(a.userId)),
          [{ userId: u3.id, contentHash: `${tag}-hash` }],
        );
      });
    });

    it('handles mapping batches larger than one statement', async () => {
      await withStore(async (store) => {
        const tag = newTag();
        const count = 3_000;
        const users = await store.transaction((tx) => tx.users.insert(Array.from({ length: count }, (_, i) => user(tag, `mb${i}`))));
        const [channel] = await store.transaction((tx) => tx.mapping.insertChannels([{ name: `${tag}-all`, ownerUsername: null, source: 'directory' }]));
        const teams = await store.transaction((tx) =>
          tx.mapping.insertTeams(Array.from({ length: 3 }, (_, i) => ({ name: `${tag}-team${i}`, source: 'directory' as const }))),
        );
        assert.ok(channel);
        await store.transaction(async (tx) => {
          await tx.mapping.grantRoles(
            users.flatMap((u) => [
              { userId: u.id, role: `${tag}-a` },
              { userId: u.id, role: `${tag}-b` },
            ]),
          );
          await tx.mapping.addChannelMembers(users.map((u) => ({ channelId: channel.id, userId: u.id })));
          await tx.mapping.addTeamMembers(users.flatMap((u) => teams.map((t) => ({ teamId: t.id, userId: u.id }))));
          await tx.mapping.setCustomFields(users.map((u, i) => ({ userId: u.id, fields: { n: String(i), m: 'x' } })));
          await tx.mapping.setAbacAttributes(users.map((u, i) => ({ userId: u.id, attributes: { v: [String(i), 'b', 'a'] } })));
        });
        await store.transaction(async (tx) => {
          await tx.mapping.revokeRoles(users.map((u) => ({ userId: u.id, role: `${tag}-a` })));
          await tx.mapping.removeTeamMembers(users.map((u) => ({ teamId: teams[0]!.id, userId: u.id })));
          await tx.mapping.setAbacAttributes(users.map((u, i) => ({ userId: u.id, attributes: { v: ['z', String(i)] } })));
        });
        assert.deepEqual(
          (await store.mapping.listRoles()).filter((r) => r.role.startsWith(tag)),
          [{ role: `${tag}-b`, userCount: count }],
        );
        assert.equal((await store.mapping.listChannels({ search: `${tag}-all`, limit: 1, offset: 0 })).channels[0]?.memberCount, count);
        assert.deepEqual(
          (await store.mapping.listTeams({ search: tag, limit: 10, offset: 0 })).teams.map((t) => t.memberCount),
          [0, count, count],
        );
        const state = await store.mapping.loadState();
        const mine = new Set(users.map((u) => u.id));
        assert.equal(state.customFields.filter((f) => mine.has(f.userId)).length, count);
        const attributes = new Map(state.abacAttributes.filter((a) => mine.has(a.userId)).map((a) => [a.userId, a.attributes]));
        assert.equal(attributes.size, count);
        assert.deepEqual(attributes.get(users[1234]!.id), { v: ['z', '1234'] });
        assert.deepEqual(await store.mapping.getUserAttributes(users[7]!.id), { customFields: { m: 'x', n: '7' }, abacAttributes: { v: ['z', '7'] } });
      });
    });
  });
}

// ---- SQLite ---------------------------------------------------------------------------

{
  let dataDir = '';
  describeStoreContract('sqlite', (options) => openStore({ dataDir }, options), {
    setup: async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'dirbridge-store-'));
    },
    teardown: async () => {
      await rm(dataDir, { recursive: true, force: true });
    },
  });
}

describe('store: sqlite migration across processes', () => {
  it('migrates once when several processes open a fresh file at the same time', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'dirbridge-store-mp-'));
    const repo = fileURLToPath(new URL('..', import.meta.url));
    const script = `const { openStore } = await import(${JSON.stringify(join(repo, 'src/store/open-store.ts'))});
      const store = await openStore({ dataDir: process.argv[1] });
      await store.transaction((tx) => tx.users.insert([{ username: 'p' + process.pid, source: 'local' }]));
      await store.close();`;
    try {
      await Promise.all(
        [1, 2, 3, 4, 5, 6].map(() => promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dataDir], { cwd: repo })),
      );
      const store = await openStore({ dataDir });
      try {
        assert.equal((await store.users.list({ limit: 10, offset: 0 })).total, 6);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

// ---- PostgreSQL -----------------------------------------------------------------------

const pgProblem = await postgresProblem();

declareWhenPostgres('store contract: postgres', pgProblem, () => {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  describeStoreContract('postgres', (options) => openStore({ url: database?.url ?? '', dataDir: '.' }, options), {
    setup: async () => {
      database = await createTestDatabase();
    },
    teardown: async () => {
      await database?.drop();
    },
  });
  describe('store: postgres migration and availability', () => {
    it('migrates once when several stores open a fresh database at the same time', async () => {
      const fresh = await createTestDatabase();
      try {
        const stores = await Promise.all([1, 2, 3, 4].map(() => openStore({ url: fresh.url, dataDir: '.' })));
        await Promise.all(stores.map((store) => store.close()));
      } finally {
        await fresh.drop();
      }
    });

    it('reports an unreachable server as store.unavailable', async () => {
      await rejectsWithCode(openStore({ url: 'postgres://postgres@127.0.0.1:1/none', dataDir: '.' }), 'store.unavailable');
    });
  });
});
