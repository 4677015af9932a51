/**
 * Sync at scale: a generated organisation (default 100,000 people, 5,000 groups, ~490k
 * memberships) in a throwaway slapd, synced into a fresh store.
 *
 * Reports each dirbridge phase as a ratio against a floor measured in the same run on the same
 * server: a raw ldapts paged read of the same entries with the same attributes, which is the
 * least any LDAP client must spend. Run: `npm run bench -- --people 100000 --groups 5000 [--store postgres] [--large-groups false]`.
 * The organisation includes two groups of 10,000 and 50,000 members unless `--large-groups false`.
 *
 * After the no-op second sync, a reorganisation (every tenth groupOfNames group loses the second
 * half of its members) is synced, which measures the membership changes and the change-feed events
 * (one `membership.changed` per affected user) they write. Last, the stamping of every seen user's
 * lastSyncedAt that each sync does is timed on its own.
 *
 * The second and third syncs are full reads (`full: true`, W2 of issue 11). Then incremental sync
 * (W3): an incremental run with nothing changed, and one after 100 changes (60 users modified, 20
 * added, 10 deleted, 10 memberships changed, one of them in the 50k group), end to end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Attribute, Change, Client } from 'ldapts';
import pg from 'pg';
import { openApp } from '../src/app.ts';
import { validateSettings } from '../src/settings/load.ts';
import { generateOrganisation } from '../test/fixtures/sample-directory.ts';
import { startSlapd } from '../test/fixtures/slapd.ts';

const { values } = parseArgs({
  options: {
    people: { type: 'string', default: '100000' },
    groups: { type: 'string', default: '5000' },
    store: { type: 'string', default: 'sqlite' },
    // On by default: the bench organisation includes a 10k and a 50k group (issue 11), so every
    // recorded figure pays for them. `--large-groups false` gives the organisation without them.
    'large-groups': { type: 'string', default: 'true' },
  },
});
if (values['large-groups'] !== 'true' && values['large-groups'] !== 'false') throw new Error('--large-groups takes true or false');
const largeGroups = values['large-groups'] === 'true';
const people = Number(values.people);
const groupCount = Number(values.groups);

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await work();
  return { ms: performance.now() - start, value };
}

const generated = await timed(async () => generateOrganisation({ people, groups: groupCount, seed: 11, largeGroups }));
const organisation = generated.value;
const memberships = organisation.users.reduce((sum, user) => sum + user.groups.length, 0);
const slapd = await startSlapd({ ldif: organisation.ldif });
const dataDir = await mkdtemp(path.join(tmpdir(), 'dirbridge-bench-'));
let database: string | undefined;
try {
  if (values.store === 'postgres') {
    database = `dirbridge_bench_${process.pid}`;
    const admin = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'postgres' });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
  }
  const userAttributes = ['entryUUID', 'uid', 'mail', 'givenName', 'sn', 'displayName', 'pwdAccountLockedTime', 'userAccountControl', 'nsAccountLock'];
  const groupAttributes = ['entryUUID', 'cn', 'member', 'uniqueMember', 'memberUid'];

  // Floor: a raw paged read with the same attributes, counting entries and nothing else.
  const floor = await timed(async () => {
    const client = new Client({ url: slapd.url, timeout: 120_000, connectTimeout: 5_000 });
    await client.bind(slapd.readerDn, slapd.readerPassword);
    let count = 0;
    for (const [base, attributes] of [
      [`${slapd.baseDn}`, userAttributes],
      [`ou=groups,${slapd.baseDn}`, groupAttributes],
    ] as const) {
      const filter =
        base === slapd.baseDn ? '(objectClass=inetOrgPerson)' : '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))';
      for await (const page of client.searchPaginated(base, { scope: 'sub', filter, attributes: [...attributes], paged: { pageSize: 500 } })) {
        count += page.searchEntries.length;
      }
    }
    await client.unbind();
    return count;
  });

  const settings = validateSettings(
    {
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword, pageSize: 500, operationTimeoutMs: 120_000 },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
      // The reorganisation below takes memberships from ~34k users on purpose: a planned change the guard would refuse.
      sync: { disableMissingUsers: true, guard: { maxRevoke: { count: people, percent: 100 } } },
      store: database === undefined ? { dataDir } : { url: `postgres://postgres@127.0.0.1:5432/${database}`, dataDir },
    },
    'bench',
  );
  const app = await openApp(settings);
  try {
    const heapBefore = process.memoryUsage().rss;
    const first = await timed(() => app.sync.runSync({ trigger: 'cli', isDryRun: false }));
    const rssAfterFirst = process.memoryUsage().rss;
    const second = await timed(() => app.sync.runSync({ trigger: 'cli', isDryRun: false, full: true }));
    const reorganised = await reorganise();
    const eventsBefore = await countChangeEvents();
    const third = await timed(() => app.sync.runSync({ trigger: 'cli', isDryRun: false, full: true }));
    const events = (await countChangeEvents()) - eventsBefore;
    // syncprov's session log of deletes starts empty when slapd starts: the first incremental run
    // after a delete that the log does not reach back to reads everything once (a present phase).
    // One delete here starts the log, so the runs below are measured as a long-running slapd does them.
    await touchOneUser();
    const warmUp = await timed(() => app.sync.runSync({ trigger: 'cli', isDryRun: false }));
    const quiet = await timed(() => app.sync.runSync({ trigger: 'cli', isDryRun: false }));
    const changes = await hundredChanges();
    const incremental = await timed(() => app.sync.runSync({ trigger: 'cli', isDryRun: false }));
    for (const run of [first, second, third, warmUp, quiet, incremental]) {
      if (run.value.status !== 'succeeded') throw new Error(`sync did not succeed: ${run.value.reason ?? ''}`);
    }
    if (quiet.value.mode !== 'incremental' || incremental.value.mode !== 'incremental')
      throw new Error(`not incremental: ${incremental.value.modeReason ?? ''}`);
    const delta = incremental.value;
    // What "Last synced" costs inside every sync: lastSyncedAt of every user it saw, in the sync's batches.
    const seenIds = (await app.store.runs.loadSyncState()).users.filter((user) => user.source === 'directory').map((user) => user.id);
    const marked = await timed(async () => {
      const at = new Date().toISOString();
      for (let start = 0; start < seenIds.length; start += settings.sync.batchSize) {
        await app.store.transaction((tx) => tx.users.markSynced(seenIds.slice(start, start + settings.sync.batchSize), at));
      }
    });
    const rows = [
      ['generate LDIF (fixture)', generated.ms, ''],
      [`floor: raw ldapts paged read (${floor.value} entries)`, floor.ms, '1.00'],
      [
        `first sync (${first.value.users.created} users, ${first.value.groups.created} groups, ${first.value.memberships.added} memberships)`,
        first.ms,
        (first.ms / floor.ms).toFixed(2),
      ],
      ['second sync, full read (no changes)', second.ms, (second.ms / floor.ms).toFixed(2)],
      [
        `third sync (${reorganised} groups lost half their members: ${third.value.memberships.removed} memberships removed, ${events} change events)`,
        third.ms,
        (third.ms / floor.ms).toFixed(2),
      ],
      [`incremental sync after one user was added and deleted (${warmUp.value.entriesRead} entries read)`, warmUp.ms, (warmUp.ms / floor.ms).toFixed(2)],
      ['incremental sync, nothing changed', quiet.ms, (quiet.ms / floor.ms).toFixed(2)],
      [
        `incremental sync after ${changes} changes (${delta.entriesRead} entries read; users ${delta.users.created} created, ${delta.users.updated} updated, ${delta.users.disabled} disabled; memberships +${delta.memberships.added} −${delta.memberships.removed})`,
        incremental.ms,
        (incremental.ms / floor.ms).toFixed(2),
      ],
      [
        `of which in each sync: lastSyncedAt of the ${seenIds.length} users it saw (users.markSynced, measured alone)`,
        marked.ms,
        (marked.ms / floor.ms).toFixed(2),
      ],
    ] as const;
    console.log(
      `sync-scale: ${people} people, ${groupCount} groups${largeGroups ? ' + large-10k and large-50k' : ''}, ${memberships} direct memberships, store ${app.store.dialect}`,
    );
    console.log('| phase | time | ratio to floor |\n|---|---|---|');
    for (const [name, ms, ratio] of rows) console.log(`| ${name} | ${seconds(ms)} | ${ratio} |`);
    console.log(`RSS grew ${((rssAfterFirst - heapBefore) / 1024 / 1024).toFixed(0)} MB during the first sync`);
  } finally {
    await app.close();
  }

  /** Removes the second half of the members of every tenth groupOfNames group; returns how many groups changed. */
  async function reorganise(): Promise<number> {
    const client = new Client({ url: slapd.url, timeout: 120_000, connectTimeout: 5_000 });
    await client.bind(slapd.adminDn, slapd.adminPassword);
    let changed = 0;
    try {
      for (const group of organisation.groups) {
        if (group.kind !== 'groupOfNames' || group.index % 10 !== 0 || group.members.length < 2) continue;
        const removed = group.members.slice(Math.ceil(group.members.length / 2));
        await client.modify(group.dn, new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: removed }) }));
        changed += 1;
      }
    } finally {
      await client.unbind();
    }
    return changed;
  }

  /** Adds a user and deletes it again. */
  async function touchOneUser(): Promise<void> {
    const client = new Client({ url: slapd.url, timeout: 120_000, connectTimeout: 5_000 });
    await client.bind(slapd.adminDn, slapd.adminPassword);
    try {
      const dn = `uid=bench.transient,ou=people,${slapd.baseDn}`;
      await client.add(dn, { objectClass: ['inetOrgPerson'], uid: 'bench.transient', cn: 'Transient', sn: 'Transient' });
      await client.del(dn);
    } finally {
      await client.unbind();
    }
  }

  /**
   * W3's 100 changes: 60 users modified, 20 added, 10 deleted, and 10 membership changes (one an
   * addition to the largest group). Returns how many were made.
   */
  async function hundredChanges(): Promise<number> {
    const client = new Client({ url: slapd.url, timeout: 120_000, connectTimeout: 5_000 });
    await client.bind(slapd.adminDn, slapd.adminPassword);
    let made = 0;
    try {
      const users = organisation.users.filter((user) => user.rdnAttribute === 'uid');
      for (const user of users.slice(100, 160)) {
        await client.modify(
          user.dn,
          new Change({ operation: 'replace', modification: new Attribute({ type: 'displayName', values: [`Changed ${user.uid}`] }) }),
        );
        made += 1;
      }
      for (let index = 0; index < 20; index += 1) {
        const uid = `bench.added${index}`;
        await client.add(`uid=${uid},ou=people,${slapd.baseDn}`, {
          objectClass: ['inetOrgPerson'],
          uid,
          cn: `Added ${index}`,
          sn: 'Added',
          mail: `${uid}@example.org`,
        });
        made += 1;
      }
      for (const user of users.slice(200, 210)) {
        await client.del(user.dn);
        made += 1;
      }
      const largest = [...organisation.groups].filter((group) => group.kind === 'groupOfNames').sort((a, b) => b.members.length - a.members.length)[0];
      const others = organisation.groups.filter((group) => group.kind === 'groupOfNames' && group !== largest && group.members.length > 2).slice(0, 9);
      for (const group of [largest, ...others]) {
        if (group === undefined) continue;
        const outsider = users.find((user) => !group.members.includes(user.dn) && user.index >= 300);
        if (outsider === undefined) continue;
        await client.modify(group.dn, new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [outsider.dn] }) }));
        made += 1;
      }
    } finally {
      await client.unbind();
    }
    return made;
  }

  async function countChangeEvents(): Promise<number> {
    let count = 0;
    let after: string | undefined;
    for (;;) {
      const page = await app.store.audit.listAfter({ after, limit: 1000, actionPrefixes: [], actions: ['membership.changed'] });
      count += page.length;
      if (page.length < 1000) return count;
      after = page.at(-1)?.id;
    }
  }
} finally {
  await slapd.stop();
  await rm(dataDir, { recursive: true, force: true });
  if (database !== undefined) {
    const admin = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'postgres' });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.end();
  }
}
