import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MappedGroup } from '../../mapping/group.ts';
import { mappedGroupOf, storedGroupChanges, storedGroupOf } from './stored-groups.ts';

const staff: MappedGroup = { externalId: 'g1', dn: 'cn=staff,dc=x', dnKey: 'cn=staff,dc=x', name: 'staff', memberDnKeys: ['uid=a,dc=x'], memberUids: ['b'] };

describe('stored groups', () => {
  it('round-trip a group, without resolved members', () => {
    const stored = storedGroupOf({ ...staff, memberUserIds: ['u1'] } as MappedGroup);
    assert.deepEqual(mappedGroupOf(stored), staff);
    assert.equal(stored.contentHash, storedGroupOf(staff).contentHash);
  });

  it('refuse a row that is not a group, or is another group', () => {
    assert.throws(() => mappedGroupOf({ externalId: 'g1', content: '{"externalId":"g1"}', contentHash: '' }));
    assert.throws(() => mappedGroupOf({ ...storedGroupOf(staff), externalId: 'g2' }));
  });

  it('write only new and changed groups, and remove the ones gone', () => {
    const other: MappedGroup = { ...staff, externalId: 'g2', name: 'other' };
    const hashes = new Map([
      ['g1', storedGroupOf(staff).contentHash],
      ['g3', 'x'],
    ]);
    const changes = storedGroupChanges(hashes, [staff, other]);
    assert.deepEqual(
      changes.upserted.map((group) => group.externalId),
      ['g2'],
    );
    assert.deepEqual(changes.removed, ['g3']);
    const renamed = storedGroupChanges(hashes, [{ ...staff, name: 'renamed' }]);
    assert.deepEqual(
      renamed.upserted.map((group) => group.externalId),
      ['g1'],
    );
  });
});
