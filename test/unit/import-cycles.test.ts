// No runtime import cycle in the sources: the import graph of every bundle scripts/build.mjs builds
// (its entry points and externals, from scripts/entryPoints.mjs) is read from esbuild's metafile, and the
// repository's own files in it must form no cycle. esbuild erases type-only imports, so the graph holds
// exactly the imports that run: a type-only cycle (protocol/options.ts <-> protocol/trainer.ts for types)
// is fine, a runtime one fails with the cycle printed. A small fixture on disk proves the check fails.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as esbuild from 'esbuild';
import { NODE_EXTERNALS, nodeEntryPoints, webviewEntryPoints } from '../../scripts/entryPoints.mjs';

const root = path.join(__dirname, '../..');

/** The runtime import graph of the files under `dir` (not node_modules), from a metafile: file -> the files it imports. */
function importGraph(metafile: esbuild.Metafile, dir: string): Map<string, string[]> {
  const own = (p: string) => !p.split('/').includes('node_modules') && path.resolve(dir, p).startsWith(dir + path.sep);
  const graph = new Map<string, string[]>();
  for (const [file, input] of Object.entries(metafile.inputs)) {
    if (!own(file)) continue;
    // require.resolve only looks a path up; every other kind loads the module (import, require, import()).
    const loads = input.imports.filter((i) => !i.external && i.kind !== 'require-resolve' && own(i.path)).map((i) => i.path);
    graph.set(file, [...new Set(loads)]);
  }
  return graph;
}

/** Every cycle's files, one cycle per strongly connected component (Tarjan), each as a path back to its start. */
function findCycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.includes(v)) components.push(component);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  // One concrete cycle per component: a shortest path (breadth-first) from its first file back to itself.
  return components.map((component) => {
    const inside = new Set(component);
    const start = component.sort()[0];
    const previous = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0) {
      const v = queue.shift()!;
      for (const w of graph.get(v) ?? []) {
        if (!inside.has(w) || previous.has(w)) continue;
        previous.set(w, v);
        if (w === start) {
          const between: string[] = [];
          for (let x = v; x !== start; x = previous.get(x)!) between.unshift(x);
          return [start, ...between, start];
        }
        queue.push(w);
      }
    }
    return [...component, component[0]];
  });
}

const describe = (cycles: string[][]) => cycles.map((c) => c.join(' -> ')).join('\n');

async function bundleGraph(options: esbuild.BuildOptions, dir: string): Promise<Map<string, string[]>> {
  const result = await esbuild.build({
    bundle: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: dir,
    outdir: path.join(os.tmpdir(), 'ft-import-cycles'),
    ...options,
  });
  return importGraph(result.metafile!, dir);
}

test('a runtime import cycle in a fixture is found and printed; a type-only one is not a cycle', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-cycles-'));
  try {
    const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);
    write('main.ts', "import { a } from './a';\nimport { d } from './d';\nconsole.log(a(), d());\n");
    // a -> b -> a at run time.
    write('a.ts', "import { b } from './b';\nexport const a = () => b() + 1;\nexport const one = 1;\n");
    write('b.ts', "import { one } from './a';\nexport const b = () => one;\n");
    // d -> c at run time, c -> d for a type only: erased, no cycle.
    write('c.ts', "import type { D } from './d';\nexport interface C { n: number }\nexport const c = (d?: D) => d?.n ?? 0;\n");
    write('d.ts', "import type { C } from './c';\nimport { c } from './c';\nexport interface D { n: number; c?: C }\nexport const d = () => c();\n");
    const cycles = findCycles(await bundleGraph({ entryPoints: ['main.ts'], platform: 'node', format: 'cjs' }, fs.realpathSync(dir)));
    assert.equal(describe(cycles), 'a.ts -> b.ts -> a.ts');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the sources of every bundle have no runtime import cycle (type-only imports aside)', async () => {
  const node = nodeEntryPoints(root);
  const webviews = webviewEntryPoints(root);
  assert.ok(
    ['extension', 'cli', 'trainer', 'statistics.worker'].every((name) => name in node),
    `entry points: ${Object.keys(node).join(', ')}`,
  );
  assert.ok(Object.keys(webviews).length >= 3, `webviews: ${Object.keys(webviews).join(', ')}`);
  const graphs = await Promise.all([
    bundleGraph({ entryPoints: node, platform: 'node', format: 'cjs', target: 'node20', external: NODE_EXTERNALS }, root),
    bundleGraph({ entryPoints: webviews, platform: 'browser', format: 'iife', target: 'chrome120', loader: { '.css': 'text' } }, root),
  ]);
  const graph = new Map<string, string[]>();
  for (const g of graphs) for (const [file, imports] of g) graph.set(file, [...new Set([...(graph.get(file) ?? []), ...imports])]);
  assert.ok(graph.has('trainer/strategies/index.ts') && graph.has('extension/extension.ts'), 'the graph holds the sources');
  const cycles = findCycles(graph);
  assert.equal(cycles.length, 0, `runtime import cycles:\n${describe(cycles)}`);
});
