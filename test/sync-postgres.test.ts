/**
 * The same sync against OpenLDAP, into PostgreSQL instead of SQLite: the store the deployment
 * with several instances uses. Fails (never skips) when CI is set and PostgreSQL is down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, openApp } from '../src/app.ts';
import { generateOrganisation, type Organisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { membersByGroup, settingsFor, usersByName } from './helpers/harness.ts';
import { createTestDatabase, postgresProblem } from './helpers/postgres.ts';
import { skipUnlessCi } from './helpers/skip.ts';

const problem = await postgresProblem();

describe('sync into PostgreSQL', { skip: skipUnlessCi(problem, 'PostgreSQL unreachable') }, () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let app: App;
  let cleanup: () => Promise<void>;
  let database: { url: string; drop: () => Promise<void> };

  before(async () => {
    assert.equal(problem, undefined, `PostgreSQL is required: ${problem ?? ''}`);
    organisation = generateOrganisation({ people: 150, groups: 20, seed: 9 });
    slapd = await startSlapd({ ldif: organisation.ldif });
    database = await createTestDatabase();
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword, pageSize: 40 },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
      sync: { disableMissingUsers: true, batchSize: 37 },
      store: { url: database.url },
    });
    cleanup = made.cleanup;
    app = await openApp(made.settings);
  });

  after(async () => {
    await app?.close();
    await slapd?.stop();
    await database?.drop();
    await cleanup?.();
  });

  it('imports, then finds nothing to do, then follows a rename', async () => {
    assert.equal(app.store.dialect, 'postgres');
    const first = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(first.status, 'succeeded', first.reason ?? '');
    assert.equal(first.users.created, 150);
    const members = await membersByGroup(app.store);
    const everyone = organisation.users
      .filter((user) => user.groups.includes('everyone'))
      .map((user) => user.uid)
      .sort();
    assert.deepEqual(members.get('everyone'), everyone);
    assert.equal((await usersByName(app.store)).get('locked.user')?.isEnabled, false);

    const second = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.deepEqual([second.users.created, second.users.updated, second.memberships.added], [0, 0, 0]);

    const target = organisation.users[50];
    assert.ok(target);
    const before = (await usersByName(app.store)).get(target.uid);
    await slapd.ldapmodify(`dn: ${target.dn}\nchangetype: modrdn\nnewrdn: uid=renamed.user\ndeleteoldrdn: 1\n`);
    const third = await app.sync.runSync({ trigger: 'cli', isDryRun: false });
    assert.equal(third.users.updated, 1);
    assert.equal((await usersByName(app.store)).get('renamed.user')?.id, before?.id);
  });
});
