/**
 * One suite of directory write primitives (src/directory write side), run against each real server
 * (slapd, Samba AD, 389-DS) by a small per-server file that says how entries look there. Every
 * write is read back from the server, as another connection sees it.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ASSERTION_OID, supportsControl } from '../../src/directory/controls/index.ts';
import {
  addValues,
  changeOwnPassword,
  deleteValues,
  type NewEntryAttributes,
  openDirectory,
  openWritableDirectory,
  replaceValues,
  resetPassword,
  type WritableDirectoryConnection,
} from '../../src/directory/index.ts';
import { probeWriteAccess } from '../../src/directory/write-probe.ts';
import { isDirbridgeError } from '../../src/errors.ts';
import { childDn, dnEquals, normalizeDn } from '../../src/ldap/dn.ts';
import { allStrings, type DirectoryEntry, firstString } from '../../src/ldap/entry.ts';
import { eq, not } from '../../src/ldap/filter.ts';
import type { DirectorySettings } from '../../src/settings/schema.ts';
import { isDisabled, setDisabled } from './account-state.ts';
import { rejectsWithCode } from './rejects.ts';

/** What the suite needs to know about one server. */
export interface WriteServer {
  /** Settings bound as the writer account (over TLS where the server needs it for passwords). */
  writerSettings(): DirectorySettings;
  /** The same connection settings bound as the read-only service account. */
  readerSettings(): DirectorySettings;
  /** Settings bound as `dn` with `password` (same URL and TLS as the writer's). */
  userSettings(dn: string, password: string): DirectorySettings;
  usersDn: string;
  /** Another container users may be moved to. */
  otherUsersDn: string;
  groupsDn: string;
  /** The RDN attribute of users (`uid` or `cn`). */
  userRdn: string;
  /** Attributes of a new user named `name` (the RDN value) with an initial `password`, enabled. */
  newUser(name: string, password: string): NewEntryAttributes;
  /** Attributes of a new group named `name` with these member DNs. */
  newGroup(name: string, members: readonly string[]): NewEntryAttributes;
  /** Two strong passwords the policy accepts, distinct per `n`. */
  password(n: number): string;
  /** A password the policy refuses, and the reason the server names for it. */
  tooShort: { password: string; reason: string };
  /** The reason for reusing the current password (in history). */
  historyReason: string;
}

async function readBack(settings: DirectorySettings, dn: string, attributes: string[]): Promise<DirectoryEntry | undefined> {
  await using reader = await openDirectory(settings);
  try {
    const [entry] = await reader.searchAll({ baseDn: dn, scope: 'base', filter: '(objectClass=*)', attributes, maxEntries: 1 });
    return entry;
  } catch (error) {
    if (isDirbridgeError(error, 'directory.no_such_object')) return undefined;
    throw error;
  }
}

async function binds(settings: DirectorySettings): Promise<boolean> {
  try {
    await (await openDirectory(settings)).close();
    return true;
  } catch (error) {
    // 389-DS answers a bind to an inactivated (nsAccountLock) account with unwillingToPerform (53).
    if (isDirbridgeError(error, 'directory.invalid_credentials') || (isDirbridgeError(error) && error.details['resultCode'] === 53)) return false;
    throw error;
  }
}

/** Registers the write tests for `server` (call inside a describe, after its `before` has set it up). */
export function writeTests(get: () => WriteServer): void {
  let serial = 0;
  const name = (prefix: string): string => `${prefix}-${process.pid}-${(serial += 1)}`;

  async function withWriter<T>(work: (writer: WritableDirectoryConnection, server: WriteServer) => Promise<T>): Promise<T> {
    const server = get();
    await using writer = await openWritableDirectory(server.writerSettings());
    return await work(writer, server);
  }

  async function createUser(writer: WritableDirectoryConnection, server: WriteServer, prefix: string, password = server.password(0)): Promise<string> {
    const value = name(prefix);
    const dn = childDn(server.usersDn, server.userRdn, value);
    await writer.add(dn, server.newUser(value, password));
    return dn;
  }

  it('adds a user and reads it back; a second add of the same DN is directory.already_exists', () =>
    withWriter(async (writer, server) => {
      const value = name('added');
      const dn = childDn(server.usersDn, server.userRdn, value);
      await writer.add(dn, server.newUser(value, server.password(0)));
      const entry = await readBack(server.readerSettings(), dn, ['objectClass']);
      assert.ok(entry, 'the new entry is there');
      assert.ok(dnEquals(entry.dn, dn));
      const again = await rejectsWithCode(writer.add(dn, server.newUser(value, server.password(0))), 'directory.already_exists');
      assert.equal(again.details['resultCode'], 68);
    }));

  it('modifies with the least change: one member value added and one deleted, the other members untouched', () =>
    withWriter(async (writer, server) => {
      const members = [await createUser(writer, server, 'member'), await createUser(writer, server, 'member'), await createUser(writer, server, 'member')];
      const joiner = await createUser(writer, server, 'joiner');
      const groupName = name('group');
      const groupDn = childDn(server.groupsDn, 'cn', groupName);
      await writer.add(groupDn, server.newGroup(groupName, members));
      await writer.modify(groupDn, [addValues('member', [joiner])]);
      let entry = await readBack(server.readerSettings(), groupDn, ['member']);
      assert.deepEqual(
        allStrings(entry ?? { dn: '', attributes: {} }, 'member')
          .map(normalizeDn)
          .sort(),
        [...members, joiner].map(normalizeDn).sort(),
      );
      await writer.modify(groupDn, [deleteValues('member', [members[1] ?? ''])]);
      entry = await readBack(server.readerSettings(), groupDn, ['member']);
      assert.deepEqual(
        allStrings(entry ?? { dn: '', attributes: {} }, 'member')
          .map(normalizeDn)
          .sort(),
        [members[0] ?? '', members[2] ?? '', joiner].map(normalizeDn).sort(),
      );
      // Adding a value that is there, or deleting one that is not, is refused and changes nothing.
      await rejectsWithCode(writer.modify(groupDn, [addValues('member', [joiner])]), 'directory.value_exists');
      await rejectsWithCode(writer.modify(groupDn, [deleteValues('member', [members[1] ?? ''])]), 'directory.no_such_value');
    }));

  it('renames in place and moves to another container (modify DN), and the old DN is gone', () =>
    withWriter(async (writer, server) => {
      const dn = await createUser(writer, server, 'renamed');
      const newName = `${name('renamed')} \\, + "x"`;
      const renamed = await writer.modifyDn(dn, { rdn: { attribute: server.userRdn, value: newName } });
      assert.equal(firstString((await readBack(server.readerSettings(), renamed, [server.userRdn])) ?? { dn: '', attributes: {} }, server.userRdn), newName);
      assert.equal(await readBack(server.readerSettings(), dn, ['objectClass']), undefined, 'the old DN is gone');
      const moved = await writer.modifyDn(renamed, { parent: server.otherUsersDn });
      const entry = await readBack(server.readerSettings(), moved, ['objectClass']);
      assert.ok(entry && dnEquals(entry.dn, childDn(server.otherUsersDn, server.userRdn, newName)), `moved to ${moved}`);
      assert.equal(await readBack(server.readerSettings(), renamed, ['objectClass']), undefined);
    }));

  it('deletes a leaf; a container with children is directory.not_allowed_on_non_leaf; a missing entry is directory.no_such_object', () =>
    withWriter(async (writer, server) => {
      const dn = await createUser(writer, server, 'deleted');
      await writer.delete(dn);
      assert.equal(await readBack(server.readerSettings(), dn, ['objectClass']), undefined);
      await rejectsWithCode(writer.delete(dn), 'directory.no_such_object');
      const containerName = name('container');
      const container = childDn(server.usersDn, 'ou', containerName);
      await writer.add(container, { objectClass: ['organizationalUnit'], ou: containerName });
      const childName = name('child');
      const child = childDn(container, server.userRdn, childName);
      await writer.add(child, server.newUser(childName, server.password(0)));
      await rejectsWithCode(writer.delete(container), 'directory.not_allowed_on_non_leaf');
      await writer.delete(child);
      await writer.delete(container);
      assert.equal(await readBack(server.readerSettings(), container, ['objectClass']), undefined);
    }));

  it('refuses writes by the read-only account as directory.insufficient_access, and the probe tells the two accounts apart', async () => {
    const server = get();
    await using reader = await openWritableDirectory(server.readerSettings());
    const dn = childDn(server.usersDn, server.userRdn, name('refused'));
    await rejectsWithCode(reader.add(dn, server.newUser('refused', server.password(0))), 'directory.insufficient_access');
    for (const target of [server.usersDn, server.groupsDn]) {
      const denied = await probeWriteAccess(reader, target);
      assert.equal(denied.writable, false, `${target}: ${denied.detail}`);
    }
    await withWriter(async (writer) => {
      for (const target of [server.usersDn, server.groupsDn]) {
        const allowed = await probeWriteAccess(writer, target);
        assert.equal(allowed.writable, true, `${target}: ${allowed.detail}`);
      }
    });
  });

  it('applies a modify under a true assertion and refuses it under a false one (assertionFailed), where the server supports the control', () =>
    withWriter(async (writer, server) => {
      const dn = await createUser(writer, server, 'asserted');
      if (!supportsControl(writer.rootDse, ASSERTION_OID)) {
        await rejectsWithCode(writer.modify(dn, [replaceValues('description', ['x'])], { assertion: eq('description', 'nothing') }), 'directory.unsupported');
        return;
      }
      await writer.modify(dn, [replaceValues('description', ['first'])], { assertion: not(eq('description', 'first')) });
      const failed = await rejectsWithCode(
        writer.modify(dn, [replaceValues('description', ['second'])], { assertion: eq('description', 'not what is there') }),
        'directory.assertion_failed',
      );
      assert.equal(failed.details['resultCode'], 122);
      assert.equal(
        firstString((await readBack(server.readerSettings(), dn, ['description'])) ?? { dn: '', attributes: {} }, 'description'),
        'first',
        'the refused write changed nothing',
      );
      await writer.modify(dn, [replaceValues('description', ['second'])], { assertion: eq('description', 'first') });
      assert.equal(firstString((await readBack(server.readerSettings(), dn, ['description'])) ?? { dn: '', attributes: {} }, 'description'), 'second');
    }));

  it('resets a password as the writer and changes it as the user: the new one binds, the old one does not', () =>
    withWriter(async (writer, server) => {
      const dn = await createUser(writer, server, 'password', server.password(1));
      assert.ok(await binds(server.userSettings(dn, server.password(1))), 'the initial password binds');
      await resetPassword(writer, { dn, newPassword: server.password(2) });
      assert.ok(await binds(server.userSettings(dn, server.password(2))), 'the reset password binds');
      assert.equal(await binds(server.userSettings(dn, server.password(1))), false, 'the old password no longer binds');
      await using self = await openWritableDirectory(server.userSettings(dn, server.password(2)));
      await changeOwnPassword(self, { dn, oldPassword: server.password(2), newPassword: server.password(3) });
      assert.ok(await binds(server.userSettings(dn, server.password(3))), 'the changed password binds');
      assert.equal(await binds(server.userSettings(dn, server.password(2))), false, 'the password before the change no longer binds');
    }));

  it('refuses a password the policy rejects, naming the rule, and the old password keeps working', () =>
    withWriter(async (writer, server) => {
      const dn = await createUser(writer, server, 'policy', server.password(4));
      await using self = await openWritableDirectory(server.userSettings(dn, server.password(4)));
      const short = await rejectsWithCode(
        changeOwnPassword(self, { dn, oldPassword: server.password(4), newPassword: server.tooShort.password }),
        'directory.password_policy',
      );
      assert.equal(short.details['reason'], server.tooShort.reason, short.message);
      assert.ok(
        !short.message.includes(server.tooShort.password) && !JSON.stringify(short.details).includes(server.tooShort.password),
        'the password is not in the error',
      );
      await changeOwnPassword(self, { dn, oldPassword: server.password(4), newPassword: server.password(5) });
      const reused = await rejectsWithCode(
        changeOwnPassword(self, { dn, oldPassword: server.password(5), newPassword: server.password(4) }),
        'directory.password_policy',
      );
      assert.equal(reused.details['reason'], server.historyReason, reused.message);
      assert.ok(await binds(server.userSettings(dn, server.password(5))), 'the refused changes left the password as it was');
    }));

  it('disables and enables an account the way the server does it, idempotently; a disabled account cannot bind', () =>
    withWriter(async (writer, server) => {
      const dn = await createUser(writer, server, 'disabled', server.password(6));
      assert.equal(await isDisabled(writer, dn), false);
      await setDisabled(writer, dn, true);
      await setDisabled(writer, dn, true);
      assert.equal(await isDisabled(writer, dn), true);
      assert.equal(await binds(server.userSettings(dn, server.password(6))), false, 'a disabled account cannot bind');
      await setDisabled(writer, dn, false);
      await setDisabled(writer, dn, false);
      assert.equal(await isDisabled(writer, dn), false);
      assert.ok(await binds(server.userSettings(dn, server.password(6))), 'enabled again, it binds');
    }));
}
