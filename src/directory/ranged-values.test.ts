import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDirbridgeError } from '../errors.ts';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { completeRangedValues, type FetchRange, hasRangedValues, parseRangedName } from './ranged-values.ts';

const DN = 'CN=Everyone,OU=Groups,DC=example,DC=test';
const members = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, index) => `CN=user${from + index},OU=People,DC=example,DC=test`);

/** A directory that holds `values` of `member` and answers ranges of `maxValRange`, as AD does. */
function rangedDirectory(values: string[], maxValRange: number): { fetch: FetchRange; requests: string[] } {
  const requests: string[] = [];
  const fetch: FetchRange = async (dn, request) => {
    requests.push(request);
    assert.equal(dn, DN);
    const parsed = parseRangedName(request);
    assert.ok(parsed !== null && parsed.end === null, `asks for an open range: ${request}`);
    return { dn, attributes: rangedSlice(values, parsed.start, maxValRange) };
  };
  return { fetch, requests };
}

function rangedSlice(values: string[], start: number, maxValRange: number): Record<string, string[]> {
  const last = Math.min(values.length, start + maxValRange) - 1;
  const end = last === values.length - 1 ? '*' : String(last);
  return { [`member;range=${start}-${end}`]: values.slice(start, last + 1) };
}

describe('parseRangedName', () => {
  it('reads the range option and keeps other options', () => {
    assert.deepEqual(parseRangedName('member;range=0-1499'), { base: 'member', start: 0, end: 1499 });
    assert.deepEqual(parseRangedName('Member;Range=1500-*'), { base: 'member', start: 1500, end: null });
    assert.deepEqual(parseRangedName('member;binary;range=3-4'), { base: 'member;binary', start: 3, end: 4 });
  });

  it('ignores names without a valid range', () => {
    assert.equal(parseRangedName('member'), null);
    assert.equal(parseRangedName('range=0-1'), null);
    assert.equal(parseRangedName('member;range=5-2'), null);
    assert.equal(parseRangedName('member;range=a-*'), null);
  });
});

describe('completeRangedValues', () => {
  it('returns an entry without ranges unchanged, without asking', async () => {
    const entry: DirectoryEntry = { dn: DN, attributes: { member: members(0, 2), cn: ['Everyone'] } };
    const { fetch, requests } = rangedDirectory([], 1500);
    assert.equal(hasRangedValues(entry), false);
    assert.equal(await completeRangedValues(entry, fetch), entry);
    assert.deepEqual(requests, []);
  });

  it('fetches every range of a 4000-member group and folds them into member', async () => {
    const all = members(0, 3999);
    const { fetch, requests } = rangedDirectory(all, 1500);
    const entry: DirectoryEntry = { dn: DN, attributes: { cn: ['Everyone'], ...rangedSlice(all, 0, 1500) } };
    assert.equal(hasRangedValues(entry), true);
    const complete = await completeRangedValues(entry, fetch);
    assert.deepEqual(requests, ['member;range=1500-*', 'member;range=3000-*']);
    assert.deepEqual(complete.attributes.member, all);
    assert.deepEqual(complete.attributes.cn, ['Everyone']);
    assert.deepEqual(Object.keys(complete.attributes).sort(), ['cn', 'member']);
  });

  it('accepts a first response that already holds every value (range 0-*)', async () => {
    const { fetch, requests } = rangedDirectory([], 1500);
    const complete = await completeRangedValues({ dn: DN, attributes: { 'member;range=0-*': members(0, 1) } }, fetch);
    assert.deepEqual(complete.attributes.member, members(0, 1));
    assert.deepEqual(requests, []);
  });

  it('refuses a gap between ranges: the group changed between requests', async () => {
    const fetch: FetchRange = async (dn) => ({ dn, attributes: { 'member;range=1600-*': members(1600, 1700) } });
    await assert.rejects(
      completeRangedValues({ dn: DN, attributes: { 'member;range=0-1499': members(0, 1499) } }, fetch),
      (error) =>
        isDirbridgeError(error, 'directory.protocol') && /member;range=1500-\* and got member;range=1600-\*/.test(error.message) && error.message.includes(DN),
    );
  });

  it('refuses a range that holds fewer values than its bounds name (a silent gap), first or follow-up', async () => {
    const { fetch } = rangedDirectory(members(0, 3999), 1500);
    await assert.rejects(
      completeRangedValues({ dn: DN, attributes: { 'member;range=0-1499': members(0, 1498) } }, fetch),
      (error) => isDirbridgeError(error, 'directory.protocol') && /member;range=0-1499 holds 1499 values, not 1500/.test(error.message),
    );
    const short: FetchRange = async (dn) => ({ dn, attributes: { 'member;range=1500-2999': members(1500, 2998) } });
    await assert.rejects(
      completeRangedValues({ dn: DN, attributes: { 'member;range=0-1499': members(0, 1499) } }, short),
      (error) => isDirbridgeError(error, 'directory.protocol') && /member;range=1500-2999 holds 1499 values, not 1500/.test(error.message),
    );
  });

  it('refuses a follow-up that returns no values, rather than take the group as smaller', async () => {
    const fetch: FetchRange = async () => undefined;
    await assert.rejects(
      completeRangedValues({ dn: DN, attributes: { 'member;range=0-1499': members(0, 1499) } }, fetch),
      (error) => isDirbridgeError(error, 'directory.protocol') && /got no values back/.test(error.message),
    );
  });

  it('refuses a first range that does not start at 0', async () => {
    const { fetch } = rangedDirectory([], 1500);
    await assert.rejects(
      completeRangedValues({ dn: DN, attributes: { 'member;range=10-*': members(10, 11) } }, fetch),
      (error) => isDirbridgeError(error, 'directory.protocol') && /starts at 10/.test(error.message),
    );
  });

  it('propagates a directory fault during a follow-up', async () => {
    const fetch: FetchRange = async () => {
      throw new Error('connection reset');
    };
    await assert.rejects(completeRangedValues({ dn: DN, attributes: { 'member;range=0-1499': members(0, 1499) } }, fetch), /connection reset/);
  });
});
