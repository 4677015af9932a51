/**
 * The README's first command, as a newcomer runs it: `npm run demo` starts a directory, syncs it,
 * and serves the API and the console with working administrator credentials, and an OpenID Connect
 * issuer with a ready client, until it is told to stop. Runs the real script in a child process; the child's own cleanup stops its slapd.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '..');

describe('npm run demo', () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it('syncs the sample directory, serves the console and the API, and stops cleanly on SIGTERM', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-demo-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const adminPassword = 'demo-test-admin-password';
    // What `npm run demo` runs (package.json), without npm in between, so SIGTERM reaches the demo itself.
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
      cwd: ROOT,
      env: { ...process.env, DIRBRIDGE_DEMO_PORT: '0', DIRBRIDGE_DEMO_DIR: dir, DIRBRIDGE_ADMIN_PASSWORD: adminPassword, DIRBRIDGE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    cleanups.push(async () => {
      if (child.exitCode === null) process.kill(-(child.pid ?? 0), 'SIGKILL');
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const deadline = Date.now() + 120_000;
    let address: string | undefined;
    while (address === undefined) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`the demo did not start listening:\n${output}`);
      address = /dirbridge listening on (http:\/\/[^\s]+)/.exec(output)?.[1];
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.match(output, /sign in\s+admin \/ demo-test-admin-password/);
    assert.match(output, /"?status"?:?\s+succeeded|sync succeeded|succeeded/);

    const health = await fetch(`${address}/healthz`);
    assert.equal(health.status, 200);
    const page = await fetch(`${address}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const signIn = await fetch(`${address}/api/v1/admin/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: adminPassword }),
    });
    assert.equal(signIn.status, 200, await signIn.clone().text());
    const cookie = signIn.headers.get('set-cookie')?.split(';')[0] ?? '';
    const users = await fetch(`${address}/api/v1/admin/users?limit=1&source=directory`, { headers: { cookie } });
    assert.equal(users.status, 200);
    assert.equal(((await users.json()) as { total: number }).total, 300);

    // The ready OpenID Connect client: the issuer is where the demo listens, and the printed secret authenticates the client.
    const discovery = (await (await fetch(`${address}/.well-known/openid-configuration`)).json()) as { issuer: string; token_endpoint: string };
    assert.equal(discovery.issuer, address);
    const clientId = /^\s+client\s+id (\S+)$/m.exec(output)?.[1];
    const clientSecret = /^\s+secret (\S+)$/m.exec(output)?.[1];
    assert.ok(clientId !== undefined && clientSecret !== undefined, output);
    const tokenRequest = (secret: string) =>
      fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: 'not-a-code', redirect_uri: 'http://127.0.0.1:3000/callback' }),
      }).then(async (response) => ((await response.json()) as { error: string }).error);
    assert.equal(await tokenRequest(clientSecret), 'invalid_grant', 'the client authenticated; only the code is wrong');
    assert.equal(await tokenRequest(`${clientSecret}x`), 'invalid_client');

    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 30_000))]);
    assert.equal(code, 0, output);
  });
});
