/**
 * The architecture's boundaries, checked on the sources: the engine never imports `vscode` or the
 * extension; the webview never imports Node or `vscode`; the protocol imports nothing but itself.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { builtinModules } from 'module';
import { ROOT } from '../helpers/reference';

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    return e.isDirectory() ? sources(rel) : e.name.endsWith('.ts') ? [rel] : [];
  });
}

function imports(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

const node = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

describe('layering', () => {
  it('the engine never imports vscode or the extension', () => {
    for (const f of sources('engine')) {
      for (const i of imports(f)) {
        assert.notEqual(i, 'vscode', `${f} imports vscode`);
        assert.ok(!/(^|\/)extension\//.test(i), `${f} imports ${i}`);
      }
    }
  });

  it('the webview never imports Node or vscode', () => {
    for (const f of sources('webview')) {
      for (const i of imports(f)) assert.ok(i !== 'vscode' && !node.has(i) && !/engine\/|extension\//.test(i), `${f} imports ${i}`);
    }
  });

  it('the protocol imports only itself', () => {
    for (const f of sources('protocol')) {
      for (const i of imports(f)) assert.match(i, /^\.\//, `${f} imports ${i}`);
    }
  });
});
