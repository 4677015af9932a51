import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { packageRoot } from './package-root.ts';

describe('packageRoot', () => {
  it('finds the checkout from a module deep under src/ and from the bundle folder', () => {
    const root = packageRoot(import.meta.url);
    assert.ok(existsSync(path.join(root, 'package.json')));
    assert.equal(packageRoot(pathToFileURL(path.join(root, 'src', 'http', 'routes', 'console.ts')).href), root);
    assert.equal(packageRoot(pathToFileURL(path.join(root, 'dist', 'dirbridge.js')).href), root);
  });

  it('says so when no dirbridge package lies above', () => {
    assert.throws(() => packageRoot(pathToFileURL('/tmp/elsewhere/x.js').href), /no dirbridge package.json above/);
  });
});
