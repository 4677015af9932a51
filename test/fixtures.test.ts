/**
 * Smoke tests proving the fixtures work: slapd (plain, LDAPS, StartTLS, limits, overlays),
 * the sample organisation generator, the Samba AD DC and 389-DS.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { Client, InvalidCredentialsError, SizeLimitExceededError } from 'ldapts';
import { type Dirsrv, dirsrvUnavailableReason, startDirsrv } from './fixtures/dirsrv.ts';
import { isRunning, run } from './fixtures/proc.ts';
import { adUser, type SambaDc, sambaUnavailableReason, startSambaDc } from './fixtures/samba.ts';
import { generateOrganisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { dirsrvTestDirectory } from './helpers/data-fit.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const client = async (url: string, ca?: string, servername?: string): Promise<Client> =>
  new Client({
    url,
    timeout: 5_000,
    connectTimeout: 2_000,
    tlsOptions: ca ? { ca: [await readFile(ca)], ...(servername === undefined ? {} : { servername }) } : {},
  });

async function withClient<T>(c: Client, fn: (c: Client) => Promise<T>): Promise<T> {
  try {
    return await fn(c);
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

describe('sample organisation generator', () => {
  it('is deterministic and consistent', () => {
    const a = generateOrganisation({ people: 300, groups: 40, seed: 3 });
    const b = generateOrganisation({ people: 300, groups: 40, seed: 3 });
    assert.equal(a.ldif, b.ldif);
    assert.notEqual(a.ldif, generateOrganisation({ people: 300, groups: 40, seed: 4 }).ldif);
    for (const user of a.users) {
      for (const dn of user.memberOf) {
        const group = a.groups.find((g) => g.dn === dn);
        assert.ok(group?.members.includes(user.dn), `${user.uid} in ${dn}`);
      }
    }
    const cycleA = a.groups.find((g) => g.cn === 'cycle-a');
    const cycleB = a.groups.find((g) => g.cn === 'cycle-b');
    assert.ok(cycleA && cycleB && cycleA.members.includes(cycleB.dn) && cycleB.members.includes(cycleA.dn));
    assert.ok(a.users.some((u) => u.dn.startsWith('cn=Smith\\2C John,')));
  });

  it('adds a 10k and a 50k group with largeGroups, leaving the rest as it was', () => {
    const plain = generateOrganisation({ people: 60_000, groups: 9, seed: 2 });
    const large = generateOrganisation({ people: 60_000, groups: 9, seed: 2, largeGroups: true });
    assert.deepEqual(large.groups.slice(0, 9), plain.groups);
    assert.deepEqual(
      large.groups.slice(9).map((g) => [g.cn, g.kind, g.members.length, new Set(g.members).size]),
      [
        ['large-10k', 'groupOfNames', 10_000, 10_000],
        ['large-50k', 'groupOfNames', 50_000, 50_000],
      ],
    );
    assert.ok(large.users.every((user, i) => user.memberOf.filter((dn) => !dn.startsWith('cn=large-')).join() === plain.users[i]?.memberOf.join()));
    assert.ok(large.users.filter((user) => user.groups.includes('large-50k')).length === 50_000);
    assert.equal(generateOrganisation({ people: 10, groups: 2, largeGroups: true }).groups.at(-1)?.members.length, 10, 'every person when fewer');
  });

  // Its speed (1.1 s on this machine) is a benchmark figure (test/fixtures/README.md), not asserted:
  // on a shared 2-core machine a wall-clock limit fails whenever other test files take the CPU.
  it('generates 100k people and 5k groups', () => {
    const org = generateOrganisation({ people: 100_000, groups: 5_000, seed: 1 });
    assert.equal(org.users.length, 100_000);
    assert.equal(org.groups.length, 5_000);
  });
});

describe('slapd fixture', () => {
  const org = generateOrganisation({ people: 60, groups: 20, seed: 7 });
  let slapd: Slapd;
  before(async () => {
    slapd = await startSlapd({ ldif: org.ldif });
  });
  after(async () => {
    await slapd?.stop();
  });

  const countPeople = async (c: Client): Promise<number> => {
    const { searchEntries } = await c.search(slapd.baseDn, { filter: '(objectClass=inetOrgPerson)', attributes: ['uid'] });
    return searchEntries.length;
  };

  it('serves the generated users to the reader over ldap, ldaps and StartTLS', async () => {
    await withClient(await client(slapd.url), async (c) => {
      await c.bind(slapd.readerDn, slapd.readerPassword);
      assert.equal(await countPeople(c), org.users.length);
    });
    await withClient(await client(slapd.ldapsUrl, slapd.caFile), async (c) => {
      await c.bind(slapd.readerDn, slapd.readerPassword);
      assert.equal(await countPeople(c), org.users.length);
    });
    await withClient(await client(slapd.url), async (c) => {
      await c.startTLS({ ca: [await readFile(slapd.caFile)] });
      await c.bind(slapd.readerDn, slapd.readerPassword);
      assert.equal(await countPeople(c), org.users.length);
    });
  });

  it('rejects a server certificate from the wrong CA', async () => {
    await assert.rejects(withClient(await client(slapd.ldapsUrl, slapd.otherCaFile), (c) => c.bind(slapd.readerDn, slapd.readerPassword)));
    await assert.rejects(withClient(await client(slapd.url), async (c) => c.startTLS({ ca: [await readFile(slapd.otherCaFile)] })));
  });

  it('lets users bind with password-<uid>, hides userPassword, locks the locked user', async () => {
    const john = org.users.find((u) => u.uid === 'john.smith');
    const zoe = org.users.find((u) => u.uid === 'zoe.angstrom');
    const locked = org.users.find((u) => u.locked);
    assert.ok(john && zoe && locked);
    await withClient(await client(slapd.url), async (c) => {
      await c.bind(john.dn, john.password);
      const { searchEntries } = await c.search(zoe.dn, { scope: 'base', attributes: ['cn', 'memberOf', 'userPassword'] });
      assert.equal(searchEntries[0]?.cn, 'Zoë Ångström');
      assert.deepEqual(searchEntries[0]?.memberOf, zoe.memberOf);
      assert.deepEqual([searchEntries[0]?.userPassword ?? []].flat(), [], 'userPassword must not be readable');
      for (const uid of ['john.smith', 'anna.berglund', 'jose.muller']) {
        const expected = org.users.find((u) => u.uid === uid);
        const found = await c.search(slapd.baseDn, { filter: `(uid=${uid})`, attributes: ['uid'] });
        assert.equal(found.searchEntries[0]?.dn, expected?.dn, 'generator DNs are in the form slapd returns');
      }
    });
    await withClient(await client(slapd.url), async (c) => {
      await assert.rejects(c.bind(locked.dn, locked.password), InvalidCredentialsError);
    });
  });

  it('maintains memberOf for online changes (memberof overlay)', async () => {
    const user = org.users[10];
    assert.ok(user);
    await slapd.ldapadd(`dn: cn=online,ou=groups,${slapd.baseDn}\nobjectClass: groupOfNames\ncn: online\nmember: ${user.dn}\n`);
    await withClient(await client(slapd.url), async (c) => {
      await c.bind(slapd.adminDn, slapd.adminPassword);
      const { searchEntries } = await c.search(user.dn, { scope: 'base', attributes: ['memberOf'] });
      assert.ok([searchEntries[0]?.memberOf].flat().includes(`cn=online,ou=groups,${slapd.baseDn}`));
    });
  });

  it('survives kill and restart with its data', async () => {
    const oldPid = slapd.pid;
    slapd.kill();
    await slapd.restart();
    assert.notEqual(slapd.pid, oldPid);
    assert.equal(isRunning(oldPid), false);
    await withClient(await client(slapd.url), async (c) => {
      await c.bind(slapd.readerDn, slapd.readerPassword);
      assert.equal(await countPeople(c), org.users.length);
    });
  });

  it('enforces size limits: plain searches at 500-like soft limits, paged totals with prtotal', async () => {
    const limited = await startSlapd({ ldif: org.ldif, sizeLimit: { soft: 10, hard: 10, prtotal: 25 } });
    try {
      const user = org.users[5];
      assert.ok(user);
      await withClient(await client(limited.url), async (c) => {
        await c.bind(user.dn, user.password);
        await assert.rejects(c.search(limited.baseDn, { filter: '(uid=*)' }), SizeLimitExceededError);
        await assert.rejects(c.search(limited.baseDn, { filter: '(uid=*)', paged: { pageSize: 5 } }), SizeLimitExceededError);
      });
    } finally {
      await limited.stop();
    }
    assert.equal(existsSync(limited.dataDir), false);
  });
});

const sambaSkip = skipUnlessCi(sambaUnavailableReason());

describe('samba AD DC fixture', { skip: sambaSkip }, () => {
  let dc: SambaDc;
  before(async () => {
    dc = await startSambaDc();
  });
  after(async () => {
    await dc?.stop();
  });

  it('binds a user by DN, UPN and down-level name; wrong password is 49 / data 52e', async () => {
    const alice = adUser('alice');
    assert.ok(alice.password);
    for (const name of [alice.dn, alice.userPrincipalName, alice.downLevelName]) {
      await withClient(await client(dc.url), (c) => c.bind(name, alice.password ?? ''));
    }
    await withClient(await client(dc.url), async (c) => {
      const error = await c.bind(alice.dn, 'wrong-password').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof InvalidCredentialsError);
      assert.match(error.message, /data 52e/);
    });
  });

  it('serves the dataset over LDAPS with the right CA only', async () => {
    const smith = adUser('jsmith');
    await withClient(await client(dc.ldapsUrl, dc.caFile), async (c) => {
      await c.bind(dc.adminDn, dc.adminPassword);
      const { searchEntries } = await c.search(dc.baseDn, { filter: '(sAMAccountName=jsmith)', attributes: ['cn', 'memberOf'] });
      assert.equal(searchEntries[0]?.dn, smith.dn);
      assert.equal(searchEntries[0]?.cn, 'Smith, John');
      const zoe = await c.search(dc.baseDn, { filter: '(sAMAccountName=zoe)', attributes: ['givenName'] });
      assert.equal(zoe.searchEntries[0]?.givenName, 'Zoë');
      const nested = await c.search(dc.baseDn, {
        filter: `(memberOf:1.2.840.113556.1.4.1941:=CN=Engineering,${dc.ous.groups})`,
        attributes: ['sAMAccountName'],
      });
      const names = nested.searchEntries.map((e) => String(e.sAMAccountName)).sort();
      assert.ok(names.includes('carol') && names.includes('zoe') && names.includes('alice'));
    });
    await assert.rejects(withClient(await client(dc.ldapsUrl, dc.otherCaFile), (c) => c.bind(dc.adminDn, dc.adminPassword)));
  });

  it('creates and disables users (disabled bind is 49 / data 533)', async () => {
    const [created] = await dc.adAddUsers([{ sAMAccountName: 'newbie', givenName: 'New', sn: 'Bie', password: 'Fresh-Pass-9!' }]);
    assert.ok(created);
    await withClient(await client(dc.url), (c) => c.bind(created.userPrincipalName, 'Fresh-Pass-9!'));
    await dc.disableUser('newbie');
    await withClient(await client(dc.url), async (c) => {
      await assert.rejects(c.bind(created.userPrincipalName, 'Fresh-Pass-9!'), /data 533/);
    });
    const disabled = adUser('disabled.user');
    await withClient(await client(dc.url), async (c) => {
      await assert.rejects(c.bind(disabled.dn, disabled.password ?? ''), /data 533/);
    });
  });

  it('runs samba-tool against the DC and survives a restart', async () => {
    const { stdout } = await dc.tool(['user', 'list']);
    assert.match(stdout, /^alice$/m);
    const oldPid = dc.pid;
    await dc.restart();
    assert.notEqual(dc.pid, oldPid);
    const alice = adUser('alice');
    await withClient(await client(dc.url), (c) => c.bind(alice.userPrincipalName, alice.password ?? ''));
  });
});

/** Local addresses (hex, as /proc/net/tcp{,6} writes them) of the sockets listening on `port`. */
async function listeningAddresses(port: number): Promise<string[]> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state === '0A' && local?.endsWith(`:${hexPort}`)) found.push(local.slice(0, -5));
    }
  }
  return found;
}

describe('389-DS fixture', { skip: skipUnlessCi(dirsrvUnavailableReason()) }, () => {
  // The dataset of test/sync-389ds.test.ts, so both files share one template.
  const { organisation: org, misfits, ldif } = dirsrvTestDirectory();
  let ds: Dirsrv;
  before(async () => {
    ds = await startDirsrv({ ldif, memberOf: true });
  });
  after(async () => {
    await ds?.stop();
  });

  const countPeople = async (c: Client): Promise<number> => {
    const { searchEntries } = await c.search(ds.baseDn, { filter: '(objectClass=inetOrgPerson)', attributes: ['uid'] });
    return searchEntries.length;
  };
  const people = (): number => org.users.length + misfits.withoutUid.length;

  it('serves the generated users to the reader over ldap, ldaps and StartTLS, with its own CA for localhost', async () => {
    assert.equal(ds.startup.fromTemplate, true);
    await withClient(await client(ds.url), async (c) => {
      await c.bind(ds.readerDn, ds.readerPassword);
      assert.equal(await countPeople(c), people());
    });
    await withClient(await client(ds.ldapsUrl, ds.caFile, ds.tlsServerName), async (c) => {
      await c.bind(ds.readerDn, ds.readerPassword);
      assert.equal(await countPeople(c), people());
    });
    await withClient(await client(ds.url), async (c) => {
      await c.startTLS({ ca: [await readFile(ds.caFile)], servername: ds.tlsServerName });
      await c.bind(ds.readerDn, ds.readerPassword);
      assert.equal(await countPeople(c), people());
    });
    const { stdout } = await run('openssl', ['x509', '-in', ds.caFile, '-noout', '-subject']);
    assert.match(stdout, /CN ?= ?ssca\./);
  });

  it('listens on 127.0.0.1 only', async () => {
    for (const port of [ds.port, ds.ldapsPort]) assert.deepEqual(await listeningAddresses(port), ['0100007F'], `port ${port}`);
  });

  it('answers as 389-DS, with nsUniqueId, memberOf, nsAccountLock and no userPassword for the reader', async () => {
    await withClient(await client(ds.url), async (c) => {
      await c.bind(ds.readerDn, ds.readerPassword);
      const root = await c.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['vendorName'] });
      assert.equal(root.searchEntries[0]?.vendorName, '389 Project');
      const locked = org.users.find((user) => user.locked);
      const member = org.users.find((user) => !user.locked && user.memberOf.length > 0);
      assert.ok(locked && member);
      const { searchEntries } = await c.search(ds.baseDn, { filter: `(uid=${member.uid})`, attributes: ['nsUniqueId', 'memberOf', 'userPassword'] });
      const entry = searchEntries[0];
      assert.match(String(entry?.nsUniqueId), /^[0-9a-f]{8}(-[0-9a-f]{8}){3}$/);
      const memberOf = ([] as unknown[]).concat(entry?.memberOf ?? []).map(String);
      for (const dn of member.memberOf)
        assert.ok(
          memberOf.some((value) => value.toLowerCase() === dn.toLowerCase()),
          `${dn} in memberOf`,
        );
      assert.deepEqual([entry?.userPassword ?? []].flat(), [], 'userPassword is not readable');
      const lock = await c.search(ds.baseDn, { filter: `(uid=${locked.uid})`, attributes: ['nsAccountLock'] });
      assert.equal(String(lock.searchEntries[0]?.nsAccountLock).toUpperCase(), 'TRUE');
    });
    const user = org.users.find((candidate) => !candidate.locked);
    const locked = org.users.find((candidate) => candidate.locked);
    assert.ok(user && locked);
    await withClient(await client(ds.url), (c) => c.bind(user.dn, user.password));
    await withClient(await client(ds.url), async (c) => {
      await assert.rejects(c.bind(user.dn, 'wrong'), InvalidCredentialsError);
      await assert.rejects(c.bind(locked.dn, locked.password));
    });
  });

  it('takes writes as Directory Manager, and survives restart and kill with its data', async () => {
    await ds.ldapadd(`dn: uid=fixture.probe,ou=people,${ds.baseDn}\nobjectClass: inetOrgPerson\nuid: fixture.probe\ncn: Probe\nsn: Probe\n`);
    const oldPid = ds.pid;
    await ds.restart();
    assert.notEqual(ds.pid, oldPid);
    assert.equal(isRunning(oldPid), false);
    ds.kill();
    await ds.restart();
    await withClient(await client(ds.url), async (c) => {
      await c.bind(ds.adminDn, ds.adminPassword);
      const { searchEntries } = await c.search(ds.baseDn, { filter: '(uid=fixture.probe)', attributes: ['uid'] });
      assert.equal(searchEntries.length, 1);
    });
  });
});
