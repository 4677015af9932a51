import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MappedGroup } from '../../mapping/group.ts';
import { affectedMembers } from './affected-members.ts';

const group = (id: string, dn: string, members: string[], uids: string[] = []): MappedGroup => ({
  externalId: id,
  dn,
  dnKey: dn,
  name: id,
  memberDnKeys: members,
  memberUids: uids,
});

const graph = (...groups: MappedGroup[]) => new Map(groups.map((one) => [one.externalId, one]));
const sorted = (set: Set<string>) => [...set].sort();

describe('affectedMembers', () => {
  it('names the member values added and removed, not the members that stayed', () => {
    const before = graph(group('g', 'cn=g', ['uid=a', 'uid=b'], ['x']));
    const after = graph(group('g', 'cn=g', ['uid=b', 'uid=c'], ['y']));
    const found = affectedMembers(before, after, ['g'], { nested: false });
    assert.deepEqual(sorted(found.dnKeys), ['uid=a', 'uid=c']);
    assert.deepEqual(sorted(found.uids), ['x', 'y']);
  });

  it('with nesting, a group added as a member brings everyone below it, in both graphs', () => {
    const child = group('child', 'cn=child', ['uid=c1', 'cn=grandchild']);
    const grandchild = group('grandchild', 'cn=grandchild', ['uid=g1'], ['posix']);
    const before = graph(group('parent', 'cn=parent', ['uid=p']), child, grandchild);
    const after = graph(group('parent', 'cn=parent', ['uid=p', 'cn=child']), child, grandchild);
    const found = affectedMembers(before, after, ['parent'], { nested: true });
    assert.deepEqual(sorted(found.dnKeys), ['cn=child', 'cn=grandchild', 'uid=c1', 'uid=g1']);
    assert.deepEqual(sorted(found.uids), ['posix']);
    const flat = affectedMembers(before, after, ['parent'], { nested: false });
    assert.deepEqual(sorted(flat.dnKeys), ['cn=child'], 'without nesting a group value names no user');
  });

  it('a nested group that moves or goes changes its parents: its members count, once, even in a cycle', () => {
    const a = group('a', 'cn=a', ['uid=1', 'cn=b']);
    const b = group('b', 'cn=b', ['uid=2', 'cn=a']);
    const moved = { ...b, dn: 'cn=b2', dnKey: 'cn=b2' };
    const found = affectedMembers(graph(a, b), graph(a, moved), ['b'], { nested: true });
    assert.deepEqual(sorted(found.dnKeys), ['cn=a', 'cn=b', 'uid=1', 'uid=2']);
    const gone = affectedMembers(graph(a, b), graph(a), ['b'], { nested: true });
    assert.ok(gone.dnKeys.has('uid=2'));
  });

  it('a group nobody nests brings only its own values when it appears or goes', () => {
    const lonely = group('l', 'cn=l', ['uid=9']);
    const found = affectedMembers(graph(), graph(lonely), ['l'], { nested: true });
    assert.deepEqual(sorted(found.dnKeys), ['uid=9']);
  });
});
