import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDn } from '../ldap/dn.ts';
import { rdnForLdapts } from './write.ts';

/** How ldapts splits a new DN string into newRdn and newSuperior (Client.modifyDN). */
function ldaptsSplit(newDn: string): string {
  const index = newDn.search(/[^\\],/);
  return index === -1 ? newDn : newDn.slice(0, index + 1);
}

describe('rdnForLdapts', () => {
  it('formats the RDN so that ldapts cuts the new DN right after it', () => {
    for (const value of ['plain', 'Smith, John', 'a+b', 'ends with backslash\\', '\\,', ' lead and trail ', '#hash', 'quote "x"']) {
      const rdn = rdnForLdapts([{ type: 'cn', value }]);
      assert.equal(ldaptsSplit(`${rdn},ou=people,dc=example,dc=org`), rdn, value);
      assert.deepEqual(parseDn(rdn), [[{ type: 'cn', value }]], `${value} survives: ${rdn}`);
    }
  });
});
