/**
 * The DirSync read loop and how it classifies entries, against a scripted connection: Samba ignores
 * MaxBytes and answers everything in one round trip, so the "more results" loop cannot be made to
 * run on the real server (test/dirsync-active-directory.test.ts covers everything else there).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerReader, BerWriter, type Control } from 'ldapts';
import { DirbridgeError, isDirbridgeError } from '../../errors.ts';
import type { DirectoryEntry } from '../../ldap/entry.ts';
import { formatObjectGuid } from '../../ldap/guid.ts';
import type { DirectoryConnection } from '../connect.ts';
import { DirSyncControl } from '../controls/dirsync.ts';
import { type DirSyncEvent, type DirSyncRequest, readDirSync } from './read-dirsync.ts';

interface Round {
  entries: DirectoryEntry[];
  more: boolean;
  cookie: string;
}

function responseValue(more: boolean, cookie: Buffer): Buffer {
  const writer = new BerWriter();
  writer.startSequence();
  writer.writeInt(more ? 1 : 0);
  writer.writeInt(0);
  writer.writeBuffer(cookie, 0x04);
  writer.endSequence();
  return writer.buffer;
}

function scripted(rounds: Array<Round | Error>): { connection: DirectoryConnection; sent: Array<{ cookie: string; flags: number; attributes: string[] }> } {
  const sent: Array<{ cookie: string; flags: number; attributes: string[] }> = [];
  const unused = async (): Promise<never> => {
    throw new Error('not used');
  };
  const connection: DirectoryConnection = {
    url: 'ldap://scripted',
    security: 'plain',
    rootDse: {
      serverType: 'active-directory',
      supportedControls: [],
      supportedExtensions: [],
      supportedSaslMechanisms: [],
      namingContexts: ['DC=x', 'CN=Configuration,DC=x'],
      supportsPaging: true,
    },
    searchPages: () => ({ [Symbol.asyncIterator]: () => ({ next: unused }) }),
    searchAll: unused,
    async searchWithControls(request, controls: readonly Control[]) {
      const control = controls[0];
      assert.ok(control instanceof DirSyncControl);
      sent.push({ cookie: control.value.cookie.toString(), flags: control.value.flags, attributes: request.attributes });
      const round = rounds.shift();
      if (round === undefined) throw new Error('no more scripted rounds');
      if (round instanceof Error) throw round;
      control.parse(new BerReader(responseValue(round.more, Buffer.from(round.cookie))));
      return round.entries;
    },
    bind: unused,
    close: async () => {},
    [Symbol.asyncDispose]: async () => {},
  };
  return { connection, sent };
}

const guid = (n: number): Buffer => Buffer.alloc(16, n);
const request: DirSyncRequest = {
  namingContext: 'dc=X',
  baseDn: 'OU=People,DC=x',
  filter: '(objectClass=user)',
  attributes: ['cn'],
  incrementalValues: true,
  uniqueIdAttribute: 'objectGUID',
};

async function collect(events: AsyncIterable<DirSyncEvent>): Promise<DirSyncEvent[]> {
  const out: DirSyncEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

describe('readDirSync (scripted connection)', () => {
  it('loops while the server has more, sending each cookie back, and classifies entries', async () => {
    const { connection, sent } = scripted([
      {
        entries: [
          { dn: 'CN=A,ou=people,dc=X', attributes: { objectguid: [guid(1)], cn: ['A'] } },
          { dn: 'CN=Computer,DC=x', attributes: { objectguid: [guid(2)], cn: ['Computer'] } },
        ],
        more: true,
        cookie: 'c1',
      },
      {
        entries: [
          { dn: 'CN=B\\0ADEL:x,CN=Deleted Objects,DC=x', attributes: { objectguid: [guid(3)], isdeleted: ['TRUE'] } },
          { dn: 'CN=G,OU=People,DC=x', attributes: { objectguid: [guid(4)], 'member;range=1-1': ['CN=A,OU=People,DC=x'] } },
        ],
        more: false,
        cookie: 'c2',
      },
    ]);
    const events = await collect(readDirSync(connection, request));
    assert.deepEqual(
      events.map((event) => (event.type === 'cookie' ? `cookie ${event.cookie.toString()}` : `${event.type} ${event.dn}`)),
      [
        'changed CN=A,ou=people,dc=X',
        'outside CN=Computer,DC=x',
        'cookie c1',
        'deleted CN=B\\0ADEL:x,CN=Deleted Objects,DC=x',
        'changed CN=G,OU=People,DC=x',
        'cookie c2',
      ],
    );
    const group = events[4];
    assert.ok(group?.type === 'changed');
    assert.equal(group.uniqueId, formatObjectGuid(guid(4)));
    assert.deepEqual(group.valueChanges, [{ attribute: 'member', added: ['CN=A,OU=People,DC=x'], removed: [] }]);
    assert.deepEqual(group.entry.attributes, { objectguid: [guid(4)] });
    assert.deepEqual(
      sent.map((round) => round.cookie),
      ['', 'c1'],
    );
    assert.equal(sent[0]?.flags, 0x80000000);
    assert.deepEqual(sent[0]?.attributes, ['cn', 'objectGUID', 'isDeleted', 'name']);
  });

  it('refuses a search base that is not a naming context root before sending anything', async () => {
    const { connection, sent } = scripted([]);
    await assert.rejects(collect(readDirSync(connection, { ...request, namingContext: 'OU=People,DC=x' })), (error) =>
      isDirbridgeError(error, 'usage.invalid'),
    );
    assert.equal(sent.length, 0);
  });

  it('throws directory.sync_not_permitted for insufficient access, and directory.protocol without a response control', async () => {
    const denied = scripted([new DirbridgeError('directory.insufficient_access', 'insufficient access rights')]);
    await assert.rejects(collect(readDirSync(denied.connection, request)), (error) => isDirbridgeError(error, 'directory.sync_not_permitted'));
    const { connection } = scripted([]);
    const silent: DirectoryConnection = { ...connection, searchWithControls: async () => [] };
    await assert.rejects(collect(readDirSync(silent, request)), (error) => isDirbridgeError(error, 'directory.protocol'));
  });

  it('refuses a stored cookie that is not one before sending it', async () => {
    const { connection, sent } = scripted([]);
    await assert.rejects(collect(readDirSync(connection, { ...request, cookie: Buffer.from('garbage') })), (error) =>
      isDirbridgeError(error, 'directory.sync_cookie_invalid'),
    );
    assert.equal(sent.length, 0);
  });
});
