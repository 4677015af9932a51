/**
 * The directory write primitives against a real Samba 4.17 AD DC, bound as a writer account in
 * Domain Admins over LDAPS (test/helpers/write-suite.ts has the shared tests), plus what is AD's
 * own: `unicodePwd` refused over plain LDAP, and `userAccountControl` bit 2 set and cleared with
 * every other bit kept.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { changeOwnPassword, openWritableDirectory, replaceValues, resetPassword } from '../src/directory/index.ts';
import { unicodePwdValue } from '../src/directory/passwords.ts';
import { isDirbridgeError } from '../src/errors.ts';
import { childDn } from '../src/ldap/dn.ts';
import { firstString } from '../src/ldap/entry.ts';
import { type DirectorySettings, directorySettingsSchema } from '../src/settings/schema.ts';
import { AD_UPN_SUFFIX, adUser, type SambaDc, sambaUnavailableReason, startSambaDc } from './fixtures/samba.ts';
import { setDisabled } from './helpers/account-state.ts';
import { skipUnlessCi } from './helpers/skip.ts';
import { type WriteServer, writeTests } from './helpers/write-suite.ts';

describe('directory writes on Active Directory (Samba)', { skip: skipUnlessCi(sambaUnavailableReason()) }, () => {
  let dc: SambaDc;
  let server: WriteServer;
  let writer: { dn: string; password: string };
  const settings = (url: string, bindDn: string, bindPassword: string): DirectorySettings =>
    directorySettingsSchema.parse({ urls: [url], tls: { caFile: dc.caFile }, bindDn, bindPassword, connectTimeoutMs: 2_000, operationTimeoutMs: 10_000 });

  before(async () => {
    dc = await startSambaDc();
    writer = await dc.addWriter();
    const reader = adUser('svc-dirbridge');
    const as = (bindDn: string, bindPassword: string) => settings(dc.ldapsUrl, bindDn, bindPassword);
    server = {
      writerSettings: () => as(writer.dn, writer.password),
      readerSettings: () => as(reader.dn, reader.password ?? ''),
      userSettings: as,
      usersDn: dc.ous.people,
      otherUsersDn: dc.ous.staff,
      groupsDn: dc.ous.groups,
      userRdn: 'cn',
      newUser: (cn, password) => ({
        objectClass: 'user',
        cn,
        sAMAccountName: cn.slice(0, 20),
        userPrincipalName: `${cn}@${AD_UPN_SUFFIX}`,
        unicodePwd: unicodePwdValue(password),
        userAccountControl: '512',
      }),
      newGroup: (cn, members) => ({ objectClass: 'group', cn, sAMAccountName: cn.slice(0, 20), ...(members.length > 0 ? { member: members } : {}) }),
      // Upper and lower case, digits and symbols, and no part of the account's name (AD complexity).
      password: (n) => `Zq!Vw-Kp#${String.fromCharCode(97 + n)}x`,
      tooShort: { password: 'Ab1!', reason: 'passwordTooShort' },
      historyReason: 'passwordInHistory',
    };
  });
  after(async () => {
    await dc?.stop();
  });

  writeTests(() => server);

  it('refuses unicodePwd over plain LDAP before sending anything (a user change and a reset)', async () => {
    // Windows refuses it too (unwillingToPerform, 0000001F); Samba with "ldap server require strong
    // auth = no", as in this fixture, would take it, so dirbridge must refuse it itself.
    const target = adUser('ivan');
    await using plain = await openWritableDirectory(settings(dc.url, writer.dn, writer.password));
    assert.equal(plain.security, 'plain');
    const refused = (error: unknown) => isDirbridgeError(error, 'directory.insecure_connection') && /ldaps:\/\/ or StartTLS/.test(error.message);
    await assert.rejects(resetPassword(plain, { dn: target.dn, newPassword: 'Zq!Vw-Kp#zx' }), refused);
    await assert.rejects(changeOwnPassword(plain, { dn: target.dn, oldPassword: target.password ?? '', newPassword: 'Zq!Vw-Kp#zx' }), refused);
    await (await openWritableDirectory(settings(dc.ldapsUrl, target.dn, target.password ?? ''))).close();
  });

  it('resets a password over StartTLS', async () => {
    const target = adUser('judy');
    await using startTls = await openWritableDirectory(
      directorySettingsSchema.parse({ ...settings(dc.url, writer.dn, writer.password), startTls: true, tls: { caFile: dc.caFile } }),
    );
    assert.equal(startTls.security, 'starttls');
    await resetPassword(startTls, { dn: target.dn, newPassword: 'Zq!Vw-Kp#yx' });
    await (await openWritableDirectory(settings(dc.ldapsUrl, target.dn, 'Zq!Vw-Kp#yx'))).close();
  });

  it('sets and clears bit 2 of userAccountControl, keeping every other bit', async () => {
    await using connection = await openWritableDirectory(server.writerSettings());
    const name = `uac-${process.pid}`;
    const dn = childDn(dc.ous.people, 'cn', name);
    await connection.add(dn, server.newUser(name, server.password(9)));
    const uac = async () =>
      Number(
        firstString(
          (await connection.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes: ['userAccountControl'], maxEntries: 1 }))[0] ?? {
            dn,
            attributes: {},
          },
          'userAccountControl',
        ),
      );
    // DONT_EXPIRE_PASSWORD (0x10000) stands for "another bit someone set".
    await connection.modify(dn, [replaceValues('userAccountControl', [String(0x200 | 0x10000)])]);
    await setDisabled(connection, dn, true);
    assert.equal(await uac(), 0x200 | 0x10000 | 0x2);
    await setDisabled(connection, dn, false);
    assert.equal(await uac(), 0x200 | 0x10000);
  });
});
