import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { folderCycles, importEdges, LAYERS, layeringViolations, secondTarReaders, storePathLeaks } from './import-rules.js';

const SRC = path.resolve(import.meta.dirname, '../../src');

describe('the layering of src/ (docs/ARCHITECTURE.md)', () => {
  const edges = importEdges(SRC);

  it('reads the imports of every folder', () => {
    const folders = new Set(edges.map((e) => e.from.split(path.sep)[0]));
    for (const l of LAYERS) if (l !== 'util') expect(folders, `no import seen from ${l}/`).toContain(l);
  });

  it('no folder imports a folder above it, and every folder is in the layer list', () => {
    expect(layeringViolations(edges)).toEqual([]);
  });

  it('no two folders import each other', () => {
    expect(folderCycles(edges)).toEqual([]);
  });

  it('no file outside store/ builds a store path', () => {
    expect(storePathLeaks(SRC, edges)).toEqual([]);
  });

  it('one tar engine: nothing parses tar with tar-stream (archive/ reads every tar)', () => {
    expect(secondTarReaders(SRC)).toEqual([]);
  });
});

describe('the checker itself', () => {
  it('flags an upward import, a cycle, an unknown folder and a store path outside store/', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'layers-'));
    try {
      const write = (rel: string, text: string): void => {
        fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
        fs.writeFileSync(path.join(root, rel), text);
      };
      write('store/blobs.ts', "import { x } from '../ingest/plan.js';\nexport const y = x;\n");
      write('ingest/plan.ts', "import type { y } from '../store/blobs.js';\nexport const x = 1;\nconst p = ['.layerstore/x', store.layout];\n");
      write('extra/thing.ts', "export * from '../util/u.js';\n");
      write('util/u.ts', "import { layout } from '../store/layout.js';\nexport const u = layout;\n");
      write('store/layout.ts', 'export const layout = 1;\n');
      write('analysis/peek.ts', "import tar from 'tar-stream';\nexport const x = tar.extract();\n");
      const e = importEdges(root);
      const v = layeringViolations(e);
      expect(v).toContain(
        `${path.join('store', 'blobs.ts')} imports ${path.join('ingest', 'plan.ts')}: store may not import ingest (ingest is not below store)`,
      );
      expect(v.some((s) => s.includes('extra') && s.includes('not in the layer list'))).toBe(true);
      expect(v.some((s) => s.startsWith(path.join('util', 'u.ts')))).toBe(true);
      expect(folderCycles(e)).toEqual(['ingest <-> store']);
      const leaks = storePathLeaks(root, e);
      expect(leaks).toContain(`${path.join('util', 'u.ts')} imports store/layout.ts`);
      expect(leaks).toContain(`${path.join('ingest', 'plan.ts')} names a store path ('.layerstore)`);
      expect(leaks).toContain(`${path.join('ingest', 'plan.ts')} names a store path (.layout)`);
      expect(leaks.some((s) => s.startsWith('store'))).toBe(false);
      expect(secondTarReaders(root)).toEqual([`${path.join('analysis', 'peek.ts')} parses tar with tar-stream`]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
