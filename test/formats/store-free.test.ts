/**
 * formats/ is the store-free bottom of the way in: ingest, registry pulls and tests drive its
 * readers through the source interface, so it must not import them back (issue 12).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';

const DIR = path.join(import.meta.dirname, '../../src/formats');
const ALLOWED = new Set(['formats', 'archive', 'digest', 'util', 'errors.js']);

it('src/formats imports only archive/, digest/, util/, errors.ts and itself: never ingest/ or store/', () => {
  const outside: string[] = [];
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.ts'))) {
    for (const m of readFileSync(path.join(DIR, file), 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = path.relative(path.join(DIR, '..'), path.resolve(DIR, m[1]!)).split(path.sep)[0]!;
      if (!ALLOWED.has(target)) outside.push(`${file} -> ${m[1]}`);
    }
  }
  expect(outside).toEqual([]);
});
