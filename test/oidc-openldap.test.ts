/**
 * dirbridge as an OpenID Connect provider, end to end: a real `dirbridge serve` on the real
 * OpenLDAP fixture, openid-client as the relying party, and Chromium (with JavaScript switched
 * off: the pages are plain forms) signing in on the sign-in page. On SQLite, and on PostgreSQL
 * with two instances (sign in on one, refresh on the other). Covers: discovery, the code + PKCE
 * flow, the ID token verified against the JWKS, userinfo, refresh, RP-initiated logout, a wrong
 * password and a locked account (the uniform error, on the sign-in page), a user outside the
 * client's allowed groups (a page saying so, and an audit entry), a user disabled between two
 * refreshes, key rotation (old tokens still verify), and a public client without PKCE refused.
 * Without Chromium: fails in CI, skipped locally. PostgreSQL: likewise (declareWhenPostgres).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { openStore } from '../src/store/open-store.ts';
import type { Store } from '../src/store/store.ts';
import { generateOrganisation, type Organisation, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { chromiumForTests, launchChromium } from './helpers/browser.ts';
import { writeSlapdConfig } from './helpers/directory.ts';
import { authorizationRequest, dirbridgeJson, discover, interceptRelyingParty, RP_CALLBACK, RP_LOGGED_OUT, signInOnPage } from './helpers/oidc.ts';
import { createTestDatabase, declareWhenPostgres, postgresProblem } from './helpers/postgres.ts';
import { type ServeProcess, startServe } from './helpers/serve-process.ts';

const chromiumSetup = chromiumForTests();
const pgProblem = await postgresProblem();
const ADMIN_PASSWORD = 'admin-password-for-oidc-tests';
const ALLOWED_GROUP = 'everyone';

/** A person that signs in with uid and password, in `everyone` or not, never locked. */
function person(organisation: Organisation, inEveryone: boolean, skip: readonly SampleUser[] = []): SampleUser {
  const found = organisation.users.find(
    (user) =>
      !user.locked &&
      user.rdnAttribute === 'uid' &&
      /^[a-z0-9.]+$/.test(user.uid) &&
      user.groups.includes(ALLOWED_GROUP) === inEveryone &&
      !skip.includes(user),
  );
  assert.ok(found, `a sample user ${inEveryone ? 'in' : 'outside'} ${ALLOWED_GROUP}`);
  return found;
}

type Lifecycle = { storeOverrides: () => Record<string, unknown>; setup: () => Promise<void>; teardown: () => Promise<void>; twoInstances: boolean };

function describeOidcFlow(name: string, lifecycle: Lifecycle): void {
  describe(`OpenID Connect provider with OpenLDAP and Chromium: ${name}`, { skip: chromiumSetup.skip }, () => {
    let slapd: Slapd;
    let organisation: Organisation;
    let dir: string;
    let configFile: string;
    let env: Record<string, string>;
    let serve: ServeProcess;
    let second: ServeProcess | undefined;
    let store: Store;
    let browser: Browser;
    let clientId: string;
    let clientSecret: string;
    let limitedId: string;
    let limitedSecret: string;
    let publicId: string;

    before(async () => {
      await lifecycle.setup();
      organisation = generateOrganisation({ people: 30, groups: 3, seed: 12 });
      slapd = await startSlapd({ ldif: organisation.ldif });
      dir = await mkdtemp(path.join(tmpdir(), 'dirbridge-oidc-'));
      configFile = path.join(dir, 'dirbridge.yaml');
      env = {
        ...(await writeSlapdConfig(configFile, slapd, { store: { dataDir: path.join(dir, 'data'), ...lifecycle.storeOverrides() } })),
        DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD,
      };
      serve = await startServe(configFile, env);
      if (lifecycle.twoInstances) second = await startServe(configFile, { ...env, DIRBRIDGE_PUBLIC_URL: serve.address });
      store = await openStore({ dataDir: path.join(dir, 'data'), ...lifecycle.storeOverrides() } as never);
      const app = await dirbridgeJson(configFile, env, [
        'oidc',
        'clients',
        'add',
        '--name',
        'Team Chat',
        '--redirect-uri',
        RP_CALLBACK,
        '--post-logout-redirect-uri',
        RP_LOGGED_OUT,
      ]);
      ({ clientId, clientSecret } = app);
      const limited = await dirbridgeJson(configFile, env, [
        'oidc',
        'clients',
        'add',
        '--name',
        'Payroll',
        '--redirect-uri',
        RP_CALLBACK,
        '--allowed-group',
        ALLOWED_GROUP,
        '--first-party',
      ]);
      ({ clientId: limitedId, clientSecret: limitedSecret } = limited);
      const pub = await dirbridgeJson(configFile, env, [
        'oidc',
        'clients',
        'add',
        '--name',
        'Single Page',
        '--redirect-uri',
        RP_CALLBACK,
        '--public',
        '--first-party',
      ]);
      publicId = pub.clientId;
      assert.equal(pub.clientSecret, undefined, 'a public client has no secret');
      browser = await launchChromium(chromiumSetup.executablePath ?? '');
    });

    after(async () => {
      await browser?.close();
      await store?.close();
      await second?.stop();
      await serve?.stop();
      await slapd?.stop();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      await lifecycle.teardown();
    });

    /** A browser without JavaScript, with the relying party's host intercepted. */
    async function browserContext(): Promise<{ context: BrowserContext; page: Page; rp: Awaited<ReturnType<typeof interceptRelyingParty>> }> {
      const context = await browser.newContext({ javaScriptEnabled: false });
      const rp = await interceptRelyingParty(context);
      return { context, page: await context.newPage(), rp };
    }

    /** Signs `user` in through the browser and exchanges the code; consents when asked. */
    async function signIn(config: client.Configuration, user: SampleUser, options: { consent?: boolean } = {}) {
      const { context, page, rp } = await browserContext();
      try {
        const request = await authorizationRequest(config);
        await page.goto(request.url.href);
        assert.match(await page.title(), /Sign in/);
        await signInOnPage(page, user.uid, user.password);
        if (options.consent === true) {
          assert.match(await page.title(), /Allow access/, await page.content());
          assert.match(await page.content(), /groups/);
          await page.getByRole('button', { name: 'Allow' }).click();
        }
        const callback = await rp.next();
        const tokens = await client.authorizationCodeGrant(config, callback, {
          pkceCodeVerifier: request.verifier,
          expectedState: request.state,
          expectedNonce: request.nonce,
        });
        return { tokens, context, page, rp };
      } catch (error) {
        await context.close();
        throw error;
      }
    }

    it('publishes discovery and signs a user in with code + PKCE: ID token verified against the JWKS, userinfo, refresh, logout', async () => {
      const discovery = (await (await fetch(`${serve.address}/.well-known/openid-configuration`)).json()) as Record<string, any>;
      assert.equal(discovery['issuer'], serve.address);
      assert.deepEqual(discovery['code_challenge_methods_supported'], ['S256']);
      assert.ok((discovery['scopes_supported'] as string[]).includes('groups'));

      const user = person(organisation, true);
      const config = await discover(serve.address, clientId, clientSecret);
      const { tokens, context, page, rp } = await signIn(config, user, { consent: true });
      try {
        const claims = tokens.claims();
        assert.ok(claims);
        const stored = await store.users.findByUsername(user.uid);
        assert.ok(stored, 'first login created the user');
        assert.equal(claims.sub, stored.id, 'sub is the dirbridge user id');
        assert.equal(claims['preferred_username'], user.uid);
        assert.equal(claims['email'], user.mail);
        assert.equal(claims['given_name'], user.givenName);
        assert.equal(claims['family_name'], user.sn);
        assert.ok((claims['groups'] as string[]).includes(ALLOWED_GROUP), JSON.stringify(claims));
        assert.ok(Array.isArray(claims['roles']));
        // The signature, independently of openid-client: the JWKS the discovery names.
        const jwks = createRemoteJWKSet(new URL(discovery['jwks_uri'] as string));
        await jwtVerify(tokens.id_token ?? '', jwks, { issuer: serve.address, audience: clientId });

        const info = await client.fetchUserInfo(config, tokens.access_token, stored.id);
        assert.equal(info['preferred_username'], user.uid);
        assert.ok((info['groups'] as string[]).includes(ALLOWED_GROUP));

        assert.ok(tokens.refresh_token, 'a refresh token');
        const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
        assert.equal(refreshed.claims()?.sub, stored.id);
        assert.ok(((refreshed.claims()?.['groups'] as string[]) ?? []).includes(ALLOWED_GROUP));

        // RP-initiated logout: the confirmation is a plain form; the browser comes back to the application.
        const logoutState = client.randomState();
        await page.goto(
          client.buildEndSessionUrl(config, { id_token_hint: refreshed.id_token ?? '', post_logout_redirect_uri: RP_LOGGED_OUT, state: logoutState }).href,
        );
        await page.getByRole('button', { name: 'Sign out' }).click();
        const back = await rp.next();
        assert.equal(back.origin + back.pathname, RP_LOGGED_OUT);
        assert.equal(back.searchParams.get('state'), logoutState);

        // Nothing secret in the server's logs.
        for (const secret of [clientSecret, tokens.access_token, tokens.refresh_token, user.password])
          assert.equal(serve.stdout().includes(secret) || serve.stderr().includes(secret), false);
      } finally {
        await context.close();
      }
    });

    it('keeps a wrong password and a locked account on the sign-in page with the uniform error', async () => {
      const config = await discover(serve.address, clientId, clientSecret);
      const locked = organisation.users.find((candidate) => candidate.locked);
      assert.ok(locked);
      const user = person(organisation, true);
      for (const [username, password] of [
        [user.uid, 'not-the-password'],
        [locked.uid, locked.password],
      ] as const) {
        const { context, page } = await browserContext();
        try {
          await page.goto((await authorizationRequest(config)).url.href);
          await signInOnPage(page, username, password);
          assert.match(await page.title(), /Sign in/);
          assert.equal(await page.getByRole('alert').textContent(), 'invalid username or password');
          assert.equal(await page.getByLabel('Username').inputValue(), username, 'the name is kept');
        } finally {
          await context.close();
        }
      }
      const audit = await store.audit.list({ limit: 20, offset: 0, action: 'login.failed' });
      const reasons = audit.entries.map((entry) => `${entry.subject} ${entry.reason}`);
      assert.ok(reasons.includes(`${user.uid} wrong_password`), reasons.join('\n'));
      assert.ok(reasons.includes(`${locked.uid} locked_in_directory`), reasons.join('\n'));
    });

    it("refuses a user outside the client's allowed groups with a page and an audit entry, and admits a member without consent (first party)", async () => {
      const config = await discover(serve.address, limitedId, limitedSecret);
      const outsider = person(organisation, false);
      const { context, page, rp } = await browserContext();
      try {
        await page.goto((await authorizationRequest(config)).url.href);
        await signInOnPage(page, outsider.uid, outsider.password);
        assert.match(await page.title(), /Access denied/);
        assert.match((await page.getByRole('alert').textContent()) ?? '', /Payroll/);
      } finally {
        await context.close();
      }
      const audit = await store.audit.list({ limit: 10, offset: 0, action: 'oidc.access_refused' });
      assert.ok(audit.entries.some((entry) => entry.subject === outsider.uid && entry.reason === 'not_in_allowed_groups'));
      void rp;

      const member = person(organisation, true);
      const { tokens, context: memberContext } = await signIn(config, member);
      await memberContext.close();
      assert.equal(tokens.claims()?.['preferred_username'], member.uid);
    });

    it('refuses the refresh of a user disabled since the last refresh', async () => {
      const config = await discover(serve.address, limitedId, limitedSecret);
      const user = person(organisation, true, [person(organisation, true)]);
      const { tokens, context } = await signIn(config, user);
      await context.close();
      const once = await client.refreshTokenGrant(config, tokens.refresh_token ?? '');
      await dirbridgeJson(configFile, env, ['users', 'disable', user.uid]);
      await assert.rejects(
        client.refreshTokenGrant(config, once.refresh_token ?? tokens.refresh_token ?? ''),
        (error: any) => error?.error === 'invalid_grant',
      );
      await dirbridgeJson(configFile, env, ['users', 'enable', user.uid]);
    });

    it('refuses a public client without PKCE', async () => {
      const pub = await discover(serve.address, publicId);
      const url = client.buildAuthorizationUrl(pub, { redirect_uri: RP_CALLBACK, scope: 'openid', state: client.randomState() });
      const response = await fetch(url, { redirect: 'manual' });
      assert.equal(response.status, 303);
      const back = new URL(response.headers.get('location') ?? '');
      assert.equal(back.origin + back.pathname, RP_CALLBACK);
      assert.equal(back.searchParams.get('error'), 'invalid_request');
      assert.match(back.searchParams.get('error_description') ?? '', /requires PKCE/);
    });

    it('rotates the signing key: new tokens use the new key, tokens signed before still verify against the JWKS', async () => {
      const config = await discover(serve.address, limitedId, limitedSecret);
      const user = person(organisation, true);
      const before = await signIn(config, user);
      await before.context.close();
      const oldKid = decodeProtectedHeader(before.tokens.id_token ?? '').kid;
      const { kid } = await dirbridgeJson(configFile, env, ['oidc', 'keys', 'rotate']);
      assert.notEqual(kid, oldKid);
      const jwksUrl = new URL(`${serve.address}/oidc/jwks`);
      let kids: string[] = [];
      for (let tries = 0; tries < 100 && !kids.includes(kid); tries += 1) {
        kids = ((await (await fetch(jwksUrl)).json()) as { keys: Array<{ kid: string; d?: string }> }).keys.map((key) => key.kid);
        if (!kids.includes(kid)) await sleep(200);
      }
      assert.deepEqual(kids, [kid, oldKid], 'the new key first, the previous one still published');
      const published = (await (await fetch(jwksUrl)).json()) as { keys: Array<Record<string, unknown>> };
      assert.ok(
        published.keys.every((key) => key['d'] === undefined && key['p'] === undefined),
        'only public keys are published',
      );
      await jwtVerify(before.tokens.id_token ?? '', createRemoteJWKSet(jwksUrl), { issuer: serve.address, audience: limitedId });

      const after = await signIn(await discover(serve.address, limitedId, limitedSecret), user);
      await after.context.close();
      assert.equal(decodeProtectedHeader(after.tokens.id_token ?? '').kid, kid);
    });

    if (lifecycle.twoInstances) {
      it('signs in on one instance and refreshes on the other (one PostgreSQL)', async () => {
        const config = await discover(serve.address, limitedId, limitedSecret);
        const user = person(organisation, true);
        const { tokens, context } = await signIn(config, user);
        await context.close();
        // A load balancer in front of both: the refresh goes to the second instance.
        const other = await discover(serve.address, limitedId, limitedSecret);
        const target = second?.address ?? '';
        other[client.customFetch] = (url, options) => fetch(url.replace(serve.address, target), options as RequestInit);
        let reachedSecond = false;
        const original = other[client.customFetch];
        other[client.customFetch] = (url, options) => {
          reachedSecond ||= url.includes('/oidc/token');
          return original?.(url, options) as ReturnType<typeof fetch>;
        };
        const refreshed = await client.refreshTokenGrant(other, tokens.refresh_token ?? '');
        assert.ok(reachedSecond);
        assert.equal(refreshed.claims()?.['preferred_username'], user.uid);
      });
    }
  });
}

describeOidcFlow('sqlite', { storeOverrides: () => ({}), setup: async () => {}, teardown: async () => {}, twoInstances: false });

declareWhenPostgres('OpenID Connect provider with OpenLDAP and Chromium: postgres', pgProblem, () => {
  let database: { url: string; drop: () => Promise<void> } | undefined;
  describeOidcFlow('postgres', {
    storeOverrides: () => ({ url: database?.url ?? '' }),
    setup: async () => {
      database = await createTestDatabase();
    },
    teardown: async () => {
      await database?.drop();
    },
    twoInstances: true,
  });
});
