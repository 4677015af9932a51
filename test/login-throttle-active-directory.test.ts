/**
 * The login throttle against a real Samba AD DC whose domain policy locks an account at the 4th bad
 * password (set with samba-tool on this run's copy of the DC): dirbridge reads lockoutThreshold and
 * lockOutObservationWindow from the domain head, stays below the threshold across the three name
 * forms (sAMAccountName, DOMAIN\name, UPN) and many addresses, and counts other applications'
 * failures from badPwdCount. Counted on the DC's side (badPwdCount, lockoutTime, read as Administrator).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { discoverLockoutPolicy } from '../src/auth/lockout-policies.ts';
import { LoginFailure } from '../src/auth/login.ts';
import { testConnection } from '../src/sync/test-connection.ts';
import { adUser, type SambaDc, sambaUnavailableReason, startSambaDc } from './fixtures/samba.ts';
import { adSettingsDocument, settingsFor } from './helpers/harness.ts';
import { adLockoutState, bindWrongPassword } from './helpers/lockout.ts';
import { rejectsLogin } from './helpers/login.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const unavailable = sambaUnavailableReason();

describe('login throttle against Active Directory (Samba, lockout threshold 4)', { skip: skipUnlessCi(unavailable) }, () => {
  let dc: SambaDc;
  let app: App;
  const cleanups: Array<() => Promise<void>> = [];
  let addressCounter = 0;

  const nextAddress = (): string => {
    addressCounter += 1;
    return `10.30.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;
  };
  const admin = () => ({ url: dc.ldapsUrl, adminDn: dc.adminDn, adminPassword: dc.adminPassword, caFile: dc.caFile });
  const setThreshold = async (threshold: number) => {
    await dc.tool(['domain', 'passwordsettings', 'set', `--account-lockout-threshold=${threshold}`]);
  };
  /** A fresh app (its own store, so its own policy cache). */
  const freshApp = async (): Promise<App> => {
    const made = await settingsFor(adSettingsDocument(dc, adUser('svc-dirbridge')));
    cleanups.push(made.cleanup);
    const opened = await openApp(made.settings);
    cleanups.push(() => opened.close());
    return opened;
  };
  const outcome = (attempt: Promise<unknown>): Promise<string> =>
    attempt.then(
      () => 'ok',
      (error: unknown) => (error instanceof LoginFailure ? error.reason : String(error)),
    );

  before(async () => {
    dc = await startSambaDc();
    await setThreshold(4);
    app = await freshApp();
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await dc?.stop();
  });

  it("reads the domain's lockout policy from the domain head", async () => {
    const directory = await app.openDirectory();
    try {
      assert.deepEqual(await discoverLockoutPolicy(directory, app.settings), {
        kind: 'lockout',
        threshold: 4,
        memorySeconds: 1800,
        lockoutSeconds: 1800,
        source: dc.baseDn,
      });
    } finally {
      await directory.close();
    }
    assert.deepEqual((await testConnection({ openDirectory: () => app.openDirectory(), settings: app.settings })).warnings, []);
  });

  it('stays below the threshold across name forms and addresses, and lets the owner in from a known address', async () => {
    const owner = adUser('dave');
    const home = nextAddress();
    assert.ok(await app.login.login({ username: owner.sAMAccountName, password: owner.password ?? '', clientAddress: home }));
    const names = [owner.sAMAccountName, owner.downLevelName, owner.userPrincipalName];
    const outcomes = await Promise.all(
      Array.from({ length: 45 }, (_, index) =>
        outcome(app.login.login({ username: names[index % 3] ?? '', password: `guess-${index}`, clientAddress: nextAddress() })),
      ),
    );
    const state = await adLockoutState(admin(), owner.dn);
    assert.equal(state.isLocked, false, 'lockoutTime not set');
    assert.equal(state.badPwdCount, 2, "the strangers' 2 of the 3 bad passwords threshold 4 leaves");
    assert.equal(outcomes.filter((reason) => reason === 'wrong_password').length, 2);
    assert.equal(outcomes.filter((reason) => reason === 'throttled').length, 43);
    await rejectsLogin(app.login.login({ username: owner.userPrincipalName, password: owner.password ?? '', clientAddress: nextAddress() }), 'throttled');
    assert.ok(await app.login.login({ username: owner.downLevelName, password: owner.password ?? '', clientAddress: home }));
    assert.equal((await adLockoutState(admin(), owner.dn)).badPwdCount, 0);
  });

  it("counts another application's bad passwords (badPwdCount) and sends no bind that could lock the account", async () => {
    const target = adUser('erin');
    await bindWrongPassword({ url: dc.url }, target.dn, 2);
    assert.equal((await adLockoutState(admin(), target.dn)).badPwdCount, 2);
    await rejectsLogin(app.login.login({ username: target.sAMAccountName, password: 'guess', clientAddress: nextAddress() }), 'throttled');
    assert.equal((await adLockoutState(admin(), target.dn)).badPwdCount, 2, 'no bind was sent');
  });

  it('warns in Test Connection when the domain locks at the first bad password', async () => {
    await setThreshold(1);
    try {
      const strict = await freshApp();
      const report = await testConnection({ openDirectory: () => strict.openDirectory(), settings: strict.settings });
      assert.ok(
        report.warnings.some((warning) => /nothing to spare/.test(warning)),
        report.warnings.join('\n'),
      );
    } finally {
      await setThreshold(4);
    }
  });
});
