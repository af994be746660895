import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * The layering of src/ (docs/ARCHITECTURE.md draws it): folders from top to bottom. A file may
 * import its own folder, the folders below its own and src/errors.ts; never a folder above.
 * index.ts is the library entry point and may import anything (nothing imports it).
 */
export const LAYERS = [
  'cli',
  'html',
  'registry',
  'budget',
  'report',
  'analysis',
  'export',
  'ingest',
  'engines',
  'store',
  'formats',
  'archive',
  'digest',
  'util',
] as const;

export interface ImportEdge {
  from: string; // a path relative to the source root, e.g. "store/blobs.ts"
  to: string;
}

/** Every relative import and re-export of every .ts file under `root` (type-only ones too). */
export function importEdges(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) {
        for (const spec of ts.preProcessFile(fs.readFileSync(p, 'utf8'), true, true).importedFiles) {
          if (!spec.fileName.startsWith('.')) continue;
          const target = path.normalize(path.join(path.dirname(p), spec.fileName)).replace(/\.js$/, '.ts');
          edges.push({ from: path.relative(root, p), to: path.relative(root, target) });
        }
      }
    }
  };
  walk(root);
  return edges;
}

const folderOf = (file: string): string => (file.includes(path.sep) ? file.split(path.sep)[0]! : file);

/** The imports that break the layering: upward, into an unknown folder, or out of the tree. */
export function layeringViolations(edges: readonly ImportEdge[], layers: readonly string[] = LAYERS): string[] {
  const rank = new Map(layers.map((l, i) => [l, i]));
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = folderOf(from);
    const b = folderOf(to);
    if (to.startsWith('..')) out.push(`${from} imports ${to}, outside the source tree`);
    else if (from === 'index.ts' || to === 'errors.ts' || a === b) continue;
    else if (to === 'index.ts') out.push(`${from} imports the library entry point index.ts`);
    else if (!rank.has(a) || !rank.has(b)) out.push(`${from} -> ${to}: folder ${rank.has(a) ? b : a} is not in the layer list`);
    else if (rank.get(b)! <= rank.get(a)!) out.push(`${from} imports ${to}: ${a} may not import ${b} (${b} is not below ${a})`);
  }
  return out;
}

/** Folder pairs that import each other (a cycle is also a layering violation; named for the reader). */
export function folderCycles(edges: readonly ImportEdge[]): string[] {
  const pairs = new Set(edges.map((e) => `${folderOf(e.from)}>${folderOf(e.to)}`));
  const out: string[] = [];
  for (const p of pairs) {
    const [a, b] = p.split('>') as [string, string];
    if (a < b && pairs.has(`${b}>${a}`)) out.push(`${a} <-> ${b}`);
  }
  return out;
}

/**
 * Store internals only store/ may use: its layout (`store.layout`, `x.blobPath(`), its private
 * folder spelled out, staging paths, the index lock and the raw helpers behind the Store methods.
 */
const STORE_PATH_USES =
  /\.layout\b|\bStoreLayout\b|\.(?:blobPath|sha256Dir|derivedDir|stagingDir|stagingPath|indexFile|unverifiedDir|quarantineDir|indexLockPath|privateDir)\b|['"`]\.layerstore\b|\bwithIndexLock\b|\w+Locked\(|(?<![.\w])(?:readDerived|writeDerived|openDerived|readUnverified|markUnverified)\b/g;

/** Store modules whose functions only the Store class hands out. */
const STORE_PRIVATE_MODULES = ['layout', 'leftovers', 'unverified', 'reachability', 'transaction'].map((m) => path.join('store', `${m}.ts`));

/** The code of a file without its comments (a comment may name a store path to explain it). */
function withoutComments(text: string): string {
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, text);
  const parts: string[] = [];
  while (scanner.scan() !== ts.SyntaxKind.EndOfFileToken) parts.push(scanner.getTokenText());
  return parts.join('');
}

/**
 * The store is sealed: only store/ knows where its files are. Outside it, no file imports the
 * layout module or names the store's private folders.
 */
export function storePathLeaks(root: string, edges: readonly ImportEdge[]): string[] {
  const out = edges
    .filter((e) => STORE_PRIVATE_MODULES.includes(e.to) && folderOf(e.from) !== 'store' && e.from !== 'index.ts')
    .map((e) => `${e.from} imports ${e.to}`);
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      const rel = path.relative(root, p);
      if (e.isDirectory()) {
        if (rel !== 'store') walk(p);
      } else if (p.endsWith('.ts')) {
        const text = withoutComments(fs.readFileSync(p, 'utf8'));
        for (const m of text.matchAll(STORE_PATH_USES)) out.push(`${rel} names a store path (${m[0]})`);
      }
    }
  };
  walk(root);
  return out;
}

/**
 * One tar engine: archive/ reads tar. Other files may write tar with tar-stream's pack
 * (export, the commit preview's layer), never parse it with tar-stream's extract.
 */
export function secondTarReaders(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) {
        const text = withoutComments(fs.readFileSync(p, 'utf8'));
        if (/from['"]tar-stream['"]/.test(text) && /\.extract\(/.test(text)) out.push(`${path.relative(root, p)} parses tar with tar-stream`);
      }
    }
  };
  walk(root);
  return out;
}
