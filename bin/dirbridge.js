#!/usr/bin/env node
// Runs dist/dirbridge.js (built by `npm run build:cli`, and by `npm ci`) while it is newer than
// every file under src/; otherwise runs the TypeScript sources through tsx, so an edited checkout
// never runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/dirbridge.js', import.meta.url));
const sources = fileURLToPath(new URL('../src/', import.meta.url));

/** The newest modification time of the .ts files under `dir`. */
function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = `${dir}/${entry.name}`;
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(file));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(file).mtimeMs);
  }
  return newest;
}

process.setSourceMapsEnabled(true);
if (existsSync(bundle) && statSync(bundle).mtimeMs >= newestSource(sources)) {
  await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
