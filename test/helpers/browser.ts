/**
 * Chromium for browser tests: Debian's `chromium` package driven by playwright-core, which never
 * downloads a browser. Without Chromium a test fails loudly in CI (CI=true) and is skipped locally
 * with the command that installs it.
 */
import { accessSync, constants } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Where Debian puts Chromium (the wrapper script first, then the binary behind it). */
const CANDIDATES = ['/usr/bin/chromium', '/usr/lib/chromium/chromium'];

/** The Chromium executable: `DIRBRIDGE_CHROMIUM` if set, else Debian's; undefined when none is installed. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = env['DIRBRIDGE_CHROMIUM'] === undefined || env['DIRBRIDGE_CHROMIUM'] === '' ? CANDIDATES : [env['DIRBRIDGE_CHROMIUM']];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/** True when running in CI, where a missing browser is a failure rather than a skip. */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return env['CI'] !== undefined && env['CI'] !== '' && env['CI'] !== 'false' && env['CI'] !== '0';
}

const MISSING = 'Chromium is not installed: run `apt-get install -y chromium` (or `bash scripts/install-deps.sh` as root)';

/**
 * The Chromium executable for a browser suite, or the reason to skip it (locally). In CI a missing
 * Chromium throws, so the test file fails instead of passing without a browser.
 */
export function chromiumForTests(env: NodeJS.ProcessEnv = process.env): { executablePath: string | undefined; skip: string | false } {
  const executablePath = findChromium(env);
  if (executablePath !== undefined) return { executablePath, skip: false };
  if (isCi(env)) throw new Error(`${MISSING}; browser tests never skip in CI`);
  return { executablePath: undefined, skip: `${MISSING}; skipped locally` };
}

/** Launches headless Chromium with flags for containers and no outside traffic. */
export async function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-default-apps',
      '--disable-sync',
      '--no-first-run',
      '--metrics-recording-only',
      '--mute-audio',
    ],
    timeout: 30_000,
  });
}

/** A console page with its browser, recording what would show a broken page. */
export interface ConsolePage {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Page errors, console errors, 5xx answers and 404s outside the API, as lines. */
  problems: string[];
}

/** Opens one page in a new headless Chromium, sized as an administrator's screen, watching for problems. */
export async function openConsolePage(executablePath: string, options: { stepTimeoutMs: number }): Promise<ConsolePage> {
  const browser = await launchChromium(executablePath);
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, reducedMotion: 'reduce' });
  const page = await context.newPage();
  const problems: string[] = [];
  page.setDefaultTimeout(options.stepTimeoutMs);
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('response', (response) => {
    const status = response.status();
    if (status >= 500 || (status === 404 && !new URL(response.url()).pathname.startsWith('/api/')))
      problems.push(`${status} ${response.request().method()} ${response.url()}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
  });
  return { browser, context, page, problems };
}
