// The CLI as a few files instead of ~80 modules: `npm run build` runs this after tsc.
//
// Node 20 loads ES modules one by one (resolve, read, compile, link each), and loading the
// ~80 modules of `ingest` took ~45 ms of a ~180 ms run; bundled into shared chunks the same
// run took ~50 ms less (docs/PERFORMANCE.md, "Eighth pass"). The input is tsc's output in
// dist/src, so the bundle runs exactly the code the tests type-check; only our own modules
// are joined: packages stay in node_modules and are imported as before. Each command's module
// is still imported only when that command runs (a chunk of its own).
//
// Output: dist/bundle/cli/, at the same depth as dist/src/cli/ because the code finds files
// relative to itself: package.json three folders up (cli/main.ts), and report-worker.js and
// repositories-worker.js next to the chunks that start them (html/report-thread.ts,
// html/repositories-thread.ts).
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = (p) => path.join(root, 'dist', 'src', p);
const out = path.join(root, 'dist', 'bundle', 'cli');

rmSync(out, { recursive: true, force: true });
const bundle = await rolldown({
  input: { main: from('cli/main.js'), 'report-worker': from('html/report-worker.js'), 'repositories-worker': from('html/repositories-worker.js') },
  platform: 'node',
  // Node's own modules and every package: only relative imports (our code) are joined.
  external: [/^node:/, /^[^./]/],
  logLevel: 'warn',
});
await bundle.write({ dir: out, format: 'esm', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js', sourcemap: true });
await bundle.close();
