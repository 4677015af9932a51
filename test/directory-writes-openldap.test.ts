/**
 * The directory write primitives against a real OpenLDAP 2.5 (ppolicy with pwdMinLength 8 and
 * pwdInHistory 3), bound as the fixture's writer account (test/helpers/write-suite.ts has the tests).
 */
import { after, before, describe } from 'node:test';
import { generateOrganisation } from './fixtures/sample-directory.ts';
import { startSlapd, type Slapd } from './fixtures/slapd.ts';
import { slapdDirectorySettings } from './helpers/directory.ts';
import { writeTests, type WriteServer } from './helpers/write-suite.ts';

describe('directory writes on OpenLDAP', () => {
  let slapd: Slapd;
  let server: WriteServer;

  before(async () => {
    slapd = await startSlapd({ ldif: generateOrganisation({ people: 6, groups: 2, seed: 10 }).ldif, pwdMaxFailure: 1000 });
    const as = (bindDn: string, bindPassword: string) => slapdDirectorySettings(slapd, { bindDn, bindPassword });
    server = {
      writerSettings: () => as(slapd.writerDn, slapd.writerPassword),
      readerSettings: () => as(slapd.readerDn, slapd.readerPassword),
      userSettings: as,
      usersDn: `ou=people,${slapd.baseDn}`,
      otherUsersDn: `ou=staff,${slapd.baseDn}`,
      groupsDn: `ou=groups,${slapd.baseDn}`,
      userRdn: 'uid',
      newUser: (uid, password) => ({ objectClass: ['inetOrgPerson'], uid, cn: uid, sn: 'Writes', userPassword: password }),
      newGroup: (cn, members) => ({ objectClass: 'groupOfNames', cn, member: members }),
      password: (n) => `Strong-Password-${n}`,
      tooShort: { password: 'abc', reason: 'passwordTooShort' },
      historyReason: 'passwordInHistory',
    };
  });
  after(async () => {
    await slapd?.stop();
  });

  writeTests(() => server);
});
