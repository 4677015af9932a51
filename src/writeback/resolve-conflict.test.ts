import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveField } from './resolve-conflict.ts';

describe('resolveField', () => {
  it('writes when only dirbridge changed the field', () => {
    assert.deepEqual(resolveField('email', { baseline: 'a', current: 'a', desired: 'b' }, 'directory'), { decision: { action: 'write' } });
  });

  it('has nothing to do when both sides made the same change', () => {
    assert.deepEqual(resolveField('email', { baseline: 'a', current: 'b', desired: 'b' }, 'directory'), { decision: { action: 'none' } });
  });

  it('lets the authority decide when both changed, keeping the loser', () => {
    const directoryWins = resolveField('email', { baseline: 'a', current: 'c', desired: 'b' }, 'directory');
    assert.deepEqual(directoryWins.decision, { action: 'keepDirectory' });
    assert.equal(directoryWins.conflict?.dirbridgeValue, 'b');
    const dirbridgeWins = resolveField('email', { baseline: 'a', current: 'c', desired: 'b' }, 'dirbridge');
    assert.deepEqual(dirbridgeWins.decision, { action: 'write' });
    assert.equal(dirbridgeWins.conflict?.directoryValue, 'c');
  });

  it('treats a change of case as a change, and blanks as no value', () => {
    assert.deepEqual(resolveField('lastName', { baseline: 'smith', current: 'smith', desired: 'Smith' }, 'directory').decision, { action: 'write' });
    assert.deepEqual(resolveField('lastName', { baseline: null, current: ' ', desired: null }, 'directory').decision, { action: 'none' });
  });
});
