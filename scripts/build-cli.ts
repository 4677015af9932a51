/**
 * Bundles the command line into dist/dirbridge.js: dirbridge's own modules in one file, its npm
 * dependencies left as imports. `bin/dirbridge.js` runs it while it is newer than every source
 * file, so a command starts without transpiling the TypeScript first (2 s of every `--help`).
 * Run with `npm run build:cli` (and by `npm ci` through `prepare`).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where the bundle is written. */
export const CLI_BUNDLE = path.join(ROOT, 'dist', 'dirbridge.js');

/** Builds the bundle; returns its path. */
export async function buildCli(): Promise<string> {
  await build({
    entryPoints: [path.join(ROOT, 'src', 'main.ts')],
    outfile: CLI_BUNDLE,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  return CLI_BUNDLE;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(`build:cli: ${path.relative(process.cwd(), await buildCli())}`);
}
