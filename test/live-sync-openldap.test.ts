/**
 * Live sync against a real OpenLDAP: with `sync.live.enabled`, the scheduler's live-sync job holds
 * one persistent content sync search, and a change in the directory reaches the store (and a
 * password change ends the user's sessions) within 5 seconds, through an ordinary incremental run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { createAppScheduler, JOB_NAMES } from '../src/scheduler/app-jobs.ts';
import { silentLog } from '../src/scheduler/job-lock.ts';
import type { Scheduler } from '../src/scheduler/scheduler.ts';
import { generateOrganisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { settingsFor } from './helpers/harness.ts';

const LIMIT_MS = 5_000;

/** Polls `check` every 50 ms until it holds; returns how long that took, or fails after `limitMs`. */
async function within(limitMs: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < limitMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`${what} did not happen within ${limitMs} ms`);
}

describe('live sync against OpenLDAP', () => {
  let slapd: Slapd;
  let app: App;
  let scheduler: Scheduler;
  let cleanup: () => Promise<void>;
  const organisation = generateOrganisation({ people: 30, groups: 6, seed: 31 });
  const user = organisation.users.find((candidate) => candidate.rdnAttribute === 'uid' && candidate.uid.includes('.') && !candidate.uid.startsWith('locked'));

  before(async () => {
    slapd = await startSlapd({ ldif: organisation.ldif });
    const made = await settingsFor({
      directory: { urls: [slapd.ldapsUrl], tls: { caFile: slapd.caFile }, bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn, filter: '(objectClass=inetOrgPerson)' },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
      sync: { live: { enabled: true }, disableMissingUsers: true },
    });
    cleanup = made.cleanup;
    app = await openApp(made.settings);
    const first = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(first.status, 'succeeded', first.reason ?? '');
    scheduler = createAppScheduler(app, { log: silentLog });
    await scheduler.start();
    // The persistent search is up once its refresh stage is done: give it a moment.
    await within(LIMIT_MS, 'the live sync job starting', async () => scheduler.status().some((job) => job.name === JOB_NAMES.liveSync && job.running));
    await new Promise((resolve) => setTimeout(resolve, 500));
  });

  after(async () => {
    await scheduler?.stop();
    await app?.close();
    await slapd?.stop();
    await cleanup?.();
  });

  it('a changed attribute reaches the store within 5 s, by an incremental run', async () => {
    assert.ok(user);
    await slapd.ldapmodify(`dn: ${user.dn}\nchangetype: modify\nreplace: mail\nmail: live@example.org\n`);
    const took = await within(
      LIMIT_MS,
      'the new email in the store',
      async () => (await app.store.users.findByUsername(user.uid))?.email === 'live@example.org',
    );
    assert.ok(took < LIMIT_MS, `${Math.round(took)} ms`);
    const runs = await app.store.runs.list({ limit: 1, offset: 0 });
    assert.equal(runs.runs[0]?.mode, 'incremental');
  });

  it('a new user and a membership arrive within 5 s', async () => {
    const dn = `uid=live.newcomer,ou=people,${slapd.baseDn}`;
    const group = organisation.groups.find((candidate) => candidate.kind === 'groupOfNames' && candidate.cn === 'everyone');
    assert.ok(group);
    await slapd.ldapmodify(
      `dn: ${dn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: live.newcomer\ncn: Live Newcomer\nsn: Newcomer\nmail: newcomer@example.org\n`,
    );
    await slapd.ldapmodify(`dn: ${group.dn}\nchangetype: modify\nadd: member\nmember: ${dn}\n`);
    await within(LIMIT_MS, 'the newcomer in everyone', async () => {
      const newcomer = await app.store.users.findByUsername('live.newcomer');
      if (newcomer === undefined) return false;
      return (await app.store.groups.listOfUser(newcomer.id)).some((candidate) => candidate.name === 'everyone');
    });
  });

  it("a password changed in the directory ends the user's sessions within 5 s", async () => {
    assert.ok(user);
    const login = await app.login.login({ username: user.uid, password: user.password });
    await slapd.ldapmodify(`dn: ${user.dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: changed-${user.password}\n`);
    await within(LIMIT_MS, 'the session revoked', async () => {
      const { sessions } = await app.store.sessions.list({ limit: 10, offset: 0, userId: login.user.id, isActive: true });
      return sessions.length === 0;
    });
  });

  it('stops with the scheduler: the persistent search ends', async () => {
    const started = performance.now();
    await scheduler.stop();
    assert.ok(performance.now() - started < 3_000, 'stop() does not wait for the watcher');
    assert.equal(scheduler.status().find((job) => job.name === JOB_NAMES.liveSync)?.running, false);
  });
});
