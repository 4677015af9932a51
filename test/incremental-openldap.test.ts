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
import { escapeDnValue } from '../src/ldap/dn.ts';
import { eq } from '../src/ldap/filter.ts';
import { generateOrganisation, prng } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { slapdDirectorySettings } from './helpers/directory.ts';
import { merge, settingsFor } from './helpers/harness.ts';
import { directoryPicture, freshFullSyncPicture } from './helpers/incremental.ts';

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

interface ModelUser {
  dn: string;
  uid: string;
  rdn: 'uid' | 'cn';
}

interface ModelGroup {
  dn: string;
  cn: string;
  kind: 'groupOfNames' | 'groupOfUniqueNames' | 'posixGroup';
  /** DNs (member / uniqueMember) or uids (memberUid). */
  members: string[];
}

/** The directory as the test changed it, to pick what to change next. */
function modelOf(organisation: ReturnType<typeof generateOrganisation>): { users: ModelUser[]; groups: ModelGroup[] } {
  return {
    users: organisation.users.map((user) => ({ dn: user.dn, uid: user.uid, rdn: user.rdnAttribute })),
    groups: organisation.groups.map((group) => ({
      dn: group.dn,
      cn: group.cn,
      kind: group.kind,
      members: group.kind === 'posixGroup' ? [...group.memberUids] : [...group.members],
    })),
  };
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

/** Applies `count` random changes to the server (and the model), seeded. Returns what was done. */
async function randomChanges(
  slapd: Slapd,
  model: ReturnType<typeof modelOf>,
  random: () => number,
  count: number,
  options: { deletes: boolean },
): Promise<string[]> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const base = slapd.baseDn;
  const done: string[] = [];
  let serial = Math.floor(random() * 1e6);
  const memberValue = (group: ModelGroup, user: ModelUser) => (group.kind === 'posixGroup' ? user.uid : user.dn);
  const memberAttribute = (group: ModelGroup) => (group.kind === 'posixGroup' ? 'memberUid' : group.kind === 'groupOfNames' ? 'member' : 'uniqueMember');
  const kinds = [
    'addUser',
    'modifyUser',
    'renameUser',
    'moveUser',
    'lockUser',
    'addMember',
    'removeMember',
    'nestGroup',
    'addGroup',
    ...(options.deletes ? ['deleteUser', 'deleteGroup'] : []),
  ];
  for (let index = 0; index < count; index += 1) {
    const kind = pick(kinds);
    serial += 1;
    switch (kind) {
      case 'addUser': {
        const uid = `new.user${serial}`;
        const dn = `uid=${uid},ou=people,${base}`;
        await slapd.ldapmodify(
          `dn: ${dn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: ${uid}\ncn: New User ${serial}\nsn: User${serial}\ngivenName: New\nmail: ${uid}@example.org\n`,
        );
        model.users.push({ dn, uid, rdn: 'uid' });
        done.push(`add ${dn}`);
        break;
      }
      case 'modifyUser': {
        const user = pick(model.users);
        await slapd.ldapmodify(
          `dn: ${user.dn}\nchangetype: modify\nreplace: displayName\ndisplayName: Changed ${serial}\n-\nreplace: mail\nmail: changed${serial}@example.org\n`,
        );
        done.push(`modify ${user.dn}`);
        break;
      }
      case 'renameUser': {
        const user = pick(model.users.filter((candidate) => candidate.rdn === 'uid'));
        const uid = `renamed${serial}`;
        const parent = user.dn.slice(user.dn.indexOf(',') + 1);
        await slapd.ldapmodify(`dn: ${user.dn}\nchangetype: modrdn\nnewrdn: uid=${uid}\ndeleteoldrdn: 1\n`);
        // refint rewrites member/uniqueMember values; memberUid values keep the old name (as a full sync sees them).
        for (const group of model.groups)
          if (group.kind !== 'posixGroup') group.members = group.members.map((dn) => (dn === user.dn ? `uid=${uid},${parent}` : dn));
        await waitForRefint(slapd, user.dn);
        done.push(`rename ${user.dn} to uid=${uid}`);
        user.dn = `uid=${uid},${parent}`;
        user.uid = uid;
        break;
      }
      case 'moveUser': {
        const user = pick(model.users);
        const [rdn] = user.dn.split(/(?<!\\),/);
        const to = user.dn.includes(',ou=people,') ? `ou=staff,${base}` : `ou=people,${base}`;
        await slapd.ldapmodify(`dn: ${user.dn}\nchangetype: modrdn\nnewrdn: ${rdn}\ndeleteoldrdn: 1\nnewsuperior: ${to}\n`);
        for (const group of model.groups) if (group.kind !== 'posixGroup') group.members = group.members.map((dn) => (dn === user.dn ? `${rdn},${to}` : dn));
        await waitForRefint(slapd, user.dn);
        done.push(`move ${user.dn} to ${to}`);
        user.dn = `${rdn},${to}`;
        break;
      }
      case 'lockUser': {
        const user = pick(model.users);
        await slapd.ldapmodify(`dn: ${user.dn}\nchangetype: modify\nreplace: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n`);
        done.push(`lock ${user.dn}`);
        break;
      }
      case 'addMember': {
        const group = pick(model.groups);
        const user = pick(model.users);
        const value = memberValue(group, user);
        if (group.members.includes(value)) break;
        await slapd.ldapmodify(`dn: ${group.dn}\nchangetype: modify\nadd: ${memberAttribute(group)}\n${memberAttribute(group)}: ${value}\n`);
        group.members.push(value);
        done.push(`add ${value} to ${group.cn}`);
        break;
      }
      case 'removeMember': {
        const group = pick(model.groups.filter((candidate) => candidate.members.length > 1));
        const value = pick(group.members);
        await slapd.ldapmodify(`dn: ${group.dn}\nchangetype: modify\ndelete: ${memberAttribute(group)}\n${memberAttribute(group)}: ${value}\n`);
        group.members = group.members.filter((member) => member !== value);
        done.push(`remove ${value} from ${group.cn}`);
        break;
      }
      case 'nestGroup': {
        const parents = model.groups.filter((candidate) => candidate.kind === 'groupOfNames');
        const parent = pick(parents);
        const child = pick(model.groups.filter((candidate) => candidate.dn !== parent.dn && candidate.kind !== 'posixGroup'));
        if (parent.members.includes(child.dn)) break;
        await slapd.ldapmodify(`dn: ${parent.dn}\nchangetype: modify\nadd: member\nmember: ${child.dn}\n`);
        parent.members.push(child.dn);
        done.push(`nest ${child.cn} in ${parent.cn}`);
        break;
      }
      case 'addGroup': {
        const cn = `new-group-${serial}`;
        const dn = `cn=${escapeDnValue(cn)},ou=groups,${base}`;
        const first = pick(model.users);
        await slapd.ldapmodify(`dn: ${dn}\nchangetype: add\nobjectClass: groupOfNames\ncn: ${cn}\nmember: ${first.dn}\n`);
        model.groups.push({ dn, cn, kind: 'groupOfNames', members: [first.dn] });
        done.push(`add group ${cn}`);
        break;
      }
      case 'deleteUser': {
        const user = pick(model.users);
        // A group of names keeps at least one member: refint would leave it without one.
        if (model.groups.some((group) => group.kind !== 'posixGroup' && group.members.length === 1 && group.members[0] === user.dn)) break;
        await slapd.ldapmodify(`dn: ${user.dn}\nchangetype: delete\n`);
        model.users = model.users.filter((candidate) => candidate !== user);
        for (const group of model.groups) if (group.kind !== 'posixGroup') group.members = group.members.filter((dn) => dn !== user.dn);
        await waitForRefint(slapd, user.dn);
        done.push(`delete ${user.dn}`);
        break;
      }
      case 'deleteGroup': {
        const group = pick(model.groups);
        if (model.groups.some((parent) => parent.members.length === 1 && parent.members[0] === group.dn)) break;
        await slapd.ldapmodify(`dn: ${group.dn}\nchangetype: delete\n`);
        model.groups = model.groups.filter((candidate) => candidate !== group);
        for (const parent of model.groups) parent.members = parent.members.filter((dn) => dn !== group.dn);
        await waitForRefint(slapd, group.dn);
        done.push(`delete group ${group.cn}`);
        break;
      }
    }
  }
  return done;
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
        const changes = await randomChanges(slapd, model, random, 8, { deletes: feed === 'contentSync' });
        const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
        assert.equal(result.status, 'succeeded', `${result.reason}\nchanges: ${changes.join('; ')}`);
        assert.equal(result.mode, 'incremental', result.modeReason ?? '');
        assert.deepEqual(await directoryPicture(app.store), await freshFullSyncPicture(document), `after: ${changes.join('; ')}`);
      });
    }

    it('a dry run plans from the changes without moving the stored position', async () => {
      const positions = (await app.store.directoryState.listCursors('primary')).map((cursor) => cursor.position);
      await randomChanges(slapd, model, random, 3, { deletes: false });
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
