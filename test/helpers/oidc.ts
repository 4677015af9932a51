/**
 * A real relying party for OpenID Connect tests: openid-client (the certified client library)
 * with no protocol code of our own, and Debian's Chromium signing in on dirbridge's
 * server-rendered pages. The redirect URIs live on a host that only exists inside the browser
 * (`https://rp.test`): the test intercepts the navigation and hands its URL to openid-client.
 */
import { spawn } from 'node:child_process';
import * as client from 'openid-client';
import type { BrowserContext, Page } from 'playwright-core';
import { DIRBRIDGE_BIN } from './serve-process.ts';

/** The relying party's callback and post-logout URIs (never resolved: the browser's requests are intercepted). */
export const RP_CALLBACK = 'https://rp.test/callback';
export const RP_LOGGED_OUT = 'https://rp.test/logged-out';

/** Runs `dirbridge --config CONFIG ...args --json` and returns its parsed stdout (throws on a non-zero exit). */
export async function dirbridgeJson(config: string, env: Record<string, string>, args: readonly string[]): Promise<any> {
  const child = spawn(process.execPath, [DIRBRIDGE_BIN, '--config', config, ...args, '--json'], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`dirbridge ${args.join(' ')} exited ${String(code)}: ${stderr}${stdout}`);
  return JSON.parse(stdout);
}

/** openid-client's configuration for a client of the issuer (plain http is allowed: the test server listens on 127.0.0.1). */
export async function discover(issuer: string, clientId: string, clientSecret?: string): Promise<client.Configuration> {
  return client.discovery(new URL(issuer), clientId, clientSecret, clientSecret === undefined ? client.None() : client.ClientSecretBasic(clientSecret), {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  });
}

/** One authorization request: its URL and what the callback is checked against. */
export interface AuthorizationRequest {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

/** Builds a code + PKCE (S256) authorization request with state and nonce. */
export async function authorizationRequest(
  config: client.Configuration,
  scope = 'openid profile email groups roles offline_access',
): Promise<AuthorizationRequest> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: RP_CALLBACK,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url, verifier, state, nonce };
}

/** Routes every request to `https://rp.test` to the test: navigations there resolve the returned promise's waiters. */
export async function interceptRelyingParty(context: BrowserContext): Promise<{ next: () => Promise<URL> }> {
  const waiting: Array<(url: URL) => void> = [];
  const arrived: URL[] = [];
  await context.route('https://rp.test/**', async (route) => {
    const url = new URL(route.request().url());
    const waiter = waiting.shift();
    if (waiter === undefined) arrived.push(url);
    else waiter(url);
    await route.fulfill({ status: 200, contentType: 'text/html', body: '<!DOCTYPE html><title>relying party</title><p>back at the application</p>' });
  });
  return {
    next: () => {
      const url = arrived.shift();
      return url === undefined ? new Promise<URL>((resolve) => waiting.push(resolve)) : Promise.resolve(url);
    },
  };
}

/** Fills the sign-in page and submits it (no JavaScript involved: a plain form post). */
export async function signInOnPage(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForLoadState('domcontentloaded'), page.getByRole('button', { name: 'Sign in' }).click()]);
}
