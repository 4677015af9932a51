import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { entry, memoryDirectory } from '../../test/helpers/memory-directory.ts';
import type { DirectoryConnection } from '../directory/index.ts';
import { createLockoutPolicies, discoverLockoutPolicy } from './lockout-policies.ts';

const BASE = 'dc=example,dc=org';
const settings = { users: { baseDn: BASE } };
const policyEntry = (cn: string, maxFailure: string, interval = '0') =>
  entry(`cn=${cn},ou=policies,${BASE}`, {
    objectClass: ['organizationalRole', 'pwdPolicy'],
    cn: [cn],
    pwdMaxFailure: [maxFailure],
    pwdLockout: ['TRUE'],
    pwdFailureCountInterval: [interval],
  });

describe('discoverLockoutPolicy', () => {
  it('prefers the pwdPolicy entry named cn=default', async () => {
    const directory = memoryDirectory([entry(BASE, { objectClass: ['dcObject'] }), policyEntry('strict', '2'), policyEntry('default', '5')]);
    assert.deepEqual(await discoverLockoutPolicy(directory, settings), {
      kind: 'lockout',
      threshold: 5,
      memorySeconds: null,
      source: `cn=default,ou=policies,${BASE}`,
    });
  });

  it('takes the strictest policy when none is named default', async () => {
    const directory = memoryDirectory([policyEntry('loose', '10', '60'), policyEntry('strict', '3', '600'), policyEntry('stricter-memory', '3', '0')]);
    assert.deepEqual(await discoverLockoutPolicy(directory, settings), {
      kind: 'lockout',
      threshold: 3,
      memorySeconds: null,
      source: `cn=stricter-memory,ou=policies,${BASE}`,
    });
  });

  it('reads the domain head on Active Directory', async () => {
    const directory = memoryDirectory(
      [entry('DC=example,DC=test', { objectClass: ['domainDNS'], lockoutThreshold: ['3'], lockOutObservationWindow: ['-18000000000'] })],
      'active-directory',
    );
    assert.deepEqual(await discoverLockoutPolicy(directory, { users: { baseDn: 'DC=example,DC=test' } }), {
      kind: 'lockout',
      threshold: 3,
      memorySeconds: 1800,
      source: 'DC=example,DC=test',
    });
  });

  it("reads 389-DS's global policy in cn=config, and nothing else", async () => {
    const config = entry('cn=config', {
      objectClass: ['nsslapdConfig'],
      passwordLockout: ['on'],
      passwordMaxFailure: ['4'],
      passwordResetFailureCount: ['600'],
      'nsslapd-pwpolicy-local': ['on'],
    });
    const directory = memoryDirectory([config], '389-ds');
    assert.deepEqual(await discoverLockoutPolicy(directory, settings), { kind: 'lockout', threshold: 4, memorySeconds: 600, source: 'cn=config' });
    assert.deepEqual(directory.searches, [{ baseDn: 'cn=config', filter: '(objectClass=*)' }]);
  });

  it('bounds 389-DS by its own default threshold when cn=config cannot be read, and looks for no pwdPolicy entries there', async () => {
    // What 389-DS shows a service account without an ACI on cn=config: nothing (success, no entry).
    const directory = memoryDirectory([entry(BASE, { objectClass: ['domain'] }), policyEntry('default', '10')], '389-ds');
    const policy = await discoverLockoutPolicy(directory, settings);
    assert.equal(policy.kind, 'unknown');
    assert.equal(policy.kind === 'unknown' ? policy.limit : undefined, 2);
    assert.match(policy.kind === 'unknown' ? policy.problem : '', /cannot read cn=config.*passwordMaxFailure/);
    assert.deepEqual(directory.searches, [{ baseDn: 'cn=config', filter: '(objectClass=*)' }]);
    assert.deepEqual(
      await discoverLockoutPolicy(memoryDirectory([]), settings),
      { kind: 'unknown', source: 'none', problem: `no readable pwdPolicy entry under ${BASE}`, limit: 3 },
      'elsewhere the bound is 3',
    );
  });

  it('answers unknown when nothing can be read, and passes faults on', async () => {
    const empty = memoryDirectory([entry(BASE, { objectClass: ['dcObject'] })]);
    assert.equal((await discoverLockoutPolicy(empty, settings)).kind, 'unknown');
    const down = memoryDirectory([]);
    down.failWhen(() => true);
    await assert.rejects(discoverLockoutPolicy(down, settings), /injected fault/);
  });
});

describe('createLockoutPolicies', () => {
  function harness(entries = [policyEntry('default', '5')]) {
    let now = 0;
    const directory = memoryDirectory(entries);
    let hang: Promise<void> | undefined;
    const policies = createLockoutPolicies({
      read: async (work) => {
        await hang;
        return work(directory as DirectoryConnection);
      },
      settings,
      now: () => new Date(now),
      refreshMs: 60_000,
      retryMs: 5_000,
      waitMs: 50,
    });
    return {
      policies,
      directory,
      advance: (ms: number) => {
        now += ms;
      },
      hangReads: (until: Promise<void> | undefined) => {
        hang = until;
      },
    };
  }

  it('reads once, serves the cache, and refreshes in the background after refreshMs', async () => {
    const { policies, directory, advance } = harness();
    assert.equal((await policies.current()).kind, 'lockout');
    await policies.current();
    assert.equal(directory.searches.length, 1);
    advance(61_000);
    await policies.current();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(directory.searches.length, 2);
  });

  it('peeks at the default policy without reading it', async () => {
    const { policies, directory } = harness();
    const before = policies.peek();
    assert.equal(before.kind, 'unknown');
    assert.equal(before.kind === 'unknown' ? before.limit : 0, 2, 'the lowest default bound before anything was read');
    assert.equal(directory.searches.length, 0, 'no read');
    await policies.current();
    assert.deepEqual(policies.peek(), await policies.current());
    assert.equal(directory.searches.length, 1);
  });

  it('keeps what it read when a refresh fails, and retries sooner', async () => {
    const { policies, directory, advance } = harness();
    assert.equal((await policies.current()).kind, 'lockout');
    directory.failWhen(() => true);
    advance(61_000);
    assert.equal((await policies.current()).kind, 'lockout', 'served while refreshing');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal((await policies.current()).kind, 'lockout', 'kept after the failed refresh');
    const searches = directory.searches.length;
    advance(6_000);
    await policies.current();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(directory.searches.length, searches + 1, 'retried after retryMs');
  });

  it('answers unknown when the first read fails or takes longer than waitMs, without blocking', async () => {
    const failing = harness();
    failing.directory.failWhen(() => true);
    assert.equal((await failing.policies.current()).kind, 'unknown');
    const slow = harness();
    let release = () => {};
    slow.hangReads(new Promise<void>((resolve) => (release = resolve)));
    const started = Date.now();
    assert.equal((await slow.policies.current()).kind, 'unknown');
    assert.ok(Date.now() - started < 5_000);
    release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal((await slow.policies.current()).kind, 'lockout', 'the late answer is kept');
  });

  it("answers a failed first read with 389-DS's lower bound while the server type is not known yet", async () => {
    const unreachable = createLockoutPolicies({ read: () => Promise.reject(new Error('connection refused')), settings, now: () => new Date(0) });
    const policy = await unreachable.current();
    assert.deepEqual([policy.kind, policy.kind === 'unknown' ? policy.limit : undefined], ['unknown', 2]);
    // Once a connection was made, the server type is known: an OpenLDAP search that fails gets the usual 3.
    const failing = harness();
    failing.directory.failWhen(() => true);
    const later = await failing.policies.current();
    assert.deepEqual([later.kind, later.kind === 'unknown' ? later.limit : undefined], ['unknown', 3]);
  });

  describe('on 389-DS, the policy an entry names (pwdpolicysubentry)', () => {
    const subtreeDn = `cn=cn\\3DnsPwPolicyEntry_subtree\\2Cou\\3Dstaff\\2C${BASE.replaceAll('=', '\\3D').replaceAll(',', '\\2C')},cn=nsPwPolicyContainer,ou=staff,${BASE}`;
    const subentry = (maxFailure: string) =>
      entry(subtreeDn, { objectClass: ['top', 'ldapsubentry', 'passwordpolicy'], passwordLockout: ['on'], passwordMaxFailure: [maxFailure] });
    const config = (local: string | undefined) =>
      entry('cn=config', {
        passwordLockout: ['on'],
        passwordMaxFailure: ['3'],
        passwordResetFailureCount: ['600'],
        ...(local === undefined ? {} : { 'nsslapd-pwpolicy-local': [local] }),
      });
    const user = entry(`uid=s,ou=staff,${BASE}`, { pwdpolicysubentry: [subtreeDn] });
    const policiesOver = (entries: ReturnType<typeof entry>[]) => {
      const directory = memoryDirectory(entries, '389-ds');
      const policies = createLockoutPolicies({ read: (work) => work(directory as DirectoryConnection), settings, now: () => new Date(0) });
      return { directory, policies };
    };
    const thresholdOf = (policy: { kind: string; threshold?: number; limit?: number }) =>
      policy.kind === 'unknown' ? `unknown:${policy.limit}` : policy.threshold;

    it('governs the entry while nsslapd-pwpolicy-local is on, looser or stricter', async () => {
      assert.equal(thresholdOf(await policiesOver([config('on'), subentry('2')]).policies.forEntry(user)), 2);
      assert.equal(thresholdOf(await policiesOver([config('on'), subentry('10')]).policies.forEntry(user)), 10);
    });

    it('is not read while nsslapd-pwpolicy-local is off: 389-DS applies the global policy', async () => {
      const { directory, policies } = policiesOver([config('off'), subentry('10')]);
      assert.equal(thresholdOf(await policies.forEntry(user)), 3);
      assert.deepEqual(
        directory.searches.map((search) => search.baseDn),
        ['cn=config'],
      );
    });

    it('counts only where stricter when it is not known whether local policies are on', async () => {
      assert.equal(thresholdOf(await policiesOver([config(undefined), subentry('10')]).policies.forEntry(user)), 3, 'nsslapd-pwpolicy-local not readable');
      assert.equal(thresholdOf(await policiesOver([config(undefined), subentry('2')]).policies.forEntry(user)), 2);
      assert.equal(thresholdOf(await policiesOver([subentry('10')]).policies.forEntry(user)), 'unknown:2', 'cn=config not readable');
      assert.equal(thresholdOf(await policiesOver([subentry('2')]).policies.forEntry(user)), 2);
    });
  });

  it('reads the policy an entry names, else the default', async () => {
    const { policies } = harness([policyEntry('default', '5'), policyEntry('admins', '2')]);
    assert.equal(
      ((await policies.forEntry(entry(`uid=a,${BASE}`, { pwdPolicySubentry: [`cn=admins,ou=policies,${BASE}`] }))) as { threshold?: number }).threshold,
      2,
    );
    assert.equal(((await policies.forEntry(entry(`uid=b,${BASE}`, {}))) as { threshold?: number }).threshold, 5);
    assert.equal((await policies.forEntry(entry(`uid=c,${BASE}`, { pwdPolicySubentry: [`cn=missing,ou=policies,${BASE}`] }))).kind, 'unknown');
  });
});
