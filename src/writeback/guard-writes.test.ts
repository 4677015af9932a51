import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeBackSettingsSchema } from '../settings/schema.ts';
import { checkWritePlan } from './guard-writes.ts';
import type { WritePlan, WriteStep } from './write-step.ts';

const writable = writeBackSettingsSchema.parse({ enabled: true, mode: 'writable', usersDn: 'ou=people,dc=example,dc=org' });
const options = { writeBack: writable, managedBases: ['ou=people,dc=example,dc=org', 'ou=groups,dc=example,dc=org'], maxDisable: 2 };
const plan = (...steps: WriteStep[]): WritePlan => ({ steps, conflicts: [], keptDirectoryValues: [] });
const disable = (name: string): WriteStep => ({
  kind: 'disableUser',
  subject: name,
  reason: 'r',
  change: { kind: 'modify', dn: `uid=${name},ou=people,dc=example,dc=org`, changes: [] },
});

describe('checkWritePlan', () => {
  it('allows writes inside the managed subtrees', () => {
    assert.deepEqual(checkWritePlan(plan(disable('a'), disable('b')), options), { isAllowed: true });
  });

  it('refuses every write unless write-back is on and writable', () => {
    for (const writeBack of [
      { ...writable, enabled: false },
      { ...writable, mode: 'unsynced' as const },
      { ...writable, mode: 'readOnly' as const },
    ]) {
      const verdict = checkWritePlan(plan(disable('a')), { ...options, writeBack });
      assert.equal(verdict.isAllowed, false);
      assert.match(verdict.isAllowed ? '' : verdict.reason, /write-back is not on/);
    }
  });

  it('refuses an entry, or a move target, outside the managed subtrees', () => {
    const outside: WriteStep = { kind: 'deleteUser', subject: 'x', reason: 'r', change: { kind: 'delete', dn: 'cn=admin,dc=example,dc=org' } };
    assert.match(JSON.stringify(checkWritePlan(plan(outside), options)), /outside the subtrees dirbridge manages/);
    const moveOut: WriteStep = {
      kind: 'moveUser',
      subject: 'a',
      reason: 'r',
      change: { kind: 'modifyDn', dn: 'uid=a,ou=people,dc=example,dc=org', newRdn: 'uid=a', newParent: 'ou=admins,dc=example,dc=org' },
    };
    assert.match(JSON.stringify(checkWritePlan(plan(moveOut), options)), /ou=admins,dc=example,dc=org lies outside/);
  });

  it('never deletes or renames a base DN', () => {
    const base: WriteStep = { kind: 'deleteGroup', subject: 'groups', reason: 'r', change: { kind: 'delete', dn: 'OU=Groups,DC=example,DC=org' } };
    assert.match(JSON.stringify(checkWritePlan(plan(base), options)), /is a base DN/);
  });

  it('refuses to disable or delete more accounts at once than maxDisable', () => {
    assert.match(
      JSON.stringify(checkWritePlan(plan(disable('a'), disable('b'), disable('c')), options)),
      /disables or deletes 3 accounts, more than sync\.guard\.maxDisable\.count \(2\)/,
    );
  });
});
