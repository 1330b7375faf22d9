// The layout is the architecture: proto/ is the contract both halves share,
// collector/ is the server half and never reaches into the sensor, sensor/
// may embed a collector. A plain scan of the import statements keeps that
// shape, and finds any import cycle between modules.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');
const IMPORT = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (/\.(m?ts|js)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Relative imports of a file, as repository paths of the .ts they name. */
function importsOf(file: string): string[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith('.')) continue;
    out.push(normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts'));
  }
  return out;
}

const top = (path: string) => path.split('/')[0];

function crossings(dir: string, forbidden: string[]): string[] {
  return sources(dir).flatMap((file) =>
    importsOf(file).filter((t) => forbidden.includes(top(t))).map((t) => `${file} -> ${t}`));
}

describe('import lines', () => {
  it('proto/ imports from neither the sensor nor the collector', () => {
    expect(crossings('proto', ['sensor', 'collector'])).toEqual([]);
  });

  it('collector/ never imports from sensor/', () => {
    expect(crossings('collector', ['sensor'])).toEqual([]);
  });

  it('sensor/transport/ is the client half only: it does not import the collector', () => {
    expect(crossings('sensor/transport', ['collector'])).toEqual([]);
  });

  it('the scan sees real imports (a file that crosses is found)', () => {
    // Guards the scan itself: the CLI embeds a collector, so sensor/cli must cross.
    expect(crossings('sensor/cli', ['collector']).length).toBeGreaterThan(0);
  });

  it('no module imports itself back through a cycle', () => {
    const files = [...sources('proto'), ...sources('sensor'), ...sources('collector')];
    const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const t of graph.get(f) ?? []) {
        if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].map((p) => relative('.', p)).join(' -> '));
        else if (!state.has(t)) visit(t);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });
});
