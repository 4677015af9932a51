/**
 * Login and one-user sync must compute the same groups as a full sync, nested groups included
 * (README: a login "can never disagree with what the next sync does"). Against a real OpenLDAP
 * with the sample organisation plus a three-level chain that crosses all three membership
 * attributes: a user in posixGroup `unix-admins` (memberUid) → groupOfUniqueNames `ops-all`
 * (uniqueMember) → groupOfNames `platform` (member). `backend` and `frontend` sit in
 * `engineering`, and `cycle-a`/`cycle-b` contain each other (the admin group is `cycle-a`).
 *
 * The reviewer's case: a user in `engineering` only through `backend` kept its role after a full
 * sync but lost it (and the admin flag) at the next login, and got it back at the next sync.
 *
 * Checked for both User Group Filter strategies (each, once), with and without memberUid in
 * groups.memberAttribute, with teams on: right after a full sync, a one-user sync of EVERY user
 * plans nothing; a login keeps nested roles and the admin flag and writes no change event; when
 * a nested path is cut in the directory, the login takes exactly what the next sync would take;
 * a directory fault while reading groups refuses the login and changes nothing; and the login's
 * number of searches stays bounded by the nesting depth.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { createLockoutPolicies } from '../src/auth/lockout-policies.ts';
import { createLoginService } from '../src/auth/login.ts';
import { createSessionService } from '../src/auth/sessions.ts';
import { createLoginThrottle } from '../src/auth/throttle.ts';
import type { DirectoryConnection } from '../src/directory/index.ts';
import { DirbridgeError } from '../src/errors.ts';
import type { PlanStep } from '../src/sync/plan.ts';
import { type DirectoryLookup, syncOneUser } from '../src/sync/sync-one-user.ts';
import { generateOrganisation, type Organisation, type SampleGroup, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { merge, settingsFor } from './helpers/harness.ts';
import { rejectsLogin } from './helpers/login.ts';

const MAPPING = {
  roles: {
    enabled: true,
    autoRemove: true,
    map: { engineering: ['developer', 'reviewer'], backend: 'developer', platform: 'operator', 'division-1': 'support' },
  },
  channels: { enabled: true, autoRemove: true, channelAdmin: 'admin', map: { 'ops-all': 'ops', frontend: 'web' } },
  teams: { enabled: true, map: { engineering: 'Engineering', 'division-2': 'Team Two' }, userGroupsQuery: '(&(objectClass=groupOfNames)(member=#{userdn}))' },
  adminGroup: 'cycle-a',
};

const CONFIGS: Array<[string, Record<string, unknown>]> = [
  ['the "each" strategy', {}],
  [
    'the "once" strategy',
    { mapping: { groupSearch: { strategy: 'once', userGroupFilter: '(|(member=#{userdn})(uniqueMember=#{userdn})(memberUid=#{username}))' } } },
  ],
  ['groups read without memberUid', { groups: { memberAttribute: ['member', 'uniqueMember'] } }],
];

describe('login and one-user sync agree with a full sync on nested groups (OpenLDAP)', () => {
  let slapd: Slapd;
  let organisation: Organisation;
  const cleanups: Array<() => Promise<void>> = [];
  const apps = new Map<string, App>();

  const group = (cn: string): SampleGroup => {
    const found = organisation.groups.find((candidate) => candidate.cn === cn);
    assert.ok(found, cn);
    return found;
  };
  const groupDn = (cn: string) => (cn === 'ops-all' || cn === 'platform' ? `cn=${cn},ou=groups,${organisation.baseDn}` : group(cn).dn);
  const sampleUser = (predicate: (user: SampleUser) => boolean, label: string): SampleUser => {
    const found = organisation.users.find((user) => !user.locked && predicate(user));
    assert.ok(found, label);
    return found;
  };

  before(async () => {
    organisation = generateOrganisation({ people: 120, groups: 20, seed: 8 });
    const extra = [
      `dn: cn=ops-all,ou=groups,${organisation.baseDn}\nobjectClass: groupOfUniqueNames\ncn: ops-all\nuniqueMember: ${group('unix-admins').dn}\n`,
      `dn: cn=platform,ou=groups,${organisation.baseDn}\nobjectClass: groupOfNames\ncn: platform\nmember: cn=ops-all,ou=groups,${organisation.baseDn}\n`,
    ].join('\n');
    slapd = await startSlapd({ ldif: `${organisation.ldif}\n${extra}` });
    for (const [label, override] of CONFIGS) {
      const made = await settingsFor(
        merge(
          {
            directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword, pageSize: 50 },
            users: { baseDn: slapd.baseDn },
            groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
            sync: { guard: { maxDisable: { count: 1000, percent: 100 } } },
            login: { throttle: { maxFailures: 1000, windowSeconds: 60 } },
            mapping: MAPPING,
          },
          override,
        ),
      );
      cleanups.push(made.cleanup);
      const app = await openApp(made.settings);
      cleanups.push(() => app.close());
      apps.set(label, app);
    }
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await slapd?.stop();
  });

  const appFor = (label: string): App => {
    const app = apps.get(label);
    assert.ok(app, label);
    return app;
  };

  /** A lookup over one connection, counting searches; `fail(n, request)` may throw before the n-th search runs. */
  function lookupOf(app: App, fail?: (search: number, baseDn: string) => boolean): DirectoryLookup & { searches: () => number; close: () => Promise<void> } {
    let searches = 0;
    let opened: Promise<DirectoryConnection> | undefined;
    const check = (baseDn: string) => {
      searches += 1;
      if (fail?.(searches, baseDn) === true) throw new DirbridgeError('directory.unavailable', `injected fault on search ${searches}`);
    };
    return {
      async use(work) {
        const connection = await (opened ??= app.openDirectory());
        const counting: DirectoryConnection = {
          url: connection.url,
          security: connection.security,
          rootDse: connection.rootDse,
          searchPages: (request) => {
            check(request.baseDn);
            return connection.searchPages(request);
          },
          searchAll: async (request) => {
            check(request.baseDn);
            return connection.searchAll(request);
          },
          searchWithControls: async (request, controls) => {
            check(request.baseDn);
            return connection.searchWithControls(request, controls);
          },
          bind: (dn, password) => connection.bind(dn, password),
          close: () => connection.close(),
          [Symbol.asyncDispose]: () => connection.close(),
        };
        return work(counting);
      },
      searches: () => searches,
      close: async () => {
        await (await opened)?.close();
      },
    };
  }

  /** Runs `work` on a fresh service connection of `app`. */
  async function withDirectory<T>(app: App, work: (directory: DirectoryConnection) => Promise<T>): Promise<T> {
    const connection = await app.openDirectory();
    try {
      return await work(connection);
    } finally {
      await connection.close();
    }
  }

  /** A login service over `lookup`, with the app's store and settings and a real bind pool. */
  function loginWith(app: App, lookup: DirectoryLookup) {
    const now = () => new Date();
    return createLoginService({
      store: app.store,
      settings: app.settings,
      lookup: lookup as Parameters<typeof createLoginService>[0]['lookup'],
      bindPool: {
        verify: async (dn, password) => {
          const connection = await app.openDirectory();
          try {
            await connection.bind(dn, password);
          } finally {
            await connection.close();
          }
        },
      },
      sessions: createSessionService({ store: app.store, settings: app.settings.login, now }),
      // The lockout policy is read on a connection of its own, so the lookup's searches stay countable.
      throttle: createLoginThrottle({
        store: app.store,
        settings: app.settings.login.throttle,
        policies: createLockoutPolicies({ read: (work) => withDirectory(app, work), settings: app.settings, now }),
        now,
        inFlightMs: 120_000,
      }),
      now,
    });
  }

  /** What the store says a user has: groups, roles, channels, teams and the admin flag. */
  async function holdings(app: App, uid: string) {
    const user = await app.store.users.findByUsername(uid);
    assert.ok(user, uid);
    return {
      isAdmin: user.isAdmin,
      groups: (await app.store.groups.listOfUser(user.id)).map((entry) => entry.name).sort(),
      roles: [...(await app.store.mapping.listUserRoles(user.id))].sort(),
      channels: (await app.store.mapping.listUserChannels(user.id)).map((entry) => entry.name).sort(),
      teams: (await app.store.mapping.listUserTeams(user.id)).map((entry) => entry.name).sort(),
    };
  }

  const membershipEvents = async (app: App, uid: string) => {
    const user = await app.store.users.findByUsername(uid);
    return (await app.store.audit.list({ limit: 1, offset: 0, userId: user?.id ?? '', action: 'membership.changed' })).total;
  };

  /** The steps of a (dry) full-sync plan that concern this user. */
  const stepsFor = (steps: readonly PlanStep[], uid: string) =>
    steps.filter((step) => ('username' in step && step.username === uid) || (step.kind === 'createUser' && step.fields.username === uid));

  // Users the fixture makes interesting (the same in every configuration).
  const nestedEngineer = () =>
    sampleUser((user) => user.groups.includes('backend') && !user.groups.includes('engineering'), 'in engineering only through backend');
  const cycleAdmin = () => sampleUser((user) => user.groups.includes('cycle-b') && !user.groups.includes('cycle-a'), 'in cycle-a only through cycle-b');
  const platformMember = () =>
    sampleUser(
      (user) => user.groups.includes('unix-admins') && user.rdnAttribute === 'cn',
      'in platform through unix-admins (memberUid) and ops-all (uniqueMember)',
    );

  for (const [label] of CONFIGS) {
    it(`a one-user sync of every user right after a full sync plans nothing, with ${label}`, async () => {
      const app = appFor(label);
      await fullSync(app);
      const lookup = lookupOf(app);
      try {
        const disagreements: string[] = [];
        for (const user of organisation.users) {
          const one = await syncOneUser({ store: app.store, settings: app.settings, lookup }, user.uid, { actor: 'test' });
          for (const step of one.steps) disagreements.push(`${user.uid}: ${step.kind} ${step.subject} (${step.reason})`);
        }
        assert.deepEqual(disagreements, [], 'one-user sync disagrees with the full sync');
      } finally {
        await lookup.close();
      }
      // The full sync did grant through nesting (and the cycle), so the agreement above means something.
      assert.ok((await holdings(app, nestedEngineer().uid)).roles.includes('reviewer'), 'reviewer only through engineering ⊃ backend');
      assert.equal((await holdings(app, cycleAdmin().uid)).isAdmin, true, 'admin only through cycle-a ⊃ cycle-b ⊃ cycle-a');
      const viaMemberUid = await holdings(app, platformMember().uid);
      if (label === 'groups read without memberUid') {
        assert.equal(viaMemberUid.roles.includes('operator'), false, 'without memberUid the chain does not start: not in platform');
      } else {
        assert.ok(viaMemberUid.roles.includes('operator'), 'operator through unix-admins → ops-all → platform');
        assert.ok(viaMemberUid.channels.includes('ops'), '#ops through unix-admins → ops-all');
        assert.ok(viaMemberUid.groups.includes('platform'));
      }
    });
  }

  /** A full sync that must succeed. */
  async function fullSync(app: App): Promise<void> {
    const result = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(result.status, 'succeeded', result.reason ?? '');
  }

  it('a login keeps nested roles and the admin flag, writes no change event, and searches a bounded number of times', async () => {
    const app = appFor(CONFIGS[0]?.[0] ?? '');
    await fullSync(app);
    assert.ok((await holdings(app, nestedEngineer().uid)).roles.includes('reviewer'));
    assert.equal((await holdings(app, cycleAdmin().uid)).isAdmin, true);
    for (const user of [nestedEngineer(), cycleAdmin(), platformMember()]) {
      const before = await holdings(app, user.uid);
      const events = await membershipEvents(app, user.uid);
      const lookup = lookupOf(app);
      try {
        const login = await loginWith(app, lookup).login({ username: user.uid, password: user.password });
        assert.equal(login.isNewUser, false);
        assert.equal(login.user.isAdmin, before.isAdmin, `${user.uid}: admin flag kept`);
        // The user lookup, the direct groups, one search per nesting level (the chain is at most
        // three deep, plus the empty level that ends the walk), one per mapped group ("each"), one for teams.
        const mappedGroups = new Set([...Object.keys(MAPPING.roles.map), ...Object.keys(MAPPING.channels.map), MAPPING.adminGroup]).size;
        assert.ok(lookup.searches() <= 1 + 1 + 4 + mappedGroups + 1, `${user.uid}: ${lookup.searches()} searches`);
      } finally {
        await lookup.close();
      }
      assert.deepEqual(await holdings(app, user.uid), before, `${user.uid}: nothing taken away at login`);
      assert.equal(await membershipEvents(app, user.uid), events, `${user.uid}: no membership.changed event`);
    }
    assert.equal((await holdings(app, cycleAdmin().uid)).isAdmin, true);
  });

  it('refuses the login and changes nothing when the directory fails while reading groups', async () => {
    const app = appFor(CONFIGS[0]?.[0] ?? '');
    await fullSync(app);
    const user = nestedEngineer();
    const before = await holdings(app, user.uid);
    assert.ok(before.roles.includes('reviewer'));
    // Count the searches of a clean login, then fail each one after the user lookup in turn.
    const clean = lookupOf(app);
    await loginWith(app, clean).login({ username: user.uid, password: user.password });
    await clean.close();
    assert.ok(clean.searches() >= 4, `${clean.searches()} searches`);
    for (let failing = 2; failing <= clean.searches(); failing += 1) {
      const forLogin = lookupOf(app, (search) => search === failing);
      const forSync = lookupOf(app, (search) => search === failing);
      try {
        await rejectsLogin(loginWith(app, forLogin).login({ username: user.uid, password: user.password }), 'directory_unavailable');
        await assert.rejects(syncOneUser({ store: app.store, settings: app.settings, lookup: forSync }, user.uid, { actor: 'test' }), /injected fault/);
      } finally {
        await forLogin.close();
        await forSync.close();
      }
      assert.deepEqual(await holdings(app, user.uid), before, `a fault on search ${failing} changed nothing`);
    }
  });

  it('takes away at login exactly what the next full sync would, once a nested path is cut', async () => {
    const app = appFor(CONFIGS[0]?.[0] ?? '');
    await fullSync(app);
    const engineer = nestedEngineer();
    const admin = cycleAdmin();
    assert.ok((await holdings(app, engineer.uid)).roles.includes('reviewer'));
    assert.equal((await holdings(app, admin.uid)).isAdmin, true);
    await slapd.ldapmodify(
      `dn: ${groupDn('engineering')}\nchangetype: modify\ndelete: member\nmember: ${groupDn('backend')}\n\n` +
        `dn: ${groupDn('cycle-a')}\nchangetype: modify\ndelete: member\nmember: ${groupDn('cycle-b')}\n`,
    );
    const dry = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    assert.equal(dry.status, 'succeeded', dry.reason ?? '');

    const engineerLogin = await app.login.login({ username: engineer.uid, password: engineer.password });
    const engineerNow = await holdings(app, engineer.uid);
    assert.ok(engineerNow.roles.includes('developer'), 'developer stays: backend grants it directly');
    assert.equal(engineerNow.roles.includes('reviewer'), false, 'reviewer came only through engineering');
    assert.equal(engineerNow.groups.includes('engineering'), false);
    const adminLogin = await app.login.login({ username: admin.uid, password: admin.password });
    assert.equal(adminLogin.user.isAdmin, false, 'admin only through the cut cycle: no longer');
    assert.equal(engineerLogin.user.id, (await app.store.users.findByUsername(engineer.uid))?.id);

    const reasons = (await app.store.audit.list({ limit: 20, offset: 0, userId: engineerLogin.user.id, action: 'membership.changed' })).entries.map(
      (entry) => entry.actor,
    );
    assert.ok(reasons.includes('login'), 'the login recorded the change');
    // What the dry run planned for these two users is what the logins did: the next full sync has nothing left for them.
    assert.ok(stepsFor(dry.steps, engineer.uid).some((step) => step.kind === 'revokeRole' && step.role === 'reviewer'));
    assert.ok(stepsFor(dry.steps, admin.uid).some((step) => step.kind === 'setAdmin' && !step.isAdmin));
    const next = await app.sync.runSync({ trigger: 'cli', isDryRun: true });
    assert.deepEqual(
      stepsFor(next.steps, engineer.uid).map((step) => `${step.kind}: ${step.reason}`),
      [],
    );
    assert.deepEqual(
      stepsFor(next.steps, admin.uid).map((step) => `${step.kind}: ${step.reason}`),
      [],
    );
  });
});
