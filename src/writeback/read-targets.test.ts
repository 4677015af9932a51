import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { userSettingsSchema } from '../settings/schema.ts';
import { changeMarkerOf, userWriteAttributes } from './read-targets.ts';

describe('read targets', () => {
  it('keeps the change marker the server shows, in order of preference, named by its attribute', () => {
    assert.equal(
      changeMarkerOf({ dn: 'uid=a', attributes: { entrycsn: ['20261203120000.000000Z#000000#000#000000'], modifytimestamp: ['20261203120000Z'] } }),
      'entryCSN:20261203120000.000000Z#000000#000#000000',
    );
    assert.equal(changeMarkerOf({ dn: 'cn=a', attributes: { usnchanged: ['4711'] } }), 'uSNChanged:4711');
    assert.equal(changeMarkerOf({ dn: 'uid=a', attributes: { modifytimestamp: ['20261203120000Z'] } }), 'modifyTimestamp:20261203120000Z');
    assert.equal(changeMarkerOf({ dn: 'uid=a', attributes: {} }), null);
  });

  it('asks for each attribute a user plan compares once, whatever its spelling', () => {
    const attributes = userWriteAttributes(userSettingsSchema.parse({ baseDn: 'dc=example,dc=test', usernameAttribute: 'uid,UID', emailAttribute: 'mail' }));
    assert.equal(attributes.filter((name) => name.toLowerCase() === 'uid').length, 1);
    for (const name of ['mail', 'pwdAccountLockedTime', 'userAccountControl', 'nsAccountLock', 'entryCSN', 'uSNChanged', 'modifyTimestamp'])
      assert.ok(attributes.includes(name), name);
  });
});
