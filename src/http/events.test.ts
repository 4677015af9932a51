import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { orderedUuid } from '../store/ordered-id.ts';
import { isEventAction, lowestIdAt } from './events.ts';

describe('change feed', () => {
  it('bounds ids by time: every id of an earlier millisecond sorts below the bound, none of that millisecond or later does', () => {
    const at = Date.parse('2030-05-06T07:08:09.123Z');
    const bound = lowestIdAt(new Date(at));
    assert.ok(orderedUuid(at - 1) < bound);
    assert.ok(orderedUuid(at) >= bound);
    assert.ok(orderedUuid(at + 1) > bound);
    assert.match(bound, /^[0-9a-f]{8}-[0-9a-f]{4}-0000-0000-000000000000$/);
  });

  it('takes user, membership and session revocation entries, not login attempts', () => {
    assert.deepEqual(
      ['user.created', 'membership.added', 'session.revoked', 'login.failed', 'session.created', 'users.other', 'settings.updated'].map(isEventAction),
      [true, true, true, false, false, false, false],
    );
  });
});
