// The architecture as the folders show it: dependencies go one way. A module never imports, directly or
// through others, a module that imports it, and the parts below never reach up to the parts above them.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../src', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : []);
}

/** Every module's relative imports (type-only ones too: they bind the parts as much), as paths under src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(src)) {
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(/(?:from|import)\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((match) => match[1]!);
    const targets = specifiers.map((spec) => relative(src, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
    graph.set(relative(src, file), [...new Set(targets)]);
  }
  return graph;
}

/** A cycle of imports, as the list of modules around it, or undefined when there is none. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (module: string): string[] | undefined => {
    if (state.get(module) === 'done') return undefined;
    if (state.get(module) === 'open') return [...path.slice(path.indexOf(module)), module];
    state.set(module, 'open');
    path.push(module);
    for (const target of graph.get(module) ?? []) {
      const cycle = visit(target);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(module, 'done');
    return undefined;
  };
  for (const module of graph.keys()) {
    const cycle = visit(module);
    if (cycle) return cycle;
  }
  return undefined;
}

/** The parts, lowest first: a part may import its own modules and those of the parts listed before it. */
const LAYERS = [['vm'], ['wire', 'log'], ['sampler'], ['collector', 'client', 'metrics'], ['daemon', 'exporter', 'influx', 'top'], ['commands'], ['cli.ts']];

function layerOf(module: string): number {
  const part = module.split('/')[0]!;
  const layer = LAYERS.findIndex((parts) => parts.includes(part));
  if (layer < 0) throw new Error(`${module} belongs to no part: every module lives in a folder named after its part`);
  return layer;
}

describe('the source tree', () => {
  const graph = importGraph();

  it('has no cycle of imports', () => {
    expect(findCycle(graph)).toBeUndefined();
  });

  it('has every module in a part\'s folder, cli.ts the one entry at the root', () => {
    const atRoot = [...graph.keys()].filter((module) => !module.includes('/'));
    expect(atRoot).toEqual(['cli.ts']);
    for (const module of graph.keys()) layerOf(module);
  });

  it('has each part import only its own modules and the parts below it', () => {
    const upward = [...graph].flatMap(([module, targets]) =>
      targets.filter((target) => layerOf(target) > layerOf(module) ||
        (layerOf(target) === layerOf(module) && target.split('/')[0] !== module.split('/')[0])).map((target) => `${module} -> ${target}`));
    expect(upward).toEqual([]);
  });

  it('finds a cycle when there is one', () => {
    expect(findCycle(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']]]))).toEqual(['a.ts', 'b.ts', 'c.ts', 'a.ts']);
  });
});
