/**
 * The ranged responder's own checks: BER framing of what ldapts writes (split at every byte, back
 * to back, long-form lengths), request decoding, AD's range slicing rules, and the wire behaviour
 * a real ldapts client sees (bind check, unbound search, ranged attribute names).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BindRequest, Client, FilterParser, InvalidCredentialsError, PagedResultsControl, SearchRequest } from 'ldapts';
import { decodeMessage, encodeEntry, type RangedResponder, rangeSlice, readFilter, splitMessages, startRangedResponder } from './ranged-responder.ts';

describe('ranged responder: BER framing', () => {
  it('reassembles a message split at every byte, and splits messages sent back to back', () => {
    const bind = new BindRequest({ messageId: 7, dn: 'CN=svc,DC=corp', password: 'secret' }).write();
    for (let cut = 0; cut <= bind.length; cut += 1) {
      const first = splitMessages(bind.subarray(0, cut));
      const joined = Buffer.concat([first.rest, bind.subarray(cut)]);
      const second = splitMessages(joined);
      const all = [...first.messages, ...second.messages];
      assert.equal(all.length, 1, `cut at ${cut}`);
      assert.deepEqual(all[0], bind);
      assert.equal(second.rest.length, 0);
    }
    const two = splitMessages(Buffer.concat([bind, bind, bind.subarray(0, 3)]));
    assert.equal(two.messages.length, 2);
    assert.equal(two.rest.length, 3);
  });

  it('frames long-form lengths (a 70 kB entry) and refuses a PDU that is not a SEQUENCE', () => {
    const values = Array.from({ length: 3000 }, (_, i) => `CN=User ${i},OU=People,DC=corp`);
    const entry = encodeEntry(3, 'CN=Big,DC=corp', [{ name: 'member', values }]);
    assert.ok(entry.length > 65_536);
    assert.equal(entry[1], 0x83, 'three length bytes');
    assert.equal(splitMessages(entry.subarray(0, entry.length - 1)).messages.length, 0);
    assert.deepEqual(splitMessages(entry).messages, [entry]);
    assert.throws(() => splitMessages(Buffer.from([0x04, 0x01, 0x00])), /SEQUENCE/);
  });

  it('decodes a search request with its filter and paged control as ldapts writes them', () => {
    const filter = FilterParser.parseString(
      '(&(objectClass=group)(|(cn=a*b*c)(!(member=CN=x\\2cy,DC=corp)))(userAccountControl:1.2.840.113556.1.4.803:=2)(uSNChanged>=10))',
    );
    const request = new SearchRequest({
      messageId: 12,
      baseDN: 'DC=corp',
      scope: 'one',
      filter,
      attributes: ['member;range=1500-*', 'cn'],
      controls: [new PagedResultsControl({ value: { size: 500 } })],
    }).write();
    const message = decodeMessage(request);
    assert.equal(message.messageId, 12);
    assert.equal(message.tag, 0x63);
    assert.deepEqual(
      message.controls.map((control) => control.oid),
      ['1.2.840.113556.1.4.319'],
    );
    const { reader } = message;
    assert.equal(reader.readString(), 'DC=corp');
    assert.equal(reader.readEnumeration(), 1);
    reader.readEnumeration();
    reader.readInt();
    reader.readInt();
    reader.readBoolean();
    const decoded = readFilter(reader);
    assert.equal(decoded.type, 'and');
    assert.ok(decoded.type === 'and');
    assert.deepEqual(
      decoded.filters.map((inner) => inner.type),
      ['equal', 'or', 'extensible', 'ge'],
    );
    const or = decoded.filters[1];
    assert.ok(or?.type === 'or');
    assert.deepEqual(or.filters[0], { type: 'substrings', attribute: 'cn', initial: 'a', any: ['b'], final: 'c' });
    const not = or.filters[1];
    assert.ok(not?.type === 'not' && not.filter.type === 'equal');
    assert.equal(not.filter.value.toString('utf8'), 'CN=x,y,DC=corp');
  });
});

describe('ranged responder: MaxValRange slices (MS-ADTS 3.1.1.3.1.3.3)', () => {
  const values = (count: number) => Array.from({ length: count }, (_, i) => `v${i}`);
  it('returns an attribute whole up to MaxValRange values, and ranged beyond', () => {
    assert.equal(rangeSlice('member', values(1499), undefined, 1500)?.name, 'member');
    assert.equal(rangeSlice('member', values(1500), undefined, 1500)?.name, 'member');
    const first = rangeSlice('member', values(1501), undefined, 1500);
    assert.equal(first?.name, 'member;range=0-1499');
    assert.equal(first?.values.length, 1500);
  });
  it('answers requested ranges with at most MaxValRange values and * on the last slice', () => {
    assert.deepEqual(rangeSlice('member', values(1501), { start: 1500, end: null }, 1500), { name: 'member;range=1500-*', values: ['v1500'] });
    assert.equal(rangeSlice('member', values(5000), { start: 1500, end: null }, 1500)?.name, 'member;range=1500-2999');
    assert.equal(rangeSlice('member', values(5000), { start: 10, end: 19 }, 1500)?.name, 'member;range=10-19');
    assert.equal(rangeSlice('member', values(20), { start: 0, end: null }, 1500)?.name, 'member;range=0-*');
    assert.equal(rangeSlice('member', values(20), { start: 10, end: 19 }, 1500)?.name, 'member;range=10-*');
    assert.equal(rangeSlice('member', values(20), { start: 20, end: null }, 1500), undefined);
  });
});

describe('ranged responder: over the wire with ldapts', () => {
  let responder: RangedResponder;
  const baseDn = 'DC=corp,DC=test';
  const service = { dn: `CN=svc,CN=Users,${baseDn}`, password: 'right horse' };
  before(async () => {
    responder = await startRangedResponder({
      baseDn,
      accounts: [service],
      maxValRange: 10,
      maxPageSize: 3,
      entries: [
        { dn: baseDn, attributes: { objectClass: ['top', 'domain'] } },
        { dn: `CN=Users,${baseDn}`, attributes: { objectClass: ['top', 'container'], cn: ['Users'] } },
        { dn: service.dn, attributes: { objectClass: ['top', 'user'], cn: ['svc'] } },
        ...Array.from({ length: 5 }, (_, i) => ({
          dn: `CN=g${i},CN=Users,${baseDn}`,
          attributes: { objectClass: ['top', 'group'], cn: [`g${i}`], member: Array.from({ length: 11 * i }, (_, j) => `CN=u${j},${baseDn}`) },
        })),
      ],
    });
  });
  after(async () => responder?.stop());

  it('checks passwords, needs a bind to search, and serves ranges and pages as a DC does', async () => {
    const client = new Client({ url: responder.url, timeout: 5000 });
    try {
      await assert.rejects(client.bind(service.dn, 'wrong'), InvalidCredentialsError);
      await assert.rejects(client.search(baseDn, { filter: '(objectClass=group)' }), /successful bind/);
      await client.bind(service.dn, service.password);
      const unpaged = client.search(baseDn, { filter: '(objectClass=group)', attributes: ['cn'], paged: false });
      await assert.rejects(unpaged, /Size Limit Exceeded|sizeLimit/i, 'more than MaxPageSize without paging');
      const pages: number[] = [];
      for await (const page of client.searchPaginated(baseDn, { filter: '(objectClass=group)', attributes: ['cn', 'member'], paged: { pageSize: 100 } }))
        pages.push(page.searchEntries.length);
      assert.deepEqual(pages, [3, 2], 'pages capped at MaxPageSize');
      const { searchEntries } = await client.search(`CN=g2,CN=Users,${baseDn}`, { scope: 'base', attributes: ['member'] });
      assert.equal((searchEntries[0]?.['member;range=0-9'] as string[] | undefined)?.length, 10);
      const middle = await client.search(`CN=g2,CN=Users,${baseDn}`, { scope: 'base', attributes: ['member;range=10-*'] });
      assert.equal((middle.searchEntries[0]?.['member;range=10-19'] as string[] | undefined)?.length, 10);
      const last = await client.search(`CN=g2,CN=Users,${baseDn}`, { scope: 'base', attributes: ['member;range=20-*'] });
      assert.deepEqual(last.searchEntries[0]?.['member;range=20-*'], [`CN=u20,${baseDn}`, `CN=u21,${baseDn}`]);
    } finally {
      await client.unbind();
    }
  });
});
