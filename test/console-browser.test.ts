/**
 * The admin console in a real browser: Debian's Chromium (through playwright-core) against the
 * real server, a real OpenLDAP and the SQLite store. Signs in, saves settings with an invalid
 * value (the error appears at the field, the other input survives), runs Test Connection, a dry
 * run and Sync Now (the progress bar finishes), finds a synced user whose directory fields are
 * read-only, shows a user's synced photo (jpegPhoto) on the list and the user's page, and reads
 * the history chart. A screenshot of every page goes to test-output/console/.
 * Without Chromium: fails in CI, skipped locally.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import type { RouteContext } from '../src/http/context.ts';
import { installErrorHandlers } from '../src/http/errors.ts';
import { registerConsoleRoutes } from '../src/http/routes/console.ts';
import { createHttpServer } from '../src/http/server.ts';
import { createAppScheduler } from '../src/scheduler/app-jobs.ts';
import { silentLog } from '../src/scheduler/job-lock.ts';
import { runAvatarSync } from '../src/sync/attribute-jobs.ts';
import { buildConsole } from '../web/build.ts';
import { fromEdit, problemsByField, setPath, toEdit } from '../web/src/settings-model.ts';
import type { FormField } from '../web/src/types.ts';
import { JPEG_24, jpegPhotoChange } from './fixtures/images.ts';
import { generateOrganisation, type Organisation, type SampleUser } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { chromiumForTests, openConsolePage } from './helpers/browser.ts';
import { settingsFor } from './helpers/harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCREENSHOTS = path.join(ROOT, 'test-output', 'console');
const ADMIN_PASSWORD = 'admin-password-for-console-tests';
const STEP_TIMEOUT = 15_000;
/** Enough people that a sync takes long enough for the page to see its progress. */
const PEOPLE = Number(process.env['CONSOLE_TEST_PEOPLE'] ?? 3000);

const chromiumSetup = chromiumForTests();

describe('console settings model', () => {
  const field = (kind: FormField['kind'], extra: Partial<FormField> = {}): FormField => ({
    path: 'a.b',
    label: 'A',
    help: 'help',
    kind,
    isOptional: false,
    ...extra,
  });

  it('maps server problems to the field with that path (or its longest prefix) and keeps the rest apart', () => {
    const paths = ['directory.pageSize', 'mapping.roles.map', 'mapping.roles.enabled', 'directory.bindPassword'];
    const split = problemsByField(
      [
        'directory.pageSize: Too big: expected number to be <=100000',
        'mapping.roles.map.techsupport: expected string or string[]',
        'settings.directory.bindPassword: required when bindDn is set',
        'store: not allowed here',
        'no path at all',
      ],
      paths,
    );
    assert.deepEqual(split.byField, {
      'directory.pageSize': ['Too big: expected number to be <=100000'],
      'mapping.roles.map': ['techsupport: expected string or string[]'],
      'directory.bindPassword': ['required when bindDn is set'],
    });
    assert.deepEqual(split.other, ['store: not allowed here', 'no path at all']);
  });

  it('turns inputs into settings values and back', () => {
    assert.deepEqual(fromEdit(field('integer'), '250000'), { value: 250000 });
    assert.deepEqual(fromEdit(field('integer'), 'lots'), { value: 'lots' });
    assert.deepEqual(fromEdit(field('integer', { defaultValue: 500 }), '  '), { value: undefined });
    assert.deepEqual(fromEdit(field('string'), ''), { value: '' });
    assert.deepEqual(fromEdit(field('string', { isOptional: true }), ''), { value: undefined });
    assert.deepEqual(fromEdit(field('list'), 'ldap://a\n\n ldap://b \n'), { value: ['ldap://a', 'ldap://b'] });
    assert.deepEqual(fromEdit(field('map'), '{"manager": ["leader"]}'), { value: { manager: ['leader'] } });
    const broken = fromEdit(field('map'), '{manager');
    assert.ok('error' in broken && /not valid JSON/.test(broken.error));
    assert.equal(toEdit(field('list'), ['uid', 'cn']), 'uid\ncn');
    assert.deepEqual(toEdit(field('list', { options: ['member', 'memberUid'] }), ['memberUid']), ['memberUid']);
    assert.equal(toEdit(field('boolean', { defaultValue: true }), undefined), true);
    assert.equal(toEdit(field('secret'), 'hunter2'), '');
    const document: Record<string, unknown> = { directory: { bindDn: 'cn=x', pageSize: 5 } };
    setPath(document, 'directory.bindDn', undefined);
    setPath(document, 'groups.baseDn', 'ou=groups');
    assert.deepEqual(document, { directory: { pageSize: 5 }, groups: { baseDn: 'ou=groups' } });
  });
});

describe('console routes', () => {
  async function serverFor(distDir: string): Promise<FastifyInstance> {
    const server = Fastify({ logger: false });
    server.setValidatorCompiler(validatorCompiler);
    server.setSerializerCompiler(serializerCompiler);
    installErrorHandlers(server);
    // The console routes use nothing from the context (the form is static, the files are on disk).
    registerConsoleRoutes(server, {} as RouteContext, { distDir });
    await server.ready();
    return server;
  }

  it('answers 503 with how to build the console when web/dist is missing, and leaves other paths alone', async () => {
    const server = await serverFor(path.join(tmpdir(), 'dirbridge-no-console-here'));
    try {
      for (const url of ['/', '/users', '/users/42']) {
        const response = await server.inject({ method: 'GET', url });
        assert.equal(response.statusCode, 503, url);
        assert.match(String(response.headers['content-type'] ?? ''), /^text\/plain/);
        assert.match(response.body, /npm run build:web/);
      }
      const api = await server.inject({ method: 'GET', url: '/api/v1/whatever' });
      assert.equal(api.statusCode, 404);
      assert.equal(JSON.parse(api.body).error.code, 'http.not_found');
    } finally {
      await server.close();
    }
  });

  it('serves built files, index.html for client routes, and 404 for missing files and server paths', async () => {
    const distDir = await mkdtemp(path.join(tmpdir(), 'dirbridge-console-'));
    await writeFile(path.join(distDir, 'index.html'), '<!doctype html><title>console</title>');
    await writeFile(path.join(distDir, 'app.js'), 'console.log(1);');
    const server = await serverFor(distDir);
    try {
      for (const url of ['/', '/settings', '/users/abc', '/history/some-run?x=1']) {
        const response = await server.inject({ method: 'GET', url });
        assert.equal(response.statusCode, 200, url);
        assert.match(String(response.headers['content-type'] ?? ''), /^text\/html/, url);
        assert.match(response.body, /<title>console<\/title>/, url);
      }
      const script = await server.inject({ method: 'GET', url: '/app.js' });
      assert.equal(script.statusCode, 200);
      assert.match(String(script.headers['content-type'] ?? ''), /javascript/);
      assert.equal(script.body, 'console.log(1);');
      for (const url of ['/missing.js', '/api/v1', '/api/other', '/docs/missing', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd']) {
        const response = await server.inject({ method: 'GET', url });
        assert.ok(
          response.statusCode === 404 || (response.statusCode === 200 && response.body.includes('<title>console</title>')),
          `${url}: ${response.statusCode} ${response.body.slice(0, 80)}`,
        );
        assert.doesNotMatch(response.body, /root:/, url);
      }
      assert.equal((await server.inject({ method: 'GET', url: '/missing.js' })).statusCode, 404);
      assert.equal((await server.inject({ method: 'GET', url: '/api/other' })).statusCode, 404);
    } finally {
      await server.close();
      await rm(distDir, { recursive: true, force: true });
    }
  });
});

describe('admin console in Chromium', { skip: chromiumSetup.skip, timeout: 120_000 }, () => {
  let slapd: Slapd;
  let organisation: Organisation;
  let app: App;
  let server: FastifyInstance;
  let scheduler: ReturnType<typeof createAppScheduler> | undefined;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  const cleanups: Array<() => Promise<void>> = [];
  /** Script errors, CSP violations and failed requests the page reported. */
  let pageProblems: string[] = [];

  const shot = async (name: string, options: { fullPage?: boolean } = {}) => {
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: options.fullPage ?? true });
  };
  const byTestId = (id: string) => page.locator(`[data-testid="${id}"]`);
  const nav = async (label: string, url: RegExp) => {
    await page.locator('nav[aria-label="Main"] a', { hasText: label }).first().click();
    await page.waitForURL(url, { timeout: STEP_TIMEOUT });
  };

  before(async () => {
    const executablePath = chromiumSetup.executablePath;
    assert.ok(executablePath !== undefined);
    await rm(SCREENSHOTS, { recursive: true, force: true });
    await mkdir(SCREENSHOTS, { recursive: true });
    const [, started] = await Promise.all([
      buildConsole(),
      (async () => {
        organisation = generateOrganisation({ people: PEOPLE, groups: 12, seed: 5 });
        return startSlapd({ ldif: organisation.ldif });
      })(),
    ]);
    slapd = started;
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.readerDn, bindPassword: slapd.readerPassword },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}`, memberAttribute: ['member', 'uniqueMember', 'memberUid'] },
      mapping: {
        roles: { enabled: true, map: { [organisation.groups[0]?.cn ?? 'none']: 'support' } },
        channels: { enabled: true, channelAdmin: 'admin', map: { engineering: 'dev', 'unix-admins': ['ops'] } },
        teams: { enabled: true, map: { 'division-2': 'Team Two' }, userGroupsQuery: '(&(objectClass=groupOfNames)(member=#{userdn}))' },
        adminGroup: 'cycle-a',
      },
    });
    cleanups.push(made.cleanup);
    app = await openApp(made.settings);
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    // The scheduler as `dirbridge serve` runs it (for the jobs page), and a logger whose lines feed the logs page.
    scheduler = createAppScheduler(app, { log: silentLog });
    const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
    server = await createHttpServer(app, { logger: { level: 'info', stream: discard }, scheduler });
    base = await server.listen({ port: 0, host: '127.0.0.1' });
    await scheduler.start();
    ({ browser, context, page, problems: pageProblems } = await openConsolePage(executablePath, { stepTimeoutMs: STEP_TIMEOUT }));
  });

  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await server?.close();
    await scheduler?.stop();
    await app?.close();
    await slapd?.stop();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const aUser = (): SampleUser => {
    const user = organisation.users.find((candidate) => !candidate.locked && /^[a-z0-9._-]+$/.test(candidate.uid));
    assert.ok(user, 'a sample user');
    return user;
  };

  it('serves the console at / and sends an unauthenticated visitor to sign-in', async () => {
    const response = await page.goto(`${base}/`);
    assert.equal(response?.status(), 200);
    assert.match(response?.headers()['content-security-policy'] ?? '', /default-src 'self'/);
    await byTestId('signin-form').waitFor();
    await shot('01-sign-in');
    // A wrong password is refused with the uniform message.
    await page.fill('input[name="username"]', 'admin');
    await page.fill('input[name="password"]', 'wrong password');
    await page.click('button[type="submit"]');
    await page.locator('.signin-card [role="alert"]', { hasText: 'Invalid username or password' }).waitFor();
    await page.fill('input[name="password"]', ADMIN_PASSWORD);
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/settings$/);
    await byTestId('whoami').filter({ hasText: 'admin' }).waitFor();
  });

  it('shows every settings section with help text', async () => {
    await byTestId('section-connection').waitFor();
    for (const id of [
      'connection',
      'user-search',
      'data-sync',
      'background-sync',
      'sync-roles',
      'sync-channels',
      'sync-teams',
      'sync-custom-fields',
      'abac',
      'auto-logout',
      'advanced-sync',
    ]) {
      assert.equal(await byTestId(`section-${id}`).count(), 1, `section ${id}`);
    }
    const help = await byTestId('field-directory.bindDn').locator('.field-help').textContent();
    assert.match(help ?? '', /service account/);
    // Bounds come from the schema the server checks: the operation timeout stops at an hour.
    assert.match((await byTestId('field-directory.operationTimeoutMs').locator('.field-hint').textContent()) ?? '', /Range: 100–3600000/);
    assert.match((await byTestId('field-directory.connectTimeoutMs').locator('.field-hint').textContent()) ?? '', /Range: 100–300000/);
    assert.equal(await page.locator('[name="users.baseDn"]').getAttribute('maxlength'), '2048');
    await shot('02-settings');
    await byTestId('section-sync-roles').screenshot({ path: path.join(SCREENSHOTS, '02b-settings-sync-roles.png') });
    await byTestId('section-advanced-sync').screenshot({ path: path.join(SCREENSHOTS, '02c-settings-advanced-sync.png') });
  });

  it("keeps the input and shows the server's error next to the field when a save is invalid", async () => {
    await byTestId('field-directory.pageSize').waitFor();
    const pageSize = page.locator('[name="directory.pageSize"]');
    const timeout = page.locator('[name="directory.connectTimeoutMs"]');
    await pageSize.fill('250000');
    await timeout.fill('4321');
    await byTestId('save-settings').click();
    const error = byTestId('field-directory.pageSize').locator('[data-testid="field-error"]');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /100000|100,000|too big/i);
    assert.equal(await byTestId('field-directory.connectTimeoutMs').locator('[data-testid="field-error"]').count(), 0);
    assert.equal(await pageSize.inputValue(), '250000');
    assert.equal(await timeout.inputValue(), '4321');
    await byTestId('settings-invalid').waitFor();
    await byTestId('field-directory.pageSize').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SCREENSHOTS, '03-settings-invalid.png') });
    // Fixed, the same edit saves, and the saved values come back from the server.
    await pageSize.fill('750');
    await byTestId('save-settings').click();
    await byTestId('settings-saved').waitFor();
    // Connection settings changed, so the save verified them first.
    assert.match((await byTestId('settings-saved').textContent()) ?? '', /verified: connected to .* and bound as/);
    assert.equal(await byTestId('field-directory.pageSize').locator('[data-testid="field-error"]').count(), 0);
    assert.equal(await pageSize.inputValue(), '750');
    assert.equal(await timeout.inputValue(), '4321');
  });

  it('runs Test Connection', async () => {
    await page.evaluate('window.scrollTo(0, 0)');
    await byTestId('action-test-connection').click();
    const result = byTestId('test-connection-result');
    await result.waitFor();
    assert.match((await result.textContent()) ?? '', /Connection succeeded/);
    assert.match((await result.textContent()) ?? '', new RegExp(slapd.readerDn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await page.screenshot({ path: path.join(SCREENSHOTS, '04-test-connection.png') });
  });

  it('runs Test LDAP Search for a username', async () => {
    const user = aUser();
    await byTestId('action-test-search').click();
    await page.fill('input[name="test-search-username"]', user.uid);
    await byTestId('test-search-form').locator('button[type="submit"]').click();
    const result = byTestId('test-search-result');
    await result.waitFor();
    assert.match((await result.textContent()) ?? '', new RegExp(`Found ${user.uid}`));
    await page.screenshot({ path: path.join(SCREENSHOTS, '05-test-search.png') });
  });

  it('tests unsaved values, and refuses to save a bind password that does not work', async () => {
    const version = app.settingsState().version;
    const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await page.evaluate('window.scrollTo(0, 0)');
    assert.equal(await byTestId('testing-unsaved').count(), 0, 'nothing unsaved yet');
    const password = page.locator('[name="directory.bindPassword"]');
    await password.fill('console-unsaved-wrong-password');
    await byTestId('testing-unsaved').filter({ hasText: 'Testing unsaved changes' }).waitFor();

    // Test Connection tests the typed password: it fails, and says so.
    await byTestId('action-test-connection').click();
    const failure = byTestId('action-error');
    await failure.waitFor();
    const failureText = (await failure.textContent()) ?? '';
    assert.match(failureText, /Test Connection failed with your unsaved changes/);
    assert.match(failureText, /invalid credentials/);
    assert.match(failureText, /Nothing was saved/);
    await page.screenshot({ path: path.join(SCREENSHOTS, '05b-test-unsaved.png') });
    // The settings in force are untouched and still work.
    assert.equal(app.settingsState().version, version);
    assert.equal(app.settings.directory.bindPassword, slapd.readerPassword);

    // Save verifies the changed connection settings and refuses them, offering to save anyway.
    await byTestId('save-settings').click();
    const refused = byTestId('settings-verification-failed');
    await refused.waitFor();
    assert.match((await refused.textContent()) ?? '', /could not connect and bind.*directory\.bindPassword.*invalid credentials/);
    assert.equal(await byTestId('save-anyway').count(), 1);
    await page.screenshot({ path: path.join(SCREENSHOTS, '05c-save-refused.png') });
    assert.equal(app.settingsState().version, version, 'nothing was saved');
    assert.equal(await app.store.settings.getVersion(), version);
    assert.equal(await password.inputValue(), 'console-unsaved-wrong-password', 'the input is kept');

    // Keeping the stored password, an unsaved User Search base is what Test LDAP Search uses.
    await byTestId('field-directory.bindPassword').locator('button', { hasText: 'Keep current' }).click();
    const baseDn = page.locator('[name="users.baseDn"]');
    await baseDn.fill(`ou=groups,${slapd.baseDn}`);
    const user = aUser();
    await page.evaluate('window.scrollTo(0, 0)');
    await byTestId('action-test-search').click();
    await page.fill('input[name="test-search-username"]', user.uid);
    await byTestId('test-search-form').locator('button[type="submit"]').click();
    const notFound = byTestId('test-search-result');
    await notFound.waitFor();
    assert.equal(await notFound.getAttribute('data-tested'), 'unsaved');
    assert.match((await notFound.textContent()) ?? '', new RegExp(`No directory user ${escaped(user.uid)} was found.*unsaved changes`));

    // Discarded, the tests run on the saved settings again.
    await page.locator('button', { hasText: 'Discard changes' }).click();
    assert.equal(await byTestId('testing-unsaved').count(), 0);
    await byTestId('action-test-connection').click();
    const result = byTestId('test-connection-result');
    await result.waitFor();
    assert.equal(await result.getAttribute('data-tested'), 'saved');
    assert.equal(app.settingsState().version, version);
    // The failed test answered 502 on purpose (the directory refused the bind); nothing else may have.
    const expected = pageProblems.filter((problem) => /^502 POST .*\/api\/v1\/admin\/actions\/test-connection$/.test(problem));
    assert.equal(expected.length, 1, pageProblems.join('\n'));
    pageProblems.splice(pageProblems.indexOf(expected[0] ?? ''), 1);
  });

  it('previews the plan with a dry run', async () => {
    await byTestId('action-dry-run').click();
    const result = byTestId('dry-run-result');
    await result.waitFor({ timeout: 30_000 });
    const rows = result.locator('[data-testid="plan-table"] tbody tr');
    assert.ok((await rows.count()) > 0, 'the plan has steps');
    assert.match((await rows.first().textContent()) ?? '', /\w+/);
    assert.match((await result.textContent()) ?? '', /Nothing was written/);
    await page.screenshot({ path: path.join(SCREENSHOTS, '06-dry-run.png') });
  });

  it('runs Sync Now and follows its progress to the end', async () => {
    const polled: string[] = [];
    const onRequest = (request: { url: () => string }) => {
      if (/\/api\/v1\/admin\/runs\/[^/?]+$/.test(request.url())) polled.push(request.url());
    };
    page.on('request', onRequest);
    // Every state the progress view passes through, as the page renders it.
    await page.evaluate(`(() => {
      window.__syncStates = [];
      const record = () => {
        const element = document.querySelector('[data-testid="sync-progress"]');
        const bar = document.querySelector('[data-testid="sync-progress-bar"]');
        if (element) window.__syncStates.push(element.getAttribute('data-status') + ':' + (bar ? bar.getAttribute('aria-valuenow') : ''));
      };
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    })()`);
    await byTestId('action-sync-now').click();
    await byTestId('sync-progress').waitFor();
    const finished = page.locator('[data-testid="sync-progress"][data-status="succeeded"]');
    await finished.waitFor({ timeout: 30_000 });
    page.off('request', onRequest);
    assert.equal(await byTestId('sync-progress-bar').getAttribute('aria-valuenow'), '100');
    const states = (await page.evaluate('window.__syncStates')) as string[];
    assert.ok(
      states.some((state) => state.startsWith('running:')),
      `the bar was shown while running: ${states.join(' ')}`,
    );
    assert.equal(states.at(-1), 'succeeded:100');
    assert.ok(polled.length >= 1, 'the page followed the run at GET /api/v1/admin/runs/:id');
    const result = (await byTestId('sync-result').textContent()) ?? '';
    assert.match(result, /users created/);
    await page.screenshot({ path: path.join(SCREENSHOTS, '07-sync-now.png') });
    const users = await app.store.users.list({ limit: 1, offset: 0, source: 'directory' });
    assert.ok(users.total >= organisation.users.length - 5, `synced ${users.total} users`);
  });

  it('finds a synced user by search and shows directory fields read-only', async () => {
    const user = aUser();
    await nav('Users', /\/users/);
    await byTestId('users-table').waitFor();
    await shot('08-users');
    await byTestId('user-search').fill(user.uid);
    await page.waitForURL(new RegExp(`search=${user.uid}`));
    const exactName = page.locator('a', { hasText: new RegExp(`^${user.uid}$`) });
    const row = byTestId('users-table').locator('tbody tr', { has: exactName });
    const link = row.locator('a').first();
    await link.waitFor();
    assert.ok((await byTestId('users-table').locator('tbody tr').count()) <= 5, 'the search narrowed the list');
    assert.match((await row.textContent()) ?? '', /Directory/);
    assert.match((await row.textContent()) ?? '', /Active/);
    await link.click();
    await page.waitForURL(/\/users\/[^/?]+$/);
    await byTestId('user-profile').waitFor();
    const username = page.locator('#user-username');
    assert.equal(await username.inputValue(), user.uid);
    assert.equal(await username.getAttribute('readonly'), '');
    assert.equal(await page.locator('#user-email').getAttribute('readonly'), '');
    assert.equal(await page.locator('#user-notes').getAttribute('readonly'), null);
    assert.equal(await username.isEditable(), false);
    assert.equal(await page.locator('#user-notes').isEditable(), true);
    await page.locator('#user-notes').fill('checked by the console test');
    await byTestId('save-user').click();
    await page.locator('.alert-success', { hasText: 'The profile was saved' }).waitFor();
    const stored = await app.store.users.list({ limit: 5, offset: 0, search: user.uid });
    assert.equal(stored.users.find((candidate) => candidate.username === user.uid)?.notes, 'checked by the console test');
    await shot('09-user');
    // Disable (an administrator's disable, which sync never undoes), then enable again.
    await page.locator('[data-testid="user-account"] input[aria-label="Reason"]').fill('left the company');
    await byTestId('disable-user').click();
    await byTestId('user-account').locator('.badge', { hasText: 'Disabled by admin' }).waitFor();
    const disabled = (await app.store.users.list({ limit: 5, offset: 0, search: user.uid })).users.find((candidate) => candidate.username === user.uid);
    assert.deepEqual(
      { isEnabled: disabled?.isEnabled, disabledBy: disabled?.disabledBy, disabledReason: disabled?.disabledReason },
      { isEnabled: false, disabledBy: 'admin', disabledReason: 'left the company' },
    );
    await shot('09b-user-disabled');
    await byTestId('enable-user').click();
    await byTestId('user-account').locator('.badge', { hasText: 'Active' }).waitFor();
    await byTestId('revoke-sessions').click();
    await page.locator('.alert-success', { hasText: 'Every session of this user was revoked' }).waitFor();
  });

  it('filters the users list by state', async () => {
    const user = aUser();
    const stored = await app.store.users.findByUsername(user.uid);
    assert.ok(stored?.isEnabled);
    await app.accounts.disable(stored.id, 'admin:console-test', 'state filter test');
    try {
      const count = async (state: 'active' | 'disabled') =>
        new Intl.NumberFormat('en-US').format((await app.store.users.list({ state, limit: 1, offset: 0 })).total);
      await page.goto(`${base}/users`);
      const table = byTestId('users-table');
      await table.waitFor();
      const stateCells = table.locator('tbody tr td:nth-child(5)');

      await byTestId('user-state').selectOption('disabled');
      await page.waitForURL(/\/users\?state=disabled$/);
      await byTestId('pager')
        .locator('.muted', { hasText: new RegExp(` of ${await count('disabled')}$`) })
        .waitFor();
      const disabledStates = await stateCells.allTextContents();
      assert.ok(disabledStates.length > 0 && disabledStates.every((text) => /^Disabled/.test(text)), disabledStates.join(' | '));
      await shot('08b-users-disabled');

      // With a search: the one disabled user; the same search among active users finds nobody.
      await byTestId('user-search').fill(user.uid);
      await page.waitForURL(new RegExp(`state=disabled.*search=${user.uid}|search=${user.uid}.*state=disabled`));
      const row = table.locator('tbody tr', { has: page.locator('a', { hasText: new RegExp(`^${user.uid}$`) }) });
      await row.waitFor();
      assert.match((await row.textContent()) ?? '', /Disabled by admin/);
      await byTestId('user-state').selectOption('active');
      await page.waitForURL(/state=active/);
      await page.locator('.card .empty', { hasText: 'No users match.' }).waitFor();

      // All states again: the filter leaves the URL, and the user is listed.
      await byTestId('user-state').selectOption('');
      await page.waitForURL((url) => !url.search.includes('state='));
      await row.waitFor();
      await byTestId('user-search').fill('');
      await page.waitForURL(/\/users$/);
      await byTestId('user-state').selectOption('active');
      await page.waitForURL(/\/users\?state=active$/);
      await byTestId('pager')
        .locator('.muted', { hasText: new RegExp(` of ${await count('active')}$`) })
        .waitFor();
      assert.ok((await stateCells.allTextContents()).every((text) => text === 'Active'));
    } finally {
      await app.accounts.enable(stored.id, 'admin:console-test', 'state filter test done');
    }
  });

  it("shows that a user is throttled for strangers, and clears dirbridge's throttle with the button", async () => {
    const target = organisation.users
      .filter((candidate) => !candidate.locked && /^[a-z0-9._-]+$/.test(candidate.uid) && !candidate.groups.includes('cycle-a'))
      .at(-1);
    assert.ok(target && target.uid !== aUser().uid);
    const stored = await app.store.users.findByUsername(target.uid);
    assert.ok(stored, 'synced');
    // Strangers' wrong passwords from three addresses: the share of the limit (4 below slapd's 5) strangers get.
    for (let guess = 0; guess < 3; guess += 1)
      await app.login.login({ username: target.uid, password: `guess-${guess}`, clientAddress: `198.51.100.${guess + 1}` }).catch(() => undefined);
    assert.equal((await app.accounts.throttleStatus(stored)).isThrottled, true);
    await page.goto(`${base}/users/${stored.id}`);
    await byTestId('user-throttle').locator('.badge', { hasText: 'Throttled for strangers' }).waitFor();
    assert.match((await byTestId('user-throttle').textContent()) ?? '', /3 failed attempts; strangers are refused at 3/);
    await byTestId('user-account').scrollIntoViewIfNeeded();
    await shot('09d-user-throttled', { fullPage: false });
    await byTestId('unthrottle-user').click();
    await page.locator('.alert-success', { hasText: "Cleared 3 failed login attempts. The directory's own failure counter is unchanged." }).waitFor();
    await byTestId('user-throttle').locator('.badge', { hasText: 'Not throttled' }).waitFor();
    assert.equal((await app.accounts.throttleStatus(stored)).failures, 0);
    const audit = await app.store.audit.list({ limit: 5, offset: 0, userId: stored.id, action: 'login.throttle_cleared' });
    assert.deepEqual(
      audit.entries.map((entry) => entry.actor),
      ['admin:admin'],
    );
  });

  it("shows a user's synced photo in the users list and on the user's page, and initials without one", async () => {
    const [withPhoto, without] = organisation.users.filter(
      (candidate) => !candidate.locked && /^[a-z0-9._-]+$/.test(candidate.uid) && candidate.uid !== aUser().uid,
    );
    assert.ok(withPhoto && without);
    await slapd.ldapmodify(jpegPhotoChange(withPhoto.dn, JPEG_24));
    const synced = await runAvatarSync({
      store: app.store,
      openDirectory: app.openDirectory,
      settings: {
        ...app.settings,
        mapping: { ...app.settings.mapping, avatars: { ...app.settings.mapping.avatars, enabled: true, attributes: ['jpegPhoto'] } },
      },
    });
    assert.equal(synced.updated, 1, JSON.stringify(synced));
    const stored = await app.store.users.findByUsername(withPhoto.uid);
    assert.ok(stored);
    const images: Array<{ url: string; status: number; type: string | undefined }> = [];
    const onResponse = (response: { url: () => string; status: () => number; headers: () => Record<string, string> }) => {
      if (/\/avatar(\?|$)/.test(response.url())) images.push({ url: response.url(), status: response.status(), type: response.headers()['content-type'] });
    };
    page.on('response', onResponse);
    /**
     * Waits until the browser has decoded the image at `selector`; resolves with its natural width.
     * Polled with page.evaluate: waitForFunction re-evaluates a string predicate with eval inside the
     * page, which the console's CSP (no unsafe-eval) refuses.
     */
    const decoded = async (selector: string): Promise<{ jsonValue: () => Promise<number> }> => {
      for (let waited = 0; ; waited += 50) {
        const width = await page.evaluate(`(() => {
          const image = document.querySelector(${JSON.stringify(selector)});
          return image instanceof HTMLImageElement && image.complete && image.naturalWidth > 0 ? image.naturalWidth : 0;
        })()`);
        if (typeof width === 'number' && width > 0) return { jsonValue: async () => width };
        assert.ok(waited < 30_000, `the image at ${selector} was decoded`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    try {
      // The list: a small avatar on the user's row (its hash came with the page), initials for someone without a photo.
      await page.goto(`${base}/users?search=${withPhoto.uid}`);
      const row = byTestId('users-table').locator('tbody tr', { has: page.locator('a', { hasText: new RegExp(`^${withPhoto.uid}$`) }) });
      await row.locator('img.avatar[data-avatar="image"]').waitFor();
      await decoded('[data-testid="users-table"] tbody tr img.avatar');
      await page.goto(`${base}/users?search=${without.uid}`);
      const otherRow = byTestId('users-table').locator('tbody tr', { has: page.locator('a', { hasText: new RegExp(`^${without.uid}$`) }) });
      await otherRow.locator('.avatar[data-avatar="none"]').waitFor();
      assert.equal(await otherRow.locator('img').count(), 0, 'no image request for a user without an avatar');

      // The user's page: the photo, decoded by the browser at its real size, and what it is.
      await page.goto(`${base}/users/${stored.id}`);
      await byTestId('user-profile').waitFor();
      const avatar = byTestId('user-avatar');
      assert.equal(await avatar.evaluate((element) => element.tagName), 'IMG');
      assert.equal(await (await decoded('[data-testid="user-avatar"]')).jsonValue(), 24, 'the 24×24 JPEG rendered');
      assert.match((await avatar.getAttribute('src')) ?? '', new RegExp(`^/api/v1/admin/users/${stored.id}/avatar\\?v=[0-9a-f]{64}$`));
      assert.match((await byTestId('user-avatar-details').textContent()) ?? '', /JPEG, [\d,]+ bytes/);
      await byTestId('user-profile').scrollIntoViewIfNeeded();
      await shot('09c-user-avatar', { fullPage: false });
      assert.ok(images.length >= 2, JSON.stringify(images));
      assert.ok(
        images.every((image) => (image.status === 200 && image.type === 'image/jpeg') || image.status === 304),
        JSON.stringify(images),
      );

      const withoutStored = await app.store.users.findByUsername(without.uid);
      assert.ok(withoutStored);
      await page.goto(`${base}/users/${withoutStored.id}`);
      await byTestId('user-profile').waitFor();
      assert.equal(await byTestId('user-avatar').getAttribute('data-avatar'), 'none');
    } finally {
      page.off('response', onResponse);
    }
  });

  it("shows the sync history with its chart and a run's plan summary", async () => {
    await nav('Sync history', /\/history$/);
    const chart = byTestId('runs-chart');
    await chart.waitFor();
    assert.ok((await chart.locator('rect.chart-bar').count()) >= 2, 'a bar per run (dry run and sync)');
    assert.ok((await byTestId('runs-table').locator('tbody tr').count()) >= 2);
    await shot('10-history');
    await byTestId('runs-table').locator('tbody tr').first().locator('a').click();
    await page.waitForURL(/\/history\/[^/]+$/);
    await byTestId('run-details').waitFor();
    await page.locator('[data-testid="plan-table"] tbody tr').first().waitFor();
    await shot('11-run', { fullPage: false });
  });

  it('shows groups with members, roles, channels, teams, jobs, the audit log and the logs', async () => {
    await nav('Groups', /\/groups$/);
    await byTestId('groups-table').waitFor();
    await shot('12-groups');
    await byTestId('groups-table').locator('tbody tr a').first().click();
    await page.waitForURL(/\/groups\/[^/]+$/);
    await byTestId('members').locator('[data-testid="users-table"], .empty').first().waitFor();
    await shot('13-group');
    await nav('Roles', /\/roles$/);
    await byTestId('roles-table').locator('td', { hasText: 'support' }).waitFor();
    await shot('14-roles');
    await byTestId('roles-table').locator('a', { hasText: 'support' }).click();
    await page.waitForURL(/\/roles\/support$/);
    await page.locator('h1', { hasText: 'Role support' }).waitFor();
    await byTestId('members').locator('[data-testid="users-table"] tbody tr').first().waitFor();
    await shot('14b-role-members');
    await nav('Channels', /\/channels$/);
    await byTestId('channels-table').locator('a', { hasText: '#dev' }).click();
    // The link carries the name; the page asks GET /api/v1/admin/channels/dev for the rest.
    await page.waitForURL(/\/channels\/dev$/);
    await page.locator('h1', { hasText: '#dev' }).waitFor();
    const dev = await app.store.mapping.findChannelByName('dev');
    assert.ok(dev);
    const channelDetails = byTestId('named-details');
    await channelDetails.filter({ hasText: `Members${new Intl.NumberFormat('en-US').format(dev.memberCount)}` }).waitFor();
    assert.match((await channelDetails.textContent()) ?? '', /Owneradmin/);
    await byTestId('members').locator('[data-testid="users-table"] tbody tr').first().waitFor();
    assert.ok((await byTestId('members').locator('[data-testid="users-table"] tbody tr').count()) > 0, 'the channel has members');
    await shot('15-channel');
    await nav('Teams', /\/teams$/);
    await byTestId('teams-table').locator('a', { hasText: 'Team Two' }).waitFor();
    await shot('16-teams');
    await byTestId('teams-table').locator('a', { hasText: 'Team Two' }).click();
    await page.waitForURL(/\/teams\/Team%20Two$/);
    await page.locator('h1', { hasText: 'Team Two' }).waitFor();
    await byTestId('members').locator('[data-testid="users-table"] tbody tr').first().waitFor();
    await shot('16b-team');
    // A reload (or a shared link) finds the team by name alone; an unknown name says so.
    await page.reload();
    await byTestId('named-details').waitFor();
    await page.goto(`${base}/teams/${encodeURIComponent('No Such Team')}`);
    await page.locator('.alert-error', { hasText: 'no team named No Such Team (teams.not_found)' }).waitFor();
    // A user's page links to its channels and teams.
    const member = (await app.store.mapping.listChannelMembers(dev.id, { limit: 1, offset: 0 })).users[0];
    assert.ok(member);
    await page.goto(`${base}/users/${member.id}`);
    await page.locator('a', { hasText: /^#dev$/ }).click();
    await page.waitForURL(/\/channels\/dev$/);
    await byTestId('named-details').waitFor();
    await nav('Audit log', /\/audit$/);
    await byTestId('audit-table').waitFor();
    assert.match((await byTestId('audit-table').textContent()) ?? '', /admin:admin/);
    await shot('17-audit', { fullPage: false });
    await nav('Jobs', /\/jobs$/);
    await page.locator('[data-testid="jobs-table"], .card .empty, .alert-error').first().waitFor();
    await shot('18-jobs');
    assert.equal(await byTestId('jobs-table').count(), 1, 'the jobs table (GET /api/v1/admin/jobs)');
    await nav('Logs', /\/logs$/);
    await page.locator('[data-testid="logs-table"], .card .empty, .alert-error').first().waitFor();
    await shot('19-logs', { fullPage: false });
    assert.equal(await page.locator('.alert-error').count(), 0, 'the logs page loaded (GET /api/v1/admin/logs)');
  });

  it('keeps the session across a reload, and signs out', async () => {
    await page.goto(`${base}/users`);
    await byTestId('users-table').waitFor();
    await byTestId('sign-out').click();
    await byTestId('signin-form').waitFor();
    const session = await page.evaluate(async () => (await fetch('/api/v1/admin/session')).status);
    assert.equal(session, 401);
  });

  it('signs in a directory user of the admin group', async () => {
    const group = organisation.groups.find((candidate) => candidate.cn === 'cycle-a');
    const member = organisation.users.find((candidate) => !candidate.locked && group?.members.includes(candidate.dn));
    assert.ok(member, 'an unlocked member of the admin group');
    await page.fill('input[name="username"]', member.uid);
    await page.fill('input[name="password"]', member.password);
    await page.click('button[type="submit"]');
    await byTestId('whoami').filter({ hasText: 'directory administrator' }).waitFor();
    await page.waitForURL(/\/settings$/);
    await byTestId('sign-out').click();
    await byTestId('signin-form').waitFor();
    // A directory user outside the admin group is refused.
    const outsider = organisation.users.find((candidate) => !candidate.locked && !group?.members.includes(candidate.dn) && candidate.uid !== member.uid);
    assert.ok(outsider);
    await page.fill('input[name="username"]', outsider.uid);
    await page.fill('input[name="password"]', outsider.password);
    await page.click('button[type="submit"]');
    await page.locator('.signin-card [role="alert"]', { hasText: 'not an administrator' }).waitFor();
  });

  it('reported no script errors, CSP violations, server errors or missing files', () => {
    assert.deepEqual(pageProblems, []);
  });
});
