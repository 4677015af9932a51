import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MappedGroup } from './group.ts';
import { resolveMemberships } from './memberships.ts';
import type { MappedUser } from './user.ts';

const user = (id: string): MappedUser => ({
  externalId: id,
  dn: `uid=${id},dc=x`,
  dnKey: `uid=${id},dc=x`,
  username: id,
  email: null,
  firstName: '',
  lastName: '',
  displayName: null,
  directoryState: 'active',
});
const group = (id: string, members: string[], uids: string[] = []): MappedGroup => ({
  externalId: `g-${id}`,
  dn: `cn=${id},dc=x`,
  dnKey: `cn=${id},dc=x`,
  name: id,
  memberDnKeys: members,
  memberUids: uids,
});
const members = (result: ReturnType<typeof resolveMemberships>, name: string) =>
  [...(result.groups.find((candidate) => candidate.name === name)?.memberUserIds ?? [])].sort();

describe('resolveMemberships', () => {
  const users = [user('a'), user('b'), user('c')];
  const groups = [
    group('top', ['cn=mid,dc=x', 'uid=a,dc=x']),
    group('mid', ['cn=leaf,dc=x', 'uid=zzz,dc=x']),
    group('leaf', ['uid=b,dc=x', 'cn=top,dc=x'], ['C']),
  ];

  it('resolves direct members from member DNs and memberUid, ignoring unknown members', () => {
    const result = resolveMemberships(users, groups, { nested: false });
    assert.deepEqual(members(result, 'top'), ['a']);
    assert.deepEqual(members(result, 'mid'), []);
    assert.deepEqual(members(result, 'leaf'), ['b', 'c']);
    assert.deepEqual(result.warnings, []);
  });

  it('expands nested groups transitively and survives a cycle, reporting it', () => {
    const result = resolveMemberships(users, groups, { nested: true });
    assert.deepEqual(members(result, 'top'), ['a', 'b', 'c']);
    assert.deepEqual(members(result, 'mid'), ['a', 'b', 'c']);
    assert.deepEqual(members(result, 'leaf'), ['a', 'b', 'c']);
    assert.equal(result.warnings.length, 3);
    assert.match(result.warnings[0] ?? '', /nesting cycle/);
  });
});

describe('resolveMemberships with uniqueMember UIDs (RFC 4517)', () => {
  const withIds = (id: string, uniqueIdentifiers: string[]): MappedUser => ({ ...user(id), uniqueIdentifiers });
  const keyOf = (dn: string, uid: string) => `${dn}\u0000${uid}`;
  const groupWithIds = (id: string, memberKeys: string[], uniqueIdentifiers: string[] = []): MappedGroup => ({ ...group(id, memberKeys), uniqueIdentifiers });

  it('counts a value with a UID only for the entry holding that unique identifier, users and groups alike', () => {
    const users = [withIds('a', ['0101']), user('b'), withIds('c', ['11', '0'])];
    const groups = [
      groupWithIds('g', [keyOf('uid=a,dc=x', '0101'), keyOf('uid=b,dc=x', '0101'), keyOf('uid=c,dc=x', '1'), keyOf('uid=c,dc=x', '0')]),
      groupWithIds('child', ['uid=b,dc=x'], ['10']),
      groupWithIds('parent', [keyOf('cn=child,dc=x', '10')]),
      groupWithIds('stale-parent', [keyOf('cn=child,dc=x', '01')]),
    ];
    const result = resolveMemberships(users, groups, { nested: true });
    assert.deepEqual(members(result, 'g'), ['a', 'c']);
    assert.deepEqual(members(result, 'parent'), ['b']);
    assert.deepEqual(members(result, 'stale-parent'), []);
  });
});
