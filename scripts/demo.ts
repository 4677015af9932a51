/**
 * `npm run demo`: starts a throwaway OpenLDAP with a sample organisation, writes a settings file
 * for it (with group mapping, background sync and auto logout switched on), checks the
 * connection and syncs once with the CLI, then runs `dirbridge serve` with the admin console
 * until Ctrl-C (or SIGTERM) and prints the URL, the administrator's credentials, and the OpenID
 * Connect issuer with a ready client (id, secret, redirect URI) for an application to sign in with.
 *
 * Environment: DIRBRIDGE_DEMO_PORT (default 8080; 0 picks a free port), DIRBRIDGE_DEMO_DIR
 * (default ./data/demo), DIRBRIDGE_ADMIN_PASSWORD (default: generated and printed).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { processOutput } from '../src/cli/output.ts';
import { runCli } from '../src/cli/program.ts';
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

/** Builds the console when its bundle is missing (e.g. `npm ci --ignore-scripts`). */
function ensureConsole(): void {
  if (existsSync(path.join(import.meta.dirname, '..', 'web', 'dist', 'index.html'))) return;
  console.log('building the admin console (npm run build:web) …');
  execFileSync('npm', ['run', '--silent', 'build:web'], { stdio: 'inherit', cwd: path.join(import.meta.dirname, '..') });
}

ensureSlapd();
ensureConsole();
const port = process.env['DIRBRIDGE_DEMO_PORT'] ?? '8080';
const adminPassword = process.env['DIRBRIDGE_ADMIN_PASSWORD'] ?? randomBytes(12).toString('base64url');
const organisation = generateOrganisation({ people: PEOPLE, groups: GROUPS, seed: 7 });
const slapd = await startSlapd({ ldif: organisation.ldif });
const demoDir = path.resolve(process.env['DIRBRIDGE_DEMO_DIR'] ?? path.join('data', 'demo'));
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
    backgroundSync: { enabled: true, schedule: 'every 1 hour' },
    autoLogout: { enabled: true, schedule: 'every 5 minutes' },
    mapping: {
      roles: { enabled: true, autoRemove: true, map: { engineering: ['developer', 'reviewer'], 'division-1': 'support' } },
      channels: { enabled: true, autoRemove: true, channelAdmin: 'admin', map: { everyone: 'general', 'unix-admins': ['ops'] } },
      teams: { enabled: true, map: { 'division-2': 'Team Two' } },
      customFields: { enabled: true, map: { departmentNumber: 'department' } },
      abac: { enabled: true, map: { title: 'title' } },
      adminGroup: 'cycle-a',
    },
    store: { dataDir: demoDir },
  }),
);

// Warnings and errors only, so request logs do not scroll the URL and credentials away.
const logLevel = process.env['DIRBRIDGE_LOG_LEVEL'] ?? 'warn';
const env = { ...process.env, DIRBRIDGE_ADMIN_PASSWORD: adminPassword, DIRBRIDGE_LOG_LEVEL: logLevel };
const out = processOutput();
const cli = async (...args: string[]) => {
  console.log(`\n$ dirbridge --config ${path.relative(process.cwd(), settingsFile)} ${args.join(' ')}`);
  return runCli(['--config', settingsFile, ...args], out, env);
};
let failed = false;
for (const args of [['test-connection'], ['sync'], ['users', 'list', '--limit', '5']]) {
  if ((await cli(...args)) !== 0) failed = true;
}

// A ready OpenID Connect client, so an application can sign users in through the demo at once.
const DEMO_REDIRECT_URI = 'http://127.0.0.1:3000/callback';
let demoClient: { clientId: string; clientSecret: string } | undefined;
if (!failed) {
  const args = ['--json', 'oidc', 'clients', 'add', '--name', 'Demo application', '--redirect-uri', DEMO_REDIRECT_URI, '--first-party'];
  console.log(`\n$ dirbridge --config ${path.relative(process.cwd(), settingsFile)} ${args.join(' ')}`);
  let printed = '';
  const code = await runCli(['--config', settingsFile, ...args], { ...out, stdout: (text) => (printed += text) }, env);
  if (code !== 0) failed = true;
  else {
    demoClient = JSON.parse(printed) as { clientId: string; clientSecret: string };
  }
}

if (!failed) {
  const directoryAdmin = organisation.users.find((user) => organisation.groups.some((group) => group.cn === 'cycle-a' && group.members.includes(user.dn)));
  console.log(`
dirbridge demo
  directory   ${slapd.ldapsUrl}  (300 people, 40 groups; every password is password-<uid>)
  console     http://127.0.0.1:${port}/   (the port is printed below when DIRBRIDGE_DEMO_PORT=0)
  sign in     admin / ${adminPassword}${directoryAdmin === undefined ? '' : `\n              or the directory admin ${directoryAdmin.uid} / ${directoryAdmin.password}`}
  API docs    http://127.0.0.1:${port}/docs
  OpenID      issuer http://127.0.0.1:${port}  (discovery: /.well-known/openid-configuration)
  client      id ${demoClient?.clientId ?? ''}
              secret ${demoClient?.clientSecret ?? ''}
              redirect URI ${DEMO_REDIRECT_URI}  (first-party: no consent page)
  settings    ${path.relative(process.cwd(), settingsFile)} seeded the store in ${path.relative(process.cwd(), demoDir) || '.'}
  logs        level ${logLevel}${logLevel === 'warn' ? ' (DIRBRIDGE_LOG_LEVEL=info npm run demo logs every request)' : ''}
Press Ctrl-C to stop.
`);
  if ((await cli('serve', '--port', port)) !== 0) failed = true;
}
await slapd.stop();
process.exitCode = failed ? 1 : 0;
