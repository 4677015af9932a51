/**
 * Times each phase of one sync separately (read, load store state, plan, apply) on a generated
 * organisation, to see where a sync spends its time. Run: `node --import tsx bench/profile-phases.ts --people 100000 --groups 5000 [--store postgres]`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openDirectory } from '../src/directory/index.ts';
import { validateSettings } from '../src/settings/load.ts';
import { openStore } from '../src/store/open-store.ts';
import { applyPlan } from '../src/sync/apply.ts';
import { planSync } from '../src/sync/plan.ts';
import { readSnapshot } from '../src/sync/read-snapshot.ts';
import { generateOrganisation } from '../test/fixtures/sample-directory.ts';
import { startSlapd } from '../test/fixtures/slapd.ts';

const { values } = parseArgs({
  options: {
    people: { type: 'string', default: '100000' },
    groups: { type: 'string', default: '5000' },
    'batch-size': { type: 'string', default: '5000' },
    store: { type: 'string', default: 'sqlite' },
  },
});
const organisation = generateOrganisation({ people: Number(values.people), groups: Number(values.groups), seed: 11 });
const slapd = await startSlapd({ ldif: organisation.ldif });
const dataDir = await mkdtemp(path.join(tmpdir(), 'dirbridge-profile-'));
const database = values.store === 'postgres' ? `dirbridge_profile_${process.pid}` : undefined;
const maintenance = async (statement: string) => {
  const admin = new pg.Client({ host: '127.0.0.1', user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query(statement);
  await admin.end();
};
if (database !== undefined) await maintenance(`CREATE DATABASE ${database}`);
const settings = validateSettings(
  {
    directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword, operationTimeoutMs: 120_000 },
    users: { baseDn: slapd.baseDn },
    groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
    sync: { batchSize: Number(values['batch-size']) },
    store: database === undefined ? { dataDir } : { url: `postgres://postgres@127.0.0.1:5432/${database}`, dataDir },
  },
  'profile',
);
const store = await openStore(settings.store);
const time = async <T>(name: string, work: () => Promise<T> | T): Promise<T> => {
  const start = performance.now();
  const value = await work();
  console.log(`${name}: ${((performance.now() - start) / 1000).toFixed(2)} s`);
  return value;
};
try {
  for (const round of [1, 2]) {
    console.log(`round ${round}`);
    const directory = await openDirectory(settings.directory);
    const snapshot = await time('  read snapshot', () => readSnapshot(directory, settings));
    await directory.close();
    const current = await time('  load store state', () => store.runs.loadSyncState());
    const plan = await time('  plan', () => planSync(snapshot, current, { ...settings.sync, syncGroups: true, scope: 'all' }));
    await time(`  apply ${plan.steps.length} steps`, () => applyPlan(store, plan, current, { batchSize: settings.sync.batchSize, actor: 'sync' }));
  }
} finally {
  await store.close();
  await slapd.stop();
  await rm(dataDir, { recursive: true, force: true });
  if (database !== undefined) await maintenance(`DROP DATABASE IF EXISTS ${database}`);
}
