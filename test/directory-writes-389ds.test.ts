/**
 * The directory write primitives against a real 389 Directory Server 2.3, bound as a writer
 * account with ACIs on the users and groups OUs (test/helpers/write-suite.ts has the tests). Over
 * LDAPS: 389-DS takes the Password Modify extended operation only on a secure connection. The
 * global password policy is switched on here (8 characters, history of 3), as Directory Manager.
 */
import { after, before, describe } from 'node:test';
import { directorySettingsSchema } from '../src/settings/schema.ts';
import { type Dirsrv, dirsrvUnavailableReason, startDirsrv } from './fixtures/dirsrv.ts';
import { dirsrvTestDirectory } from './helpers/data-fit.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { type WriteServer, writeTests } from './helpers/write-suite.ts';

describe('directory writes on 389-DS', { skip: skipUnlessCi(dirsrvUnavailableReason()) }, () => {
  let ds: Dirsrv;
  let server: WriteServer;

  before(async () => {
    ds = await startDirsrv({ ldif: dirsrvTestDirectory().ldif, memberOf: true });
    const writer = await ds.addWriter();
    await ds.ldapmodify(
      [
        'dn: cn=config',
        'changetype: modify',
        'replace: passwordCheckSyntax',
        'passwordCheckSyntax: on',
        '-',
        'replace: passwordMinLength',
        'passwordMinLength: 8',
        '-',
        'replace: passwordHistory',
        'passwordHistory: on',
        '-',
        'replace: passwordInHistory',
        'passwordInHistory: 3',
        '-',
        '',
      ].join('\n'),
    );
    const as = (bindDn: string, bindPassword: string) =>
      directorySettingsSchema.parse({
        urls: [ds.ldapsUrl],
        tls: { caFile: ds.caFile, serverName: ds.tlsServerName },
        bindDn,
        bindPassword,
        connectTimeoutMs: 2_000,
        operationTimeoutMs: 5_000,
      });
    server = {
      writerSettings: () => as(writer.dn, writer.password),
      readerSettings: () => as(ds.readerDn, ds.readerPassword),
      userSettings: as,
      usersDn: `ou=people,${ds.baseDn}`,
      otherUsersDn: `ou=staff,${ds.baseDn}`,
      groupsDn: `ou=groups,${ds.baseDn}`,
      userRdn: 'uid',
      newUser: (uid, password) => ({
        objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
        uid,
        cn: uid,
        sn: 'Writes',
        userPassword: password,
      }),
      newGroup: (cn, members) => ({ objectClass: ['top', 'groupOfNames'], cn, member: members }),
      // 389-DS refuses passwords holding a token (3+ characters) of the entry's values, such as the uid's digits.
      password: (n) => `Zq!Vw-Kp#${String.fromCharCode(97 + n)}x`,
      tooShort: { password: 'abc', reason: 'passwordTooShort' },
      historyReason: 'passwordInHistory',
    };
  });
  after(async () => {
    await ds?.stop();
  });

  writeTests(() => server);
});
