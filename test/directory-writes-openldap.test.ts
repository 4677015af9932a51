/**
 * The directory write primitives against a real OpenLDAP 2.5 (ppolicy with pwdMinLength 8 and
 * pwdInHistory 3), bound as the fixture's writer account (test/helpers/write-suite.ts has the tests).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openDirectory, openWritableDirectory } from '../src/directory/index.ts';
import { testConnection } from '../src/sync/test-connection.ts';
import { generateOrganisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { slapdDirectorySettings } from './helpers/directory.ts';
import { settingsFor } from './helpers/harness.ts';
import { type WriteServer, writeTests } from './helpers/write-suite.ts';

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

  it('reports write access to usersDn and groupsDn in Test Connection when asked, and warns where it is missing', async () => {
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}` },
    });
    try {
      const probe = (settings: typeof made.settings.directory) => ({
        usersDn: server.usersDn,
        groupsDn: server.groupsDn,
        openWritable: () => openWritableDirectory(settings),
      });
      const plain = await testConnection({ openDirectory: () => openDirectory(made.settings.directory), settings: made.settings });
      assert.equal(plain.writeAccess, undefined, 'not probed unless asked');
      const asReader = await testConnection({
        openDirectory: () => openDirectory(made.settings.directory),
        settings: made.settings,
        writeAccess: probe(server.readerSettings()),
      });
      assert.equal(asReader.writeAccess?.usersDn?.writable, false);
      assert.equal(asReader.writeAccess?.groupsDn?.writable, false);
      assert.ok(
        asReader.warnings.some((warning) => warning.startsWith('writeBack.usersDn: the bind account has no write access')),
        asReader.warnings.join('\n'),
      );
      const asWriter = await testConnection({
        openDirectory: () => openDirectory(made.settings.directory),
        settings: made.settings,
        writeAccess: probe(server.writerSettings()),
      });
      assert.equal(asWriter.writeAccess?.usersDn?.writable, true);
      assert.equal(asWriter.writeAccess?.groupsDn?.writable, true);
      assert.ok(!asWriter.warnings.some((warning) => warning.startsWith('writeBack.')), asWriter.warnings.join('\n'));
    } finally {
      await made.cleanup();
    }
  });
});
