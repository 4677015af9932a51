/**
 * Builds the admin console into web/dist: one bundled script (TypeScript + Preact, no CDN),
 * its stylesheet and index.html. Run with `npm run build:web` (and by `npm ci` through `prepare`);
 * tests call `buildConsole()` directly.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const WEB_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Where the console is built by default (served by `src/http/routes/console.ts`). */
export const DEFAULT_OUT_DIR = path.join(WEB_DIR, 'dist');

/** Builds the console; returns the output directory. */
export async function buildConsole(options: { outDir?: string; minify?: boolean } = {}): Promise<string> {
  const outDir = options.outDir ?? DEFAULT_OUT_DIR;
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [path.join(WEB_DIR, 'src', 'main.tsx')],
    outfile: path.join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: options.minify ?? true,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  await copyFile(path.join(WEB_DIR, 'index.html'), path.join(outDir, 'index.html'));
  await copyFile(path.join(WEB_DIR, 'styles.css'), path.join(outDir, 'app.css'));
  return outDir;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = await buildConsole({ minify: !process.argv.includes('--dev') });
  console.log(`build:web: console built in ${path.relative(process.cwd(), outDir) || outDir}`);
}
