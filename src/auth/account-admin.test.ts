import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { directoryManagedFields } from './account-admin.ts';

describe('directoryManagedFields', () => {
  it('leaves every field of a local user editable', () => {
    assert.deepEqual(directoryManagedFields({ source: 'local' }, { adminGroup: 'admins' }), []);
  });

  it('manages the profile and memberships of a directory user, and the admin flag only while an admin group is mapped', () => {
    assert.deepEqual(directoryManagedFields({ source: 'directory' }, { adminGroup: undefined }), [
      'username',
      'email',
      'firstName',
      'lastName',
      'displayName',
      'groups',
    ]);
    assert.deepEqual(directoryManagedFields({ source: 'directory' }, { adminGroup: 'admins' }), [
      'username',
      'email',
      'firstName',
      'lastName',
      'displayName',
      'isAdmin',
      'groups',
    ]);
    assert.deepEqual(directoryManagedFields({ source: 'directory' }, undefined), ['username', 'email', 'firstName', 'lastName', 'displayName', 'groups']);
  });
});
