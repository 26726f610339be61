import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/**
 * src/core must not grow new import cycles. Every elementary cycle among its files is found
 * (type-only imports count: they still tie the files' designs together) and each must be on
 * KNOWN_CYCLES, the cycles the architecture work is to remove. Removing one needs no change here
 * (the stale entry is reported); adding one fails this test.
 */
const CORE = resolve(__dirname, '../../src/core');

/** Cycles tolerated in src/core: none (the architecture work removed the last ones). Do not add to it. */
const KNOWN_CYCLES: string[] = [];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative imports, exports-from, import() and require() of each file, as paths under src/core. */
export function importGraph(root: string): Map<string, string[]> {
  const name = (file: string): string => relative(root, file).split(sep).join('/');
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(root)) {
    // preProcessFile sees `import type` and `export ... from` too, unlike the emitted JavaScript.
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = new Set<string>();
    for (const { fileName: spec } of importedFiles) {
      if (!spec.startsWith('.')) continue;
      const base = resolve(dirname(file), spec);
      const target = [`${base}.ts`, join(base, 'index.ts')].find((c) => existsSync(c));
      if (target === undefined) throw new Error(`${name(file)}: cannot resolve ${spec}`);
      if (target.startsWith(root + sep)) targets.add(name(target));
    }
    graph.set(name(file), [...targets].sort());
  }
  return graph;
}

/**
 * Every elementary cycle, once, written from its alphabetically first file: for each start file,
 * the simple paths back to it through later files only. The graph is a few dozen files.
 */
export function elementaryCycles(graph: Map<string, string[]>): string[] {
  const order = [...graph.keys()].sort();
  const rank = new Map(order.map((f, i) => [f, i]));
  const cycles: string[] = [];
  for (const start of order) {
    const path = [start];
    const onPath = new Set(path);
    const walk = (from: string): void => {
      for (const next of graph.get(from) ?? []) {
        if (next === start) cycles.push([...path, start].join(' -> '));
        else if (rank.get(next)! > rank.get(start)! && !onPath.has(next)) {
          path.push(next);
          onPath.add(next);
          walk(next);
          onPath.delete(next);
          path.pop();
        }
      }
    };
    walk(start);
  }
  return cycles;
}

describe('src/core import cycles', () => {
  it('the walker finds type-only imports and every cycle of a small graph', () => {
    expect(importGraph(CORE).get('connection/connection.ts')).toContain('sessions/session.ts'); // `import type`
    const g = new Map([
      ['a', ['b']],
      ['b', ['a', 'c']],
      ['c', ['a']],
      ['d', ['d']],
    ]);
    expect(elementaryCycles(g)).toEqual(['a -> b -> a', 'a -> b -> c -> a', 'd -> d']);
  });

  it('has no cycle beyond the known ones', () => {
    const found = elementaryCycles(importGraph(CORE));
    const gone = KNOWN_CYCLES.filter((c) => !found.includes(c));
    if (gone.length > 0) console.log(`import cycles no longer present (remove them from KNOWN_CYCLES):\n${gone.join('\n')}`);
    expect(found.filter((c) => !KNOWN_CYCLES.includes(c))).toEqual([]);
  });
});
