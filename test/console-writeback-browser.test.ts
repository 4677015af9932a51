/**
 * The console's write-back in a real browser: Debian's Chromium (playwright-core) against the real
 * server, a real OpenLDAP (bound as the fixture's writer) and the SQLite store. The settings
 * form's Write-back section renders its switch, enum, map and list fields and saves; Test
 * Connection then shows the writer's write access to both DNs; the navigation shows Write-back
 * only once it is on; the Write-back page lists an outbox row and a
 * conflict that the test put in the store, and the open-only filter hides a resolved conflict.
 * Screenshots go to test-output/console-writeback/. Without Chromium: fails in CI, skipped locally.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type App, openApp } from '../src/app.ts';
import { ensureInitialAdmin } from '../src/auth/local-accounts.ts';
import { createHttpServer } from '../src/http/server.ts';
import type { OutboxRecord, WriteBackConflictRecord } from '../src/model/index.ts';
import { PRIMARY_DIRECTORY_ID } from '../src/model/writeback.ts';
import { buildConsole } from '../web/build.ts';
import { generateOrganisation } from './fixtures/sample-directory.ts';
import { type Slapd, startSlapd } from './fixtures/slapd.ts';
import { chromiumForTests, openConsolePage } from './helpers/browser.ts';
import { settingsFor } from './helpers/harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCREENSHOTS = path.join(ROOT, 'test-output', 'console-writeback');
const ADMIN_PASSWORD = 'admin-password-for-writeback-console';
const STEP_TIMEOUT = 15_000;

const chromiumSetup = chromiumForTests();

describe('console write-back in Chromium', { skip: chromiumSetup.skip, timeout: 120_000 }, () => {
  let slapd: Slapd;
  let app: App;
  let server: FastifyInstance;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  let failed: OutboxRecord;
  let pending: OutboxRecord;
  let open: WriteBackConflictRecord;
  let resolved: WriteBackConflictRecord;
  const cleanups: Array<() => Promise<void>> = [];
  /** Script errors and failed requests the page reported. */
  let pageProblems: string[] = [];

  const byTestId = (id: string) => page.locator(`[data-testid="${id}"]`);
  const navLink = (label: string) => page.locator('nav[aria-label="Main"] a', { hasText: label });

  before(async () => {
    const executablePath = chromiumSetup.executablePath;
    assert.ok(executablePath !== undefined);
    await rm(SCREENSHOTS, { recursive: true, force: true });
    await mkdir(SCREENSHOTS, { recursive: true });
    const [, started] = await Promise.all([buildConsole(), startSlapd({ ldif: generateOrganisation({ people: 8, groups: 3, seed: 31 }).ldif })]);
    slapd = started;
    const made = await settingsFor({
      directory: { urls: [slapd.url], bindDn: slapd.writerDn, bindPassword: slapd.writerPassword },
      users: { baseDn: slapd.baseDn },
      groups: { baseDn: `ou=groups,${slapd.baseDn}` },
    });
    cleanups.push(made.cleanup);
    app = await openApp(made.settings);
    await ensureInitialAdmin(app.store, { DIRBRIDGE_ADMIN_PASSWORD: ADMIN_PASSWORD });

    // What the write-back would have left: an action whose first step failed (so its second waits), and two conflicts, one resolved.
    const annaId = randomUUID();
    const annaDn = `uid=anna.writeback,ou=people,${slapd.baseDn}`;
    const rows = await app.store.transaction((tx) =>
      tx.writeBack.enqueue({
        directoryId: PRIMARY_DIRECTORY_ID,
        actor: 'admin:admin',
        steps: [
          {
            stepKind: 'updateUser',
            subject: 'anna.writeback',
            objectKind: 'user',
            objectId: annaId,
            change: { kind: 'modify', dn: annaDn, changes: [{ kind: 'set', attribute: 'mail', from: ['anna@old.example'], to: ['anna@new.example'] }] },
            reason: 'email changed',
          },
          {
            stepKind: 'renameUser',
            subject: 'anna.writeback',
            objectKind: 'user',
            objectId: annaId,
            change: { kind: 'modifyDn', dn: annaDn, newRdn: 'uid=anna.renamed' },
            reason: 'renamed',
          },
        ],
      }),
    );
    [failed, pending] = rows as [OutboxRecord, OutboxRecord];
    await app.store.transaction((tx) =>
      tx.writeBack.markFailed(failed.id, { code: 'directory.insufficient_access', message: 'the bind account may not modify this entry' }),
    );
    [resolved] = (await app.store.transaction((tx) =>
      tx.writeBack.recordConflicts(PRIMARY_DIRECTORY_ID, [
        {
          objectKind: 'user',
          objectId: annaId,
          subject: 'anna.writeback',
          field: 'firstName',
          winner: 'directory',
          directoryValue: ['Anne'],
          dirbridgeValue: ['Anna'],
          baseline: ['Ann'],
        },
      ]),
    )) as [WriteBackConflictRecord];
    await app.store.transaction((tx) => tx.writeBack.resolveConflict(resolved.id, 'keep', 'admin:admin'));
    [open] = (await app.store.transaction((tx) =>
      tx.writeBack.recordConflicts(PRIMARY_DIRECTORY_ID, [
        {
          objectKind: 'user',
          objectId: annaId,
          subject: 'anna.writeback',
          field: 'email',
          winner: 'dirbridge',
          directoryValue: ['anna@directory.example'],
          dirbridgeValue: ['anna@dirbridge.example'],
          baseline: ['anna@old.example'],
        },
      ]),
    )) as [WriteBackConflictRecord];

    server = await createHttpServer(app, { logger: false });
    base = await server.listen({ port: 0, host: '127.0.0.1' });
    ({ browser, context, page, problems: pageProblems } = await openConsolePage(executablePath, { stepTimeoutMs: STEP_TIMEOUT }));
  });

  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await server?.close();
    await app?.close();
    await slapd?.stop();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('signs in; the navigation has no Write-back while it is off', async () => {
    await page.goto(`${base}/`);
    await byTestId('signin-form').waitFor();
    await page.fill('input[name="username"]', 'admin');
    await page.fill('input[name="password"]', ADMIN_PASSWORD);
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/settings$/);
    await navLink('Jobs').waitFor();
    assert.equal(await navLink('Write-back').count(), 0);
  });

  it('renders the Write-back settings section (switch, enums, map, lists) and turns write-back on', async () => {
    const section = byTestId('section-write-back');
    await section.waitFor();
    // Enums are selects offering the schema's values.
    const mode = page.locator('select[name="writeBack.mode"]');
    assert.deepEqual(await mode.locator('option').evaluateAll((options) => options.map((option) => option.getAttribute('value') ?? '')), [
      'readOnly',
      'writable',
      'unsynced',
    ]);
    assert.equal(await mode.inputValue(), 'readOnly');
    assert.deepEqual(
      await page
        .locator('select[name="writeBack.entry.groupMemberAttribute"] option')
        .evaluateAll((options) => options.map((option) => option.getAttribute('value') ?? '')),
      ['', 'member', 'uniqueMember', 'memberUid'],
      'an optional enum can be left unset',
    );
    // A map is a JSON textarea; a list with options is checkboxes (all fields on by default); a free list is a textarea.
    assert.equal((await page.locator('textarea[name="writeBack.authority.fields"]').inputValue()).trim(), '{}');
    const fields = page.locator('input[type="checkbox"][name="writeBack.fields"]');
    assert.equal(await fields.count(), 4);
    assert.equal(await page.locator('input[type="checkbox"][name="writeBack.fields"]:checked').count(), 4);
    assert.equal(await page.locator('textarea[name="writeBack.scopeGroups"]').count(), 1);
    await section.screenshot({ path: path.join(SCREENSHOTS, '01-settings-write-back.png') });

    await byTestId('field-writeBack.enabled').locator('label.switch').click();
    await mode.selectOption('writable');
    await page.fill('input[name="writeBack.usersDn"]', `ou=people,${slapd.baseDn}`);
    await page.fill('input[name="writeBack.groupsDn"]', `ou=groups,${slapd.baseDn}`);
    await page.fill('textarea[name="writeBack.authority.fields"]', '{"email": "dirbridge"}');
    await page.locator('input[type="checkbox"][name="writeBack.fields"][value="displayName"]').uncheck();
    await byTestId('save-settings').click();
    await byTestId('settings-saved').waitFor();
    const saved = app.settings.writeBack;
    assert.equal(saved.enabled, true);
    assert.equal(saved.mode, 'writable');
    assert.equal(saved.usersDn, `ou=people,${slapd.baseDn}`);
    assert.deepEqual(saved.authority.fields, { email: 'dirbridge' });
    assert.deepEqual(saved.fields, ['email', 'firstName', 'lastName']);
    // The navigation follows the save without a reload.
    await navLink('Write-back').waitFor();
  });

  it("shows Test Connection's write access to the write-back's DNs", async () => {
    await page.evaluate('window.scrollTo(0, 0)');
    await byTestId('action-test-connection').click();
    const result = byTestId('test-connection-result');
    await result.waitFor();
    for (const setting of ['writeBack.usersDn', 'writeBack.groupsDn']) {
      const verdict = byTestId(`write-access-${setting}`);
      assert.equal(await verdict.getAttribute('data-writable'), 'true', setting);
      assert.match((await verdict.textContent()) ?? '', /writable/);
    }
    assert.match((await byTestId('write-access-writeBack.usersDn').textContent()) ?? '', new RegExp(`ou=people,${slapd.baseDn}`));
    assert.equal(await result.locator('[data-testid="warnings"]').count(), 0, 'the writer may write: no warning');
    await result.screenshot({ path: path.join(SCREENSHOTS, '01b-test-connection-write-access.png') });
  });

  it('lists the outbox and the open conflicts on the Write-back page', async () => {
    await navLink('Write-back').click();
    await page.waitForURL(/\/writeback$/);
    await byTestId('outbox-table').waitFor();
    assert.equal(await byTestId('writeback-off').count(), 0);

    const rows = byTestId('outbox-row');
    assert.equal(await rows.count(), 2);
    const failedRow = page.locator(`[data-testid="outbox-row"][data-id="${failed.id}"]`);
    assert.equal(await failedRow.getAttribute('data-status'), 'failed');
    const failedText = (await failedRow.textContent()) ?? '';
    for (const expected of [
      'anna.writeback',
      'updateUser',
      `uid=anna.writeback,ou=people,${slapd.baseDn}`,
      'mail: anna@old.example → anna@new.example',
      'failed',
      'the bind account may not modify this entry',
    ]) {
      assert.ok(failedText.includes(expected), `${expected} in ${failedText}`);
    }
    const pendingText = (await page.locator(`[data-testid="outbox-row"][data-id="${pending.id}"]`).textContent()) ?? '';
    assert.ok(pendingText.includes('renameUser') && pendingText.includes('pending') && pendingText.includes('rename to uid=anna.renamed'), pendingText);

    // Open only, by default: the resolved conflict is not listed.
    const conflicts = byTestId('conflict-row');
    await byTestId('conflicts-table').waitFor();
    assert.equal(await conflicts.count(), 1);
    const openRow = page.locator(`[data-testid="conflict-row"][data-id="${open.id}"]`);
    assert.equal(await openRow.locator('[data-testid="conflict-directory-value"]').textContent(), 'anna@directory.example');
    assert.equal(await openRow.locator('[data-testid="conflict-dirbridge-value"]').textContent(), 'anna@dirbridge.example');
    const openText = (await openRow.textContent()) ?? '';
    assert.ok(openText.includes('email') && openText.includes('dirbridge'), openText);
    assert.equal(await openRow.locator('[data-testid="conflict-keep"]').count(), 1, 'an open conflict offers Keep');
    assert.equal(await openRow.locator('[data-testid="conflict-restore"]').count(), 1, 'and Restore');
    await page.screenshot({ path: path.join(SCREENSHOTS, '02-write-back-page.png'), fullPage: true });

    await byTestId('conflicts-open-only').uncheck();
    await page.locator(`[data-testid="conflict-row"][data-id="${resolved.id}"]`).waitFor();
    assert.equal(await conflicts.count(), 2);
    assert.match((await page.locator(`[data-testid="conflict-row"][data-id="${resolved.id}"]`).textContent()) ?? '', /kept/);
  });

  it('resolves the open conflict with Keep', async () => {
    await byTestId('conflicts-open-only').check();
    const openRow = page.locator(`[data-testid="conflict-row"][data-id="${open.id}"]`);
    await openRow.waitFor();
    await openRow.locator('[data-testid="conflict-keep"]').click();
    await byTestId('writeback-message').filter({ hasText: "anna.writeback's email: kept dirbridge's value." }).waitFor();
    await byTestId('writeback-conflicts').getByText('No open conflicts.').waitFor();
    const stored = await app.store.writeBack.getConflict(open.id);
    assert.equal(stored?.resolution, 'keep');
    assert.equal(stored?.resolvedBy, 'admin:admin');
    await page.screenshot({ path: path.join(SCREENSHOTS, '03-conflict-kept.png'), fullPage: true });
  });

  it('retries the failed write', async () => {
    const failedRow = page.locator(`[data-testid="outbox-row"][data-id="${failed.id}"]`);
    await failedRow.locator('[data-testid="retry-row"]').click();
    const message = byTestId('writeback-message').filter({ hasText: '1 failed write(s) put back in the outbox' });
    await message.waitFor();
    assert.equal((await app.store.audit.list({ action: 'writeback.retried', limit: 10, offset: 0 })).entries[0]?.actor, 'admin:admin');
    await page.screenshot({ path: path.join(SCREENSHOTS, '04-retried.png'), fullPage: true });
  });

  it('reported no page errors', () => {
    assert.deepEqual(pageProblems, []);
  });
});
