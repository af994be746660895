/**
 * The top floor of src/ stays layered (docs/ARCHITECTURE.md): cli composes html and registry;
 * html may use registry's exports; neither imports a folder above it. Read from the real
 * import statements of the source files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '../src');

/** "file -> target folder" for every relative import of a folder's files that leaves the folder. */
function importsOutOf(folder: string): string[] {
  const out: string[] = [];
  const dir = path.join(SRC, folder);
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    if (!name.endsWith('.ts')) continue;
    const file = path.join(dir, name);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
      const target = path.relative(SRC, path.resolve(path.dirname(file), m[1]!)).split(path.sep)[0]!;
      if (target !== folder) out.push(`${folder}/${name} -> ${target}`);
    }
  }
  return out;
}

describe('top floor layering', () => {
  it('html imports nothing from cli', () => {
    expect(importsOutOf('html').filter((e) => e.endsWith('-> cli'))).toEqual([]);
  });

  it('registry imports nothing from html or cli', () => {
    expect(importsOutOf('registry').filter((e) => e.endsWith('-> html') || e.endsWith('-> cli'))).toEqual([]);
  });
});
