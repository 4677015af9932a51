/**
 * `npm run demo`: starts a throwaway OpenLDAP with a sample organisation, writes a settings
 * file for it, and runs dirbridge against it (test-connection, a sync, a search, listings).
 * On a terminal it keeps the directory running until Ctrl-C so you can try more commands.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { runCli } from '../src/cli/program.ts';
import { processOutput } from '../src/cli/output.ts';
import { generateOrganisation } from '../test/fixtures/sample-directory.ts';
import { startSlapd } from '../test/fixtures/slapd.ts';

const PEOPLE = 300;
const GROUPS = 40;

function hasCommand(name: string): boolean {
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((dir) => existsSync(path.join(dir, name)));
}

function ensureSlapd(): void {
  if (hasCommand('slapd') && hasCommand('ldapmodify')) return;
  if (process.getuid?.() === 0) {
    console.log('slapd is missing: installing the Debian packages (scripts/install-deps.sh) …');
    execFileSync('bash', [path.join(import.meta.dirname, 'install-deps.sh')], { stdio: 'inherit' });
    return;
  }
  console.error('The demo needs OpenLDAP. Install it as root with:\n  sudo apt-get install -y --no-install-recommends slapd ldap-utils openssl');
  process.exit(2);
}

ensureSlapd();
const organisation = generateOrganisation({ people: PEOPLE, groups: GROUPS, seed: 7 });
const slapd = await startSlapd({ ldif: organisation.ldif });
const demoDir = path.resolve('data', 'demo');
await rm(demoDir, { recursive: true, force: true });
await mkdir(demoDir, { recursive: true });
const settingsFile = path.join(demoDir, 'dirbridge.yaml');
await writeFile(
  settingsFile,
  stringify({
    directory: {
      urls: [slapd.ldapsUrl],
      tls: { caFile: slapd.caFile },
      bindDn: slapd.readerDn,
      bindPassword: slapd.readerPassword,
    },
    users: { baseDn: slapd.baseDn, filter: '(objectClass=inetOrgPerson)', usernameAttribute: ['uid'] },
    groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'], nestedGroups: true },
    sync: { disableMissingUsers: true },
    store: { dataDir: demoDir },
  }),
);

const out = processOutput();
const cli = async (...args: string[]) => {
  console.log(`\n$ dirbridge --config ${path.relative(process.cwd(), settingsFile)} ${args.join(' ')}`);
  return runCli(['--config', settingsFile, ...args], out);
};
let failed = false;
for (const args of [['test-connection'], ['sync'], ['search', organisation.users[1]?.uid ?? 'missing'], ['users', 'list', '--limit', '10'], ['groups', 'list', '--limit', '10'], ['runs', 'list']]) {
  if ((await cli(...args)) !== 0) failed = true;
}

if (process.stdin.isTTY === true && !failed) {
  console.log(`\nThe demo directory is running at ${slapd.url} (LDAPS ${slapd.ldapsUrl}).`);
  console.log(`Try: npx dirbridge --config ${path.relative(process.cwd(), settingsFile)} sync --dry-run`);
  console.log('Press Ctrl-C to stop it.');
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
}
await slapd.stop();
process.exitCode = failed ? 1 : 0;
