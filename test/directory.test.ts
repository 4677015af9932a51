/**
 * src/directory against a real slapd (test/fixtures/slapd.ts), plus tiny fake TCP servers for the
 * failures a real server will not produce on demand (hangs, refused StartTLS).
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BerReader, BerWriter } from 'ldapts';
import { type DirectoryConnection, defaultUniqueIdAttribute, openDirectory, uniqueIdOf } from '../src/directory/index.ts';
import { dnEquals } from '../src/ldap/dn.ts';
import { allStrings, firstBuffer, firstString } from '../src/ldap/entry.ts';
import { and, eq, fillFilterTemplate, parseFilterTemplate, present } from '../src/ldap/filter.ts';
import { type DirectorySettings, directorySettingsSchema } from '../src/settings/schema.ts';
import { ldifBinaryLine } from './fixtures/ldif.ts';
import { freePort } from './fixtures/proc.ts';
import { generateOrganisation, type Organisation, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { slapdDirectorySettings } from './helpers/directory.ts';
import { rejectsWithCode } from './helpers/rejects.ts';

const PEOPLE = 1200;
const PHOTO_TEXT = Buffer.from('hello photo'); // valid UTF-8: ldapts would return it as a string
const PHOTO_BINARY = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]);

function photoLdif(baseDn: string): string {
  const user = (uid: string, photo: Buffer): string =>
    [`dn: uid=${uid},ou=people,${baseDn}`, 'objectClass: inetOrgPerson', `uid: ${uid}`, `cn: ${uid}`, 'sn: Photo', ldifBinaryLine('jpegPhoto', photo), ''].join(
      '\n',
    );
  return `${user('photo.text', PHOTO_TEXT)}\n${user('photo.binary', PHOTO_BINARY)}`;
}

let slapd: Slapd;
let org: Organisation;
let user: SampleUser;
const inetOrgPersons = (): number => PEOPLE + 2;

const settings = (overrides: Record<string, unknown> = {}): DirectorySettings => slapdDirectorySettings(slapd, overrides);

async function closedPortUrl(): Promise<string> {
  return `ldap://127.0.0.1:${await freePort()}`;
}

/** A TCP server on 127.0.0.1; `onConnection` decides what it does. Records connection count. */
async function fakeServer(onConnection: (socket: net.Socket) => void): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    count += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    url: `ldap://127.0.0.1:${address.port}`,
    connections: () => count,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP proxy to slapd whose answers can be cut off (`freeze`), to make a live connection hang. */
async function freezableProxy(target: number): Promise<{ url: string; freeze: () => void; close: () => Promise<void> }> {
  let frozen = false;
  const proxy = await fakeServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (data) => upstream.write(data));
    upstream.on('data', (data) => {
      if (!frozen) client.write(data);
    });
  });
  return { url: proxy.url, freeze: () => (frozen = true), close: proxy.close };
}

/** Reads the LDAP messages (tag, messageId) a fake server received. */
function ldapMessages(data: Buffer): Array<{ messageId: number; tag: number }> {
  const messages: Array<{ messageId: number; tag: number }> = [];
  const reader = new BerReader(data);
  while (reader.remain > 0) {
    const start = reader.offset;
    if (reader.readSequence() === null) break;
    const end = reader.offset + reader.length;
    const messageId = reader.readInt() ?? -1;
    const tag = reader.peek() ?? -1;
    messages.push({ messageId, tag });
    reader.offset = end;
    if (reader.offset <= start) break;
  }
  return messages;
}

/** An LDAP ExtendedResponse refusing the request (protocolError). */
function refuseExtendedOperation(messageId: number): Buffer {
  const writer = new BerWriter();
  writer.startSequence();
  writer.writeInt(messageId);
  writer.startSequence(0x78);
  writer.writeEnumeration(2);
  writer.writeString('');
  writer.writeString('unsupported extended operation');
  writer.endSequence();
  writer.endSequence();
  return writer.buffer;
}

async function collect(dir: DirectoryConnection, pageSize?: number): Promise<{ pages: number[]; total: number }> {
  const pages: number[] = [];
  for await (const page of dir.searchPages({
    baseDn: slapd.baseDn,
    scope: 'sub',
    filter: eq('objectClass', 'inetOrgPerson'),
    attributes: ['uid'],
    ...(pageSize === undefined ? {} : { pageSize }),
  })) {
    pages.push(page.length);
  }
  return { pages, total: pages.reduce((sum, n) => sum + n, 0) };
}

before(async () => {
  org = generateOrganisation({ people: PEOPLE, groups: 10 });
  const found = org.users.find((candidate) => !candidate.locked && candidate.ou === 'people' && candidate.rdnAttribute === 'uid');
  assert.ok(found);
  user = found;
  slapd = await startSlapd({ ldif: `${org.ldif}\n${photoLdif('dc=example,dc=org')}` });
});

after(async () => {
  await slapd.stop();
});

describe('connecting', () => {
  it('ldap:// with the service account reads the RootDSE and detects OpenLDAP', async () => {
    const dir = await openDirectory(settings());
    try {
      assert.equal(dir.url, slapd.url);
      assert.equal(dir.security, 'plain');
      assert.equal(dir.rootDse.serverType, 'openldap');
      assert.equal(dir.rootDse.supportsPaging, true);
      assert.ok(dir.rootDse.supportedControls.includes('1.2.840.113556.1.4.319'));
      assert.ok(dir.rootDse.supportedExtensions.includes('1.3.6.1.4.1.1466.20037'), 'StartTLS advertised');
      assert.deepEqual(dir.rootDse.namingContexts, [slapd.baseDn]);
      assert.equal(defaultUniqueIdAttribute(dir.rootDse.serverType), 'entryUUID');
    } finally {
      await dir.close();
    }
  });

  it('ldaps:// with the CA file', async () => {
    const dir = await openDirectory(settings({ urls: [slapd.ldapsUrl], tls: { caFile: slapd.caFile } }));
    try {
      assert.equal(dir.security, 'ldaps');
      const [entry] = await dir.searchAll({ baseDn: user.dn, scope: 'base', filter: '(objectClass=*)', attributes: ['uid'], maxEntries: 1 });
      assert.equal(firstString(entry ?? { dn: '', attributes: {} }, 'uid'), user.uid);
    } finally {
      await dir.close();
    }
  });

  it('StartTLS with the CA file, then binding as a user', async () => {
    const dir = await openDirectory(settings({ startTls: true, tls: { caFile: slapd.caFile } }));
    try {
      assert.equal(dir.security, 'starttls');
      await dir.bind(user.dn, user.password);
      const entries = await dir.searchAll({ baseDn: user.dn, scope: 'base', filter: present('objectClass'), attributes: ['cn'], maxEntries: 1 });
      assert.equal(entries.length, 1);
    } finally {
      await dir.close();
    }
  });

  it('await using closes the connection', async () => {
    let escaped: DirectoryConnection | undefined;
    {
      await using dir = await openDirectory(settings());
      escaped = dir;
    }
    await rejectsWithCode(
      escaped.searchAll({ baseDn: slapd.baseDn, scope: 'base', filter: '(objectClass=*)', attributes: [], maxEntries: 1 }),
      'directory.unavailable',
    );
  });
});

describe('TLS failures', () => {
  it('ldaps:// with the wrong CA → tls_failure naming the reason', async () => {
    const error = await rejectsWithCode(openDirectory(settings({ urls: [slapd.ldapsUrl], tls: { caFile: slapd.otherCaFile } })), 'directory.tls_failure');
    assert.match(String(error.details['reason']), /SELF_SIGNED|UNABLE_TO/);
  });

  it('ldaps:// without a CA file (system trust) → tls_failure', async () => {
    await rejectsWithCode(openDirectory(settings({ urls: [slapd.ldapsUrl] })), 'directory.tls_failure');
  });

  it('ldaps:// with a server name the certificate does not hold → tls_failure', async () => {
    const error = await rejectsWithCode(
      openDirectory(settings({ urls: [slapd.ldapsUrl], tls: { caFile: slapd.caFile, serverName: 'wrong.example' } })),
      'directory.tls_failure',
    );
    assert.equal(error.details['reason'], 'ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('rejectUnauthorized: false is an explicit opt-out', async () => {
    const dir = await openDirectory(settings({ urls: [slapd.ldapsUrl], tls: { caFile: slapd.otherCaFile, rejectUnauthorized: false } }));
    await dir.close();
  });

  it('a TLS failure does not fail over to the next URL', async () => {
    await rejectsWithCode(openDirectory(settings({ urls: [slapd.ldapsUrl, slapd.url], tls: { caFile: slapd.otherCaFile } })), 'directory.tls_failure');
  });

  it('ldaps:// against a plain-text port → tls_failure, not failover', async () => {
    await rejectsWithCode(
      openDirectory(settings({ urls: [slapd.url.replace('ldap://', 'ldaps://'), slapd.ldapsUrl], tls: { caFile: slapd.caFile } })),
      'directory.tls_failure',
    );
  });

  it('StartTLS with the wrong CA → tls_failure', async () => {
    await rejectsWithCode(openDirectory(settings({ startTls: true, tls: { caFile: slapd.otherCaFile } })), 'directory.tls_failure');
  });

  it('a refused StartTLS never continues in plain text (no bind is sent) and does not fail over', async () => {
    const received: Buffer[] = [];
    const fake = await fakeServer((socket) => {
      socket.on('data', (data) => {
        received.push(data);
        for (const message of ldapMessages(data)) {
          if (message.tag === 0x77) socket.write(refuseExtendedOperation(message.messageId));
        }
      });
    });
    try {
      await rejectsWithCode(openDirectory(settings({ urls: [fake.url, slapd.url], startTls: true, tls: { caFile: slapd.caFile } })), 'directory.tls_failure');
      const tags = ldapMessages(Buffer.concat(received)).map((message) => message.tag);
      assert.equal(tags[0], 0x77, 'the first message is the StartTLS extended request');
      assert.equal(tags.includes(0x60), false, 'no bind request (with the password) was ever sent');
      assert.equal(tags.includes(0x63), false, 'no search was sent in plain text');
    } finally {
      await fake.close();
    }
  });
});

describe('failover and unavailability', () => {
  it('moves past an unreachable URL to a working one', async () => {
    const dir = await openDirectory(settings({ urls: [await closedPortUrl(), slapd.url] }));
    try {
      assert.equal(dir.url, slapd.url);
    } finally {
      await dir.close();
    }
  });

  it('all unreachable → unavailable listing each URL and its cause', async () => {
    const closed = await closedPortUrl();
    const error = await rejectsWithCode(openDirectory(settings({ urls: [closed, 'ldap://no-such-host.invalid:389'] })), 'directory.unavailable');
    const attempts = error.details['attempts'];
    assert.ok(Array.isArray(attempts));
    assert.deepEqual(
      attempts.map((attempt: { url: string; reason: string }) => [attempt.url, attempt.reason]),
      [
        [closed, 'ECONNREFUSED'],
        ['ldap://no-such-host.invalid:389', 'ENOTFOUND'],
      ],
    );
    assert.match(error.message, /ECONNREFUSED.*ENOTFOUND/);
  });

  it('a server that accepts and never answers times out within operationTimeoutMs, then fails over', async () => {
    const silent = await fakeServer(() => undefined);
    try {
      const started = Date.now();
      const error = await rejectsWithCode(openDirectory(settings({ urls: [silent.url], operationTimeoutMs: 300 })), 'directory.unavailable');
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 3_000, `took ${elapsed} ms`);
      assert.equal((error.details['attempts'] as Array<{ code: string }>)[0]?.code, 'directory.timeout');

      const dir = await openDirectory(settings({ urls: [silent.url, slapd.url], operationTimeoutMs: 300 }));
      assert.equal(dir.url, slapd.url);
      await dir.close();
    } finally {
      await silent.close();
    }
  });

  it('StartTLS against a server that never answers times out', async () => {
    const silent = await fakeServer(() => undefined);
    try {
      const error = await rejectsWithCode(openDirectory(settings({ urls: [silent.url], startTls: true, operationTimeoutMs: 300 })), 'directory.unavailable');
      assert.equal((error.details['attempts'] as Array<{ code: string }>)[0]?.code, 'directory.timeout');
    } finally {
      await silent.close();
    }
  });

  it('an operation that stalls mid-connection → directory.timeout; the dead connection is never silently reopened', async () => {
    const proxy = await freezableProxy(slapd.port);
    const dir = await openDirectory(settings({ urls: [proxy.url], operationTimeoutMs: 400 }));
    try {
      proxy.freeze();
      const started = Date.now();
      await rejectsWithCode(collect(dir), 'directory.timeout');
      assert.ok(Date.now() - started < 3_000);
      const error = await rejectsWithCode(collect(dir), 'directory.unavailable');
      assert.match(error.message, /lost/);
    } finally {
      await dir.close();
      await proxy.close();
    }
  });
});

describe('credentials', () => {
  it('a wrong service password → invalid_credentials (no failover)', async () => {
    const error = await rejectsWithCode(openDirectory(settings({ urls: [slapd.url, slapd.url], bindPassword: 'wrong' })), 'directory.invalid_credentials');
    assert.equal(error.details['resultCode'], 49);
    assert.equal(error.details['adCode'], undefined);
  });

  it('a wrong user password on an open connection → invalid_credentials; the right one binds', async () => {
    const dir = await openDirectory(settings());
    try {
      await rejectsWithCode(dir.bind(user.dn, 'not-the-password'), 'directory.invalid_credentials');
      await dir.bind(user.dn, user.password);
    } finally {
      await dir.close();
    }
  });

  it('empty or blank passwords and empty DNs are refused without contacting the server', async () => {
    const counter = await fakeServer((socket) => socket.destroy());
    try {
      const base = settings({ urls: [counter.url] });
      await rejectsWithCode(openDirectory(base, { bindAs: { dn: user.dn, password: '' } }), 'directory.invalid_credentials');
      await rejectsWithCode(openDirectory(base, { bindAs: { dn: user.dn, password: ' \t ' } }), 'directory.invalid_credentials');
      await rejectsWithCode(openDirectory(base, { bindAs: { dn: '', password: 'secret' } }), 'directory.invalid_credentials');
      await rejectsWithCode(openDirectory({ ...base, bindDn: slapd.readerDn, bindPassword: '' }), 'directory.invalid_credentials');
      assert.equal(counter.connections(), 0);
    } finally {
      await counter.close();
    }
    const dir = await openDirectory(settings());
    try {
      await rejectsWithCode(dir.bind(user.dn, ''), 'directory.invalid_credentials');
      await rejectsWithCode(dir.bind(user.dn, '   '), 'directory.invalid_credentials');
    } finally {
      await dir.close();
    }
  });

  it('anonymous opens do not bind', async () => {
    const dir = await openDirectory(settings(), { bindAs: 'anonymous' });
    try {
      assert.equal(dir.rootDse.serverType, 'openldap', 'the RootDSE is world-readable');
      // The fixture ACL hides the tree from anonymous; OpenLDAP then denies that the base exists.
      await rejectsWithCode(
        dir.searchAll({ baseDn: slapd.baseDn, scope: 'sub', filter: eq('uid', user.uid), attributes: ['uid'], maxEntries: 5 }),
        'directory.no_such_object',
      );
    } finally {
      await dir.close();
    }
  });
});

describe('searching', () => {
  it('pages through more entries than the server size limit (as a limited user)', async () => {
    const dir = await openDirectory(settings({ bindDn: user.dn, bindPassword: user.password }));
    try {
      const byDefault = await collect(dir);
      assert.equal(byDefault.total, inetOrgPersons());
      assert.deepEqual(byDefault.pages.slice(0, 2), [500, 500], 'pages of settings.pageSize');
      const small = await collect(dir, 200);
      assert.equal(small.total, inetOrgPersons());
      assert.ok(small.pages.length >= 7 && small.pages.every((n) => n <= 200), JSON.stringify(small.pages));
    } finally {
      await dir.close();
    }
  });

  it('a server-side size limit mid-paging throws directory.size_limit instead of ending early', async () => {
    const limited = await startSlapd({ ldif: org.ldif, sizeLimit: { soft: 500, hard: 500, prtotal: 500 } });
    try {
      const dir = await openDirectory(directorySettingsSchema.parse({ urls: [limited.url], bindDn: user.dn, bindPassword: user.password, pageSize: 200 }));
      try {
        let seen = 0;
        await rejectsWithCode(
          (async () => {
            for await (const page of dir.searchPages({ baseDn: limited.baseDn, scope: 'sub', filter: '(objectClass=inetOrgPerson)', attributes: ['1.1'] })) {
              seen += page.length;
            }
          })(),
          'directory.size_limit',
        );
        assert.ok(seen <= 500, `saw ${seen}`);
      } finally {
        await dir.close();
      }
    } finally {
      await limited.stop();
    }
  });

  it('client-side limits: searchAll maxEntries and sizeLimit throw size_limit, never truncate', async () => {
    const dir = await openDirectory(settings());
    try {
      const request = { baseDn: slapd.baseDn, scope: 'sub' as const, filter: eq('objectClass', 'inetOrgPerson'), attributes: ['uid'] };
      await rejectsWithCode(dir.searchAll({ ...request, maxEntries: 10 }), 'directory.size_limit');
      const all = await dir.searchAll({ ...request, maxEntries: 5_000 });
      assert.equal(all.length, inetOrgPersons());
      let seen = 0;
      await rejectsWithCode(
        (async () => {
          for await (const page of dir.searchPages({ ...request, sizeLimit: 250, pageSize: 100 })) seen += page.length;
        })(),
        'directory.size_limit',
      );
      assert.equal(seen, 200, 'the pages before the limit were delivered, then it threw');
    } finally {
      await dir.close();
    }
  });

  it('a base that does not exist → no_such_object', async () => {
    const dir = await openDirectory(settings());
    try {
      await rejectsWithCode(
        collect({ ...dir, searchPages: (request) => dir.searchPages({ ...request, baseDn: `ou=missing,${slapd.baseDn}` }) }),
        'directory.no_such_object',
      );
    } finally {
      await dir.close();
    }
  });

  it('invalid filters and DNs are rejected before anything is sent', async () => {
    const dir = await openDirectory(settings());
    try {
      await rejectsWithCode(dir.searchAll({ baseDn: slapd.baseDn, scope: 'sub', filter: '(uid=a', attributes: [], maxEntries: 1 }), 'directory.invalid_filter');
      await rejectsWithCode(dir.searchAll({ baseDn: 'not a dn', scope: 'sub', filter: '(uid=a)', attributes: [], maxEntries: 1 }), 'directory.invalid_dn');
    } finally {
      await dir.close();
    }
  });

  it('normalises entries: lower-case names, UTF-8 text, DNs with escapes, entryUUID', async () => {
    const dir = await openDirectory(settings());
    try {
      const special = org.users.find((candidate) => candidate.cn === 'Smith, John');
      assert.ok(special);
      const [entry] = await dir.searchAll({
        baseDn: special.dn,
        scope: 'base',
        filter: '(objectClass=*)',
        attributes: ['givenName', 'CN', 'entryUUID'],
        maxEntries: 1,
      });
      assert.ok(entry);
      assert.ok(dnEquals(entry.dn, special.dn));
      assert.deepEqual(Object.keys(entry.attributes).sort(), ['cn', 'entryuuid', 'givenname']);
      assert.equal(firstString(entry, 'cn'), 'Smith, John');
      assert.match(uniqueIdOf(entry, 'entryUUID') ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-/);

      const zoe = await dir.searchAll({ baseDn: slapd.baseDn, scope: 'sub', filter: '(sn=\\c3\\85ngstr\\c3\\b6m)', attributes: ['cn'], maxEntries: 5 });
      assert.deepEqual(
        zoe.map((found) => firstString(found, 'cn')),
        ['Zoë Ångström'],
      );
    } finally {
      await dir.close();
    }
  });

  it('binary attributes come back as exact Buffers whatever their bytes or requested casing', async () => {
    const dir = await openDirectory(settings());
    try {
      for (const attribute of ['jpegPhoto', 'JPEGPHOTO', 'jpegphoto']) {
        const entries = await dir.searchAll({
          baseDn: `ou=people,${slapd.baseDn}`,
          scope: 'one',
          filter: '(sn=Photo)',
          attributes: ['uid', attribute],
          maxEntries: 5,
        });
        const byUid = new Map(entries.map((entry) => [firstString(entry, 'uid'), entry]));
        const text = byUid.get('photo.text');
        const binary = byUid.get('photo.binary');
        assert.ok(text && binary);
        assert.ok(Buffer.isBuffer(text.attributes['jpegphoto']?.[0]), `${attribute}: valid-UTF-8 photo is still a Buffer`);
        assert.deepEqual(firstBuffer(text, 'jpegPhoto'), PHOTO_TEXT);
        assert.deepEqual(firstBuffer(binary, 'jpegPhoto'), PHOTO_BINARY);
      }
    } finally {
      await dir.close();
    }
  });

  it('template filters keep injected values as data against the real server', async () => {
    const dir = await openDirectory(settings());
    try {
      const template = parseFilterTemplate('(&(objectClass=inetOrgPerson)(uid=#{username}))', ['username']);
      const find = (username: string): Promise<unknown[]> =>
        dir.searchAll({ baseDn: slapd.baseDn, scope: 'sub', filter: fillFilterTemplate(template, { username }), attributes: ['uid'], maxEntries: 5 });
      assert.equal((await find(user.uid)).length, 1);
      for (const attack of ['*', '*)(uid=*', `${user.uid})(|(uid=*`, `${user.uid}\u0000`]) {
        assert.equal((await find(attack)).length, 0, attack);
      }
      const members = await dir.searchAll({
        baseDn: slapd.baseDn,
        scope: 'sub',
        filter: and(eq('objectClass', 'groupOfNames'), eq('member', user.dn.toUpperCase())),
        attributes: ['cn', 'member'],
        maxEntries: 50,
      });
      assert.deepEqual(
        members.map((group) => firstString(group, 'cn')).sort(),
        org.groups
          .filter((group) => group.kind === 'groupOfNames' && group.members.includes(user.dn))
          .map((group) => group.cn)
          .sort(),
      );
      assert.ok(members.every((group) => allStrings(group, 'member').some((member) => dnEquals(member, user.dn))));
    } finally {
      await dir.close();
    }
  });
});
