import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DirectoryEntry } from '../ldap/entry.ts';
import { defaultUniqueIdAttribute, detectServerType, rootDseFromEntry, type ServerType } from './root-dse.ts';

const entry = (attributes: Record<string, string[]>): DirectoryEntry => ({ dn: '', attributes });

describe('detectServerType', () => {
  const cases: Array<[string, DirectoryEntry, ServerType]> = [
    ['OpenLDAP by objectClass', entry({ objectclass: ['top', 'OpenLDAProotDSE'] }), 'openldap'],
    ['OpenLDAP by structuralObjectClass', entry({ structuralobjectclass: ['OpenLDAProotDSE'] }), 'openldap'],
    ['OpenLDAP by vendor', entry({ vendorname: ['OpenLDAP Foundation'] }), 'openldap'],
    ['AD by capability', entry({ supportedcapabilities: ['1.2.840.113556.1.4.800', '1.2.840.113556.1.4.1670'] }), 'active-directory'],
    ['AD by naming context and GC flag', entry({ defaultnamingcontext: ['DC=example,DC=test'], isglobalcatalogready: ['TRUE'] }), 'active-directory'],
    ['389-DS', entry({ vendorname: ['389 Project'], vendorversion: ['389-Directory/2.3.1 B2023.123.1234'] }), '389-ds'],
    ['old Netscape-derived', entry({ vendorname: ['Netscape Communications Corp.'] }), '389-ds'],
    ['something else', entry({ vendorname: ['Example Corp'] }), 'unknown'],
  ];
  for (const [name, input, expected] of cases) it(name, () => assert.equal(detectServerType(input), expected));
});

describe('rootDseFromEntry', () => {
  it('summarises controls and paging support', () => {
    const rootDse = rootDseFromEntry(
      entry({
        supportedcontrol: ['1.2.840.113556.1.4.319', '1.3.6.1.4.1.4203.1.9.1.1'],
        namingcontexts: ['dc=example,dc=org'],
        vendorname: ['OpenLDAP'],
      }),
    );
    assert.equal(rootDse.serverType, 'openldap');
    assert.equal(rootDse.supportsPaging, true);
    assert.deepEqual(rootDse.namingContexts, ['dc=example,dc=org']);
    assert.equal(rootDse.vendorName, 'OpenLDAP');
    assert.equal(rootDse.defaultNamingContext, undefined);
  });
  it('says no paging when controls are listed without the paged results control', () => {
    assert.equal(rootDseFromEntry(entry({ supportedcontrol: ['1.3.6.1.4.1.4203.1.9.1.1'] })).supportsPaging, false);
  });
  it('assumes paging for an unreadable RootDSE', () => {
    assert.deepEqual(rootDseFromEntry(undefined).serverType, 'unknown');
    assert.equal(rootDseFromEntry(undefined).supportsPaging, true);
  });
});

describe('defaultUniqueIdAttribute', () => {
  it('picks the stable id per server', () => {
    assert.equal(defaultUniqueIdAttribute('openldap'), 'entryUUID');
    assert.equal(defaultUniqueIdAttribute('active-directory'), 'objectGUID');
    assert.equal(defaultUniqueIdAttribute('389-ds'), 'nsUniqueId');
    assert.equal(defaultUniqueIdAttribute('unknown'), 'entryUUID');
  });
});
