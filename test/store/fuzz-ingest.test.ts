/**
 * Promise 3 (DESIGN.md §7) under property-based testing: "A failed or rejected ingest leaves
 * blobs and refs byte-for-byte unchanged" — and an ingest never fails in an uncoded way.
 *
 * fast-check (fixed seed, 150 runs) mutates valid image tarballs (legacy docker save with a
 * symlinked layer, Docker 25 save, oci-archive with a gzip layer, a gzipped Docker 25 save): truncate at any offset,
 * flip bytes, reorder entries, duplicate an entry, rename an entry (to another entry's name,
 * to an unsafe name, to a random one), drop an entry, append garbage; 1 to 3 of them per run.
 * Each mutant goes through ingestPath in this process, into one store shared by all runs:
 *   - it either succeeds, and then verifyStore() reports no damage and staging is empty;
 *   - or it throws a LayerstoreError whose code is in the ErrorCode union of src/errors.ts
 *     (an E_IO must wrap a real operating-system error, not a TypeError in disguise), and
 *     every file under the store (nothing excluded) hashes as before; staging is empty.
 * No unhandled rejection or uncaught exception may happen meanwhile.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerSaveLegacy, dockerSaveV25, layerTar, ociArchive, type LayerBlob } from '../../fixtures/image-writer.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { Store } from '../../src/store/store.js';
import { verifyStore } from '../../src/store/verify.js';
import { LayerstoreError } from '../../src/errors.js';
import { filesUnder, snapshotObject, snapshotStore } from '../helpers/store-snapshot.js';
import { prngBytes } from '../helpers/store-proc.js';

const ERRORS_TS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'errors.ts');
/** The members of the ErrorCode union, read from the source so the list never goes stale. */
function errorCodes(): Set<string> {
  const src = readFileSync(ERRORS_TS, 'utf8');
  const union = /export type ErrorCode\s*=([\s\S]*?);/.exec(src)?.[1] ?? '';
  return new Set([...union.matchAll(/'(E_[A-Z_]+)'/g)].map((m) => m[1]!));
}

// ---------------------------------------------------------------------------------------------
// tar surgery: an archive as a list of entries (header block + padded body), plus the tail

interface Entry {
  header: Buffer;
  body: Buffer; // padded to 512
}

function splitTar(tar: Buffer): { entries: Entry[]; tail: Buffer } {
  const entries: Entry[] = [];
  let off = 0;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    const padded = Math.ceil(size / 512) * 512;
    entries.push({ header: Buffer.from(header), body: Buffer.from(tar.subarray(off + 512, off + 512 + padded)) });
    off += 512 + padded;
  }
  return { entries, tail: Buffer.from(tar.subarray(off)) };
}

function joinTar(p: { entries: Entry[]; tail: Buffer }): Buffer {
  return Buffer.concat([...p.entries.flatMap((e) => [e.header, e.body]), p.tail]);
}

function nameOf(e: Entry): string {
  const name = e.header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
  const prefix = e.header.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
  return prefix ? `${prefix}/${name}` : name;
}

/** A copy of the header with another name (ustar name field only) and a fixed checksum. */
function renamed(e: Entry, name: string): Entry {
  const h = Buffer.from(e.header);
  const nb = Buffer.from(name, 'utf8').subarray(0, 100);
  h.fill(0, 0, 100);
  nb.copy(h, 0);
  h.fill(0, 345, 500);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0'), 148, 6, 'ascii');
  h[154] = 0;
  h[155] = 0x20;
  return { header: h, body: e.body };
}

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'reorder'; seed: number }
  | { kind: 'duplicate'; from: number; to: number }
  | { kind: 'rename'; which: number; to: 'other-entry' | 'unsafe' | 'random'; pick: number; text: string }
  | { kind: 'drop'; which: number }
  | { kind: 'append'; bytes: number[] };

// A position in [0, 1), uniform over values (fc.double is uniform over representations, so
// nearly every draw would be ~1e-100, i.e. offset 0, and most mutants would be empty files).
const frac = fc.noBias(fc.integer({ min: 0, max: 0x7fffffff })).map((i) => i / 0x80000000);
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: frac }),
  fc.record({ kind: fc.constant('flip' as const), at: frac, mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('reorder' as const), seed: fc.integer() }),
  fc.record({ kind: fc.constant('duplicate' as const), from: frac, to: frac }),
  fc.record({
    kind: fc.constant('rename' as const),
    which: frac,
    to: fc.constantFrom('other-entry' as const, 'unsafe' as const, 'random' as const),
    pick: frac,
    text: fc.string({ minLength: 1, maxLength: 40 }),
  }),
  fc.record({ kind: fc.constant('drop' as const), which: frac }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 1500 }) }),
);

const UNSAFE = ['../evil', '/etc/passwd', 'blobs/../../x', 'a\\b', 'blobs/sha256/../../../../tmp/owned', './../up', 'manifest.json/..'];

function mutate(tar: Buffer, m: Mutation): Buffer {
  const at = (f: number, n: number) => Math.min(n - 1, Math.floor(f * n));
  switch (m.kind) {
    case 'truncate':
      return Buffer.from(tar.subarray(0, at(m.at, tar.length)));
    case 'flip': {
      const out = Buffer.from(tar);
      if (out.length) {
        const i = at(m.at, out.length);
        out[i] = out[i]! ^ m.mask;
      }
      return out;
    }
    case 'append':
      return Buffer.concat([tar, Buffer.from(m.bytes)]);
  }
  const p = splitTar(tar);
  const n = p.entries.length;
  if (n === 0) return tar;
  switch (m.kind) {
    case 'reorder': {
      let s = m.seed >>> 0 || 1;
      for (let i = n - 1; i > 0; i--) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const j = s % (i + 1);
        [p.entries[i], p.entries[j]] = [p.entries[j]!, p.entries[i]!];
      }
      break;
    }
    case 'duplicate':
      p.entries.splice(at(m.to, n + 1), 0, p.entries[at(m.from, n)]!);
      break;
    case 'drop':
      p.entries.splice(at(m.which, n), 1);
      break;
    case 'rename': {
      const i = at(m.which, n);
      const name =
        m.to === 'other-entry' ? nameOf(p.entries[at(m.pick, n)]!) : m.to === 'unsafe' ? UNSAFE[at(m.pick, UNSAFE.length)]! : m.text.replace(/\0/g, '');
      p.entries[i] = renamed(p.entries[i]!, name || 'x');
      break;
    }
  }
  return joinTar(p);
}

// ---------------------------------------------------------------------------------------------

describe('mutated tarballs through ingestPath (property-based)', () => {
  let tmp: string;
  let store: Store;
  const bases: Array<{ name: string; bytes: Buffer }> = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => void unhandled.push(e);
  const CODES = errorCodes();
  const outcomes = new Map<string, number>();

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-fuzz-'));
    store = await Store.open(path.join(tmp, 'store'), { create: true });
    const file = (p: string, size: number) => ({ path: p, content: prngBytes(`fuzz/${p}`, size) });
    const base: LayerBlob = { tar: await layerTar([{ path: 'etc', type: 'dir' }, file('etc/os', 900), file('bin/sh', 3000)]), compression: 'none' };
    const app: LayerBlob = { tar: await layerTar([file('app/a', 2500), { path: 'app/link', type: 'symlink', linkname: 'a' }]), compression: 'none' };
    const gz: LayerBlob = { tar: await layerTar([file('app/z', 4000)]), compression: 'gzip' };
    const images = [
      { repoTags: ['fuzz/base:1'], layers: [base] },
      { repoTags: ['fuzz/app:1'], layers: [base, app] },
    ];
    bases.push({ name: 'legacy', bytes: await dockerSaveLegacy(images, { symlinkDuplicates: true }) });
    bases.push({ name: 'v25', bytes: await dockerSaveV25(images) });
    bases.push({ name: 'oci', bytes: await ociArchive([{ repoTags: ['fuzz/gz:1'], layers: [base, gz] }]) });
    // `docker save | gzip`: the whole archive compressed (entry surgery on it is byte-level noise).
    bases.push({ name: 'v25.gz', bytes: gzipSync(await dockerSaveV25([{ repoTags: ['fuzz/whole-gz:1'], layers: [base, gz] }])) });
  });

  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (outcomes.size)
      console.log(
        `[fuzz] outcomes over the runs: ${[...outcomes]
          .sort()
          .map(([k, v]) => `${k} x${v}`)
          .join(', ')}`,
      );
  });

  it('the unmutated bases ingest cleanly', async () => {
    for (const b of bases) {
      const f = path.join(tmp, `${b.name}.tar`);
      writeFileSync(f, b.bytes);
      await ingestPath(store, f);
    }
    expect((await verifyStore(store)).damaged).toBe(false);
    // Start the property from an empty store again, so successes and failures both show up.
    rmSync(store.root, { recursive: true, force: true });
    store = await Store.open(path.join(tmp, 'store'), { create: true });
  });

  it('never an uncoded error, never a crash; a failure changes nothing, a success verifies', { timeout: 120_000 }, async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: bases.length - 1 }), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), async (bi, muts) => {
        const b = bases[bi]!;
        const bytes = muts.reduce(mutate, b.bytes);
        const input = path.join(tmp, `mutant-${++n}.tar`);
        writeFileSync(input, bytes);
        const before = snapshotObject(await snapshotStore(store.root));
        let outcome: string;
        try {
          await ingestPath(store, input);
          outcome = 'ok';
          const rep = await verifyStore(store);
          expect(rep.damaged, 'a successful ingest leaves an undamaged store').toBe(false);
          expect(filesUnder(await snapshotStore(store.root), '.layerstore/staging')).toEqual([]);
        } catch (e) {
          if (!(e instanceof LayerstoreError)) throw new Error(`ingestPath threw a ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? e}`);
          outcome = e.code;
          expect(CODES.has(e.code), `code ${e.code} is in the ErrorCode union`).toBe(true);
          if (e.code === 'E_IO') {
            const cause = (e as Error & { cause?: unknown }).cause as NodeJS.ErrnoException | undefined;
            expect(typeof cause?.code, `E_IO wraps an OS error, not a ${cause?.constructor?.name}: ${cause?.stack ?? e.message}`).toBe('string');
          }
          const after = snapshotObject(await snapshotStore(store.root));
          expect(after, `a failed ingest (${e.describe()}) changed the store`).toEqual(before);
        } finally {
          rmSync(input, { force: true });
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (process.env.FUZZ_DEBUG) console.log(outcome, b.name, bytes.length, JSON.stringify(muts).slice(0, 200));
      }),
      { numRuns: 150, seed: 20_240_501, endOnFailure: true },
    );
    // Let anything a failed ingest left running settle, then look for unhandled rejections.
    await new Promise((r) => setTimeout(r, 200));
    expect(unhandled.map((e) => String((e as Error)?.stack ?? e))).toEqual([]);
    expect(outcomes.get('ok') ?? 0, 'some mutants still ingest').toBeGreaterThan(0);
    expect(outcomes.size, 'the mutants fail in several ways').toBeGreaterThan(4);
  });
});
