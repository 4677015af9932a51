/**
 * The bundled command line (dist/dirbridge.js, built by `npm ci` through `prepare`): it runs on
 * its own, and bin/dirbridge.js takes it only while no source file is newer.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI_BUNDLE } from '../scripts/build-cli.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');

describe('the bundled CLI', () => {
  it('runs a command from dist/dirbridge.js', async () => {
    const { stdout } = await run(process.execPath, [CLI_BUNDLE, '--help'], { cwd: ROOT });
    assert.match(stdout, /Usage: dirbridge/);
  });

  it('is run by bin/dirbridge.js only while no source file is newer', async () => {
    // A copy of bin/ beside a bundle and sources that each say they ran, so the real bundle
    // (which other test files may be running) is never touched.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dirbridge-bin-'));
    try {
      for (const folder of ['bin', 'dist', 'src']) mkdirSync(path.join(dir, folder));
      copyFileSync(path.join(ROOT, 'bin', 'dirbridge.js'), path.join(dir, 'bin', 'dirbridge.js'));
      symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
      copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the string is TypeScript source with a template literal
      writeFileSync(path.join(dir, 'src', 'main.ts'), "const from: string = 'sources';\nconsole.log(`the ${from} ran`);\n");
      writeFileSync(path.join(dir, 'dist', 'dirbridge.js'), "console.log('the bundle ran');\n");
      const bin = path.join(dir, 'bin', 'dirbridge.js');
      assert.equal((await run(process.execPath, [bin])).stdout, 'the bundle ran\n');
      const past = new Date(Date.now() - 365 * 24 * 3_600_000);
      utimesSync(path.join(dir, 'dist', 'dirbridge.js'), past, past);
      assert.equal((await run(process.execPath, [bin])).stdout, 'the sources ran\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
