/**
 * Incremental sync against a real OpenLDAP (RFC 4533 content sync through syncprov, and polling
 * by modifyTimestamp): a random series of adds, modifies, renames, moves, deletes, locks and
 * membership changes (nested groups included) is applied to the server, and after each
 * incremental run the store must equal what a full sync into a fresh second store gives.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { openDirectory } from '../src/directory/index.ts';
import { eq } from '../src/ldap/filter.ts';
import { generateOrganisation, prng } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { slapdDirectorySettings } from './helpers/directory.ts';
import { merge, settingsFor } from './helpers/harness.ts';
import { type ChangeTarget, directoryPicture, freshFullSyncPicture, modelOf, randomChanges } from './helpers/incremental.ts';

function documentFor(slapd: Slapd, override: Record<string, unknown> = {}): Record<string, unknown> {
  return merge(
    {
      directory: { urls: [slapd.ldapsUrl], tls: { caFile: slapd.caFile }, bindDn: slapd.readerDn, bindPassword: slapd.readerPassword, pageSize: 25 },
      users: { baseDn: slapd.baseDn, filter: '(objectClass=inetOrgPerson)' },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
      sync: {
        disableMissingUsers: true,
        activeState: 'both',
        guard: { maxDisable: { count: 1000, percent: 100 }, maxRevoke: { count: 100_000, percent: 100 } },
      },
    },
    override,
  );
}

/**
 * Waits until slapd's refint overlay, which rewrites member values after a rename, move or delete
 * returns (in its own thread), no longer leaves `dn` in any group: a sync started earlier would
 * see the change to the user and not yet the one to its groups (the next run would).
 */
async function waitForRefint(slapd: Slapd, dn: string): Promise<void> {
  await using directory = await openDirectory(slapdDirectorySettings(slapd, { bindDn: slapd.adminDn, bindPassword: slapd.adminPassword }));
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const left = await directory.searchAll({
      baseDn: `ou=groups,${slapd.baseDn}`,
      scope: 'sub',
      filter: eq('member', dn),
      attributes: ['1.1'],
      maxEntries: 1000,
    });
    if (left.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`refint left ${dn} in groups`);
}

/** slapd as the random changes' target: ppolicy locks, refint on member. */
function targetOf(slapd: Slapd): ChangeTarget {
  return {
    baseDn: slapd.baseDn,
    ldapmodify: (ldif) => slapd.ldapmodify(ldif),
    lock: 'replace: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z',
    referentialIntegrity: { settled: (dn) => waitForRefint(slapd, dn) },
  };
}

for (const feed of ['contentSync', 'modifyTimestamp'] as const) {
  describe(`incremental sync against OpenLDAP (${feed})`, () => {
    let slapd: Slapd;
    let app: App;
    let document: Record<string, unknown>;
    let cleanup: () => Promise<void>;
    const organisation = generateOrganisation({ people: 60, groups: 14, seed: feed === 'contentSync' ? 21 : 22 });
    const model = modelOf(organisation);
    const random = prng(feed === 'contentSync' ? 7 : 8);

    before(async () => {
      slapd = await startSlapd({ ldif: organisation.ldif });
      document = documentFor(slapd, { sync: { incremental: { feed } } });
      const made = await settingsFor(document);
      cleanup = made.cleanup;
      app = await openApp(made.settings);
    });

    after(async () => {
      await app?.close();
      await slapd?.stop();
      await cleanup?.();
    });

    it('reads everything first, and says why', async () => {
      const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'succeeded', result.reason ?? '');
      assert.equal(result.mode, 'full');
      assert.match(result.modeReason ?? '', /no stored position/);
      assert.ok(result.entriesRead >= 60 + 14, `entries read: ${result.entriesRead}`);
      const cursors = await app.store.directoryState.listCursors('primary');
      assert.deepEqual(cursors.map((cursor) => `${cursor.scope}:${cursor.source}`).sort(), [`groups:${feed}`, `users:${feed}`]);
      const runs = await app.store.runs.list({ limit: 1, offset: 0 });
      assert.equal(runs.runs[0]?.mode, 'full', 'the run record keeps the mode');
    });

    it('an incremental run with nothing changed changes nothing, and is no "empty read"', async () => {
      const before = await directoryPicture(app.store);
      const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(result.status, 'succeeded', result.reason ?? '');
      assert.equal(result.mode, 'incremental');
      assert.equal(result.users.created + result.users.updated + result.users.disabled + result.memberships.added + result.memberships.removed, 0);
      assert.deepEqual(await directoryPicture(app.store), before);
    });

    for (let round = 1; round <= 4; round += 1) {
      it(`round ${round}: after random changes, the incremental run leaves the store as a fresh full sync does`, async () => {
        const changes = await randomChanges(targetOf(slapd), model, random, 8, { deletes: feed === 'contentSync' });
        const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
        assert.equal(result.status, 'succeeded', `${result.reason}\nchanges: ${changes.join('; ')}`);
        assert.equal(result.mode, 'incremental', result.modeReason ?? '');
        assert.deepEqual(await directoryPicture(app.store), await freshFullSyncPicture(document), `after: ${changes.join('; ')}`);
      });
    }

    it('a dry run plans from the changes without moving the stored position', async () => {
      const positions = (await app.store.directoryState.listCursors('primary')).map((cursor) => cursor.position);
      await randomChanges(targetOf(slapd), model, random, 3, { deletes: false });
      const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
      assert.equal(dry.mode, 'incremental');
      assert.deepEqual(
        (await app.store.directoryState.listCursors('primary')).map((cursor) => cursor.position),
        positions,
      );
      const real = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
      assert.equal(real.status, 'succeeded', real.reason ?? '');
      assert.deepEqual(await directoryPicture(app.store), await freshFullSyncPicture(document));
    });

    it('sync --full reads everything and agrees with the incremental state', async () => {
      const before = await directoryPicture(app.store);
      const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false, full: true });
      assert.equal(result.mode, 'full');
      assert.match(result.modeReason ?? '', /full sync was asked for/);
      assert.equal(result.users.created + result.users.updated + result.memberships.added + result.memberships.removed, 0, 'nothing left to catch up');
      assert.deepEqual(await directoryPicture(app.store), before);
    });
  });
}

describe('incremental sync falls back to a full read', () => {
  let slapd: Slapd;
  let app: App;
  let cleanup: () => Promise<void>;

  before(async () => {
    slapd = await startSlapd({ ldif: generateOrganisation({ people: 20, groups: 4, seed: 23 }).ldif });
    const made = await settingsFor(documentFor(slapd));
    cleanup = made.cleanup;
    app = await openApp(made.settings);
    const first = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(first.mode, 'full');
  });

  after(async () => {
    await app?.close();
    await slapd?.stop();
    await cleanup?.();
  });

  it('when the stored cookie is garbage: a full read, recorded with the reason, and a fresh position', async () => {
    await app.store.transaction(async (tx) => {
      const cursors = await tx.directoryState.listCursors('primary');
      await tx.directoryState.putCursors(
        'primary',
        cursors.map((cursor) => ({ ...cursor, position: Buffer.from('rid=000,csn=garbage').toString('base64') })),
      );
    });
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
    // slapd answers a cookie it cannot parse with a full refresh (a present phase): still exact, as a full read.
    assert.ok(result.mode === 'full' || result.mode === 'incremental');
    const next = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(next.mode, 'incremental');
    assert.equal(next.users.disabled, 0, 'nobody taken for deleted');
  });

  it('when the settings that decide what is read change', async () => {
    const { store: _store, ...document } = app.settings;
    await app.updateSettings(merge(document, { directory: { attributesToQuery: ['description'] } }), {
      expectedVersion: app.settingsState().version,
      actor: 'test',
    });
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.mode, 'full');
    assert.match(result.modeReason ?? '', /settings changed/);
    const next = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(next.mode, 'incremental', 'the full run stored positions for the new settings');
  });
});
