/**
 * The folder dirbridge is installed in (the one holding its package.json), found from a module's
 * own URL. Files shipped beside the code (the built console) are found from it, so the same
 * lookup works from the TypeScript sources and from the bundled `dist/dirbridge.js`.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest folder above `moduleUrl` whose package.json names dirbridge. */
export function packageRoot(moduleUrl: string): string {
  let dir = path.dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown };
      if (name === 'dirbridge') return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no dirbridge package.json above ${fileURLToPath(moduleUrl)}`);
    dir = parent;
  }
}
