import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { userSettingsSchema } from '../settings/schema.ts';
import { fieldOfAttribute } from './deliver-set.ts';

describe('fieldOfAttribute (which user field a conflicting attribute is, for its authority)', () => {
  const users = userSettingsSchema.parse({ baseDn: 'dc=example,dc=org', emailAttribute: 'userPrincipalName' });

  it('follows the read mapping, whatever the case of the attribute name', () => {
    assert.equal(fieldOfAttribute('user', users, 'userprincipalname'), 'email');
    assert.equal(fieldOfAttribute('user', users, 'givenName'), 'firstName');
    assert.equal(fieldOfAttribute('user', users, 'SN'), 'lastName');
    assert.equal(fieldOfAttribute('user', users, 'displayName'), 'displayName');
  });

  it('names no field for other attributes (account state) nor for groups: those take the default authority', () => {
    assert.equal(fieldOfAttribute('user', users, 'mail'), undefined, 'mail is not where email is read from here');
    assert.equal(fieldOfAttribute('user', users, 'userAccountControl'), undefined);
    assert.equal(fieldOfAttribute('group', users, 'sn'), undefined);
  });
});
