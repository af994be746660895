/**
 * Concurrent CLI processes on one store (DESIGN §7 promise 4: concurrent ingests of the same
 * content all succeed and leave one intact copy). Processes are started with spawn, not
 * spawnSync, and the second start is staggered by a few milliseconds per round so that the
 * rounds cover different interleavings of store creation, blob commits and index.json updates.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { dockerSaveLegacy, layerTar } from '../../fixtures/image-writer.js';
import { badBlobs, ensureBuilt, indexRefs, listBlobs, readStoreImages, runCli, show, spawnCli, type CliResult } from '../helpers/cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const spawnAfter = async (ms: number, args: string[]) => {
  if (ms > 0) await sleep(ms);
  return spawnCli(args);
};

describe('concurrent ingests into one store', () => {
  let tmp: string;
  let fx: string;
  let n = 0;
  const newStore = () => path.join(tmp, 'stores', `s${++n}`);
  const F = (name: string) => path.join(fx, name);
  const ok = (r: CliResult): CliResult => {
    expect(r.code, show(r)).toBe(0);
    return r;
  };

  const A = () => [F('family-legacy.tar'), F('api-v25.tar')];
  const B = () => [F('api-v25.tar'), F('multi-oci-archive.tar')];
  const RACE_REFS = ['acme/api:1.0', 'acme/api:1.1', 'acme/base:1.0', 'acme/cli:1.0', 'acme/cli:1.1', 'acme/worker:1.0'];

  const seqCache = new Map<string, string[]>();
  /** The blobs one sequential ingest of `inputs` gives. */
  const sequentialBlobs = (inputs: string[]): string[] => {
    const key = inputs.join('\0');
    if (!seqCache.has(key)) {
      const seq = newStore();
      ok(runCli(['--store', seq, 'ingest', ...inputs]));
      seqCache.set(key, listBlobs(seq));
    }
    return seqCache.get(key)!;
  };

  /** The checks after any race: intact blobs, no staging leftovers, the same blobs as a sequential run. */
  const checkStore = (s: string, inputs: string[]) => {
    expect(badBlobs(s)).toEqual([]);
    expect(readdirSync(path.join(s, '.layerstore', 'staging'))).toEqual([]);
    expect(listBlobs(s)).toEqual(sequentialBlobs([...new Set(inputs)]));
  };

  /** Race ingest A against ingest B (B started `delay` ms later) into `s`, which already holds `pre`. */
  const race = async (s: string, delay: number, pre: string[] = []) => {
    const [a, b] = await Promise.all([spawnAfter(0, ['--store', s, 'ingest', ...A()]), spawnAfter(delay, ['--store', s, 'ingest', ...B()])]);
    expect(a.code, `ingest A (B started ${delay} ms later)\n${show(a)}`).toBe(0);
    expect(b.code, `ingest B (started ${delay} ms after A)\n${show(b)}`).toBe(0);
    const preRefs = pre.includes(F('oci-gzip')) ? ['acme/web:2.0'] : [];
    expect([...indexRefs(s)].sort()).toEqual([...RACE_REFS, ...preRefs].sort());
    expect(readStoreImages(s)).toHaveLength(RACE_REFS.length + preRefs.length);
    checkStore(s, [...pre, ...A(), ...B()]);
  };

  beforeAll(async () => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-race-'));
    fx = path.join(tmp, 'fx');
    mkdirSync(path.join(tmp, 'stores'));
    await generateFixtures(fx);
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('two ingests of overlapping tarballs into an existing store, 5 times: both exit 0, every blob intact, both sets of refs', async () => {
    const template = newStore();
    ok(runCli(['--store', template, 'ingest', F('oci-gzip')]));
    for (let i = 0; i < 5; i++) {
      const s = newStore();
      cpSync(template, s, { recursive: true });
      await race(s, i * 3, [F('oci-gzip')]);
    }
  });

  it('two ingests of overlapping tarballs into a store that does not exist yet (both create it), 5 times', async () => {
    for (let i = 0; i < 5; i++) await race(newStore(), i * 6);
  });

  it('six ingests creating one new store at once (starts 4 ms apart), 3 times: all exit 0', async () => {
    // small inputs, so the processes overlap in Store.open, where a new store is created
    const inputs = [F('oci-gzip'), F('api-v25.tar'), F('multi-oci-archive.tar'), F('api-v25.tar'), F('oci-gzip'), F('multi-oci-archive.tar')];
    for (let round = 0; round < 3; round++) {
      const s = newStore();
      const results = await Promise.all(inputs.map((input, i) => spawnAfter(i * 4, ['--store', s, 'ingest', input])));
      for (const [i, r] of results.entries()) expect(r.code, `round ${round}, ingest ${i} of ${inputs[i]}\n${show(r)}`).toBe(0);
      expect([...indexRefs(s)].sort()).toEqual(['acme/api:1.1', 'acme/cli:1.0', 'acme/cli:1.1', 'acme/web:2.0']);
      expect(existsSync(path.join(s, 'oci-layout'))).toBe(true);
      checkStore(s, inputs);
    }
  });

  it('two different images for one ref at once: both exit 0, the ref names one, the other is kept untagged', async () => {
    const other = await dockerSaveLegacy([
      { repoTags: ['acme/api:1.0'], layers: [{ tar: await layerTar([{ path: 'race.txt', content: 'racing api 1.0\n' }]), compression: 'none' }] },
    ]);
    const otherTar = path.join(tmp, 'api-1.0-race.tar');
    writeFileSync(otherTar, other);
    for (let i = 0; i < 2; i++) {
      const s = newStore();
      const [a, b] = await Promise.all([
        spawnAfter(0, ['--store', s, 'ingest', F('family-legacy.tar')]),
        spawnAfter(i * 5, ['--store', s, 'ingest', otherTar]),
      ]);
      expect(a.code, show(a)).toBe(0);
      expect(b.code, show(b)).toBe(0);
      const imgs = readStoreImages(s);
      expect(imgs).toHaveLength(4);
      expect(imgs.filter((x) => x.refs.includes('acme/api:1.0'))).toHaveLength(1);
      expect(imgs.filter((x) => x.refs.length === 0)).toHaveLength(1);
      expect([...indexRefs(s)].sort()).toEqual(['acme/api:1.0', 'acme/base:1.0', 'acme/worker:1.0']);
      checkStore(s, [F('family-legacy.tar'), otherTar]);
    }
  });
});
