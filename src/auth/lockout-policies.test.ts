import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DirectoryConnection } from '../directory/index.ts';
import { entry, memoryDirectory } from '../../test/helpers/memory-directory.ts';
import { createLockoutPolicies, discoverLockoutPolicy } from './lockout-policies.ts';

const BASE = 'dc=example,dc=org';
const settings = { users: { baseDn: BASE } };
const policyEntry = (cn: string, maxFailure: string, interval = '0') =>
  entry(`cn=${cn},ou=policies,${BASE}`, { objectClass: ['organizationalRole', 'pwdPolicy'], cn: [cn], pwdMaxFailure: [maxFailure], pwdLockout: ['TRUE'], pwdFailureCountInterval: [interval] });

describe('discoverLockoutPolicy', () => {
  it('prefers the pwdPolicy entry named cn=default', async () => {
    const directory = memoryDirectory([entry(BASE, { objectClass: ['dcObject'] }), policyEntry('strict', '2'), policyEntry('default', '5')]);
    assert.deepEqual(await discoverLockoutPolicy(directory, settings), { kind: 'lockout', threshold: 5, memorySeconds: null, source: `cn=default,ou=policies,${BASE}` });
  });

  it('takes the strictest policy when none is named default', async () => {
    const directory = memoryDirectory([policyEntry('loose', '10', '60'), policyEntry('strict', '3', '600'), policyEntry('stricter-memory', '3', '0')]);
    assert.deepEqual(await discoverLockoutPolicy(directory, settings), { kind: 'lockout', threshold: 3, memorySeconds: null, source: `cn=stricter-memory,ou=policies,${BASE}` });
  });

  it('reads the domain head on Active Directory', async () => {
    const directory = memoryDirectory([entry('DC=example,DC=test', { objectClass: ['domainDNS'], lockoutThreshold: ['3'], lockOutObservationWindow: ['-18000000000'] })], 'active-directory');
    assert.deepEqual(await discoverLockoutPolicy(directory, { users: { baseDn: 'DC=example,DC=test' } }), { kind: 'lockout', threshold: 3, memorySeconds: 1800, source: 'DC=example,DC=test' });
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

  it('reads the policy an entry names, else the default', async () => {
    const { policies } = harness([policyEntry('default', '5'), policyEntry('admins', '2')]);
    assert.equal((await policies.forEntry(entry(`uid=a,${BASE}`, { pwdPolicySubentry: [`cn=admins,ou=policies,${BASE}`] })) as { threshold?: number }).threshold, 2);
    assert.equal((await policies.forEntry(entry(`uid=b,${BASE}`, {})) as { threshold?: number }).threshold, 5);
    assert.equal((await policies.forEntry(entry(`uid=c,${BASE}`, { pwdPolicySubentry: [`cn=missing,ou=policies,${BASE}`] }))).kind, 'unknown');
  });
});
