import { describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest/digest.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, MT, type Descriptor, type Index } from '../../src/formats/types.js';
import { applyRootUpdates, serializeIndex, type RootUpdate } from '../../src/store/refs.js';

const dg = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const D1 = dg('1');
const D2 = dg('2');
const D3 = dg('3');

const desc = (digest: Digest, size = 100): Descriptor => ({ mediaType: MT.ociManifest, digest, size });
const tagged = (digest: Digest, ref: string, fullName?: string): Descriptor => ({
  ...desc(digest),
  annotations: { [ANNOTATION_REF_NAME]: ref, ...(fullName ? { [ANNOTATION_IMAGE_NAME]: fullName } : {}) },
});
const index = (...manifests: Descriptor[]): Index => ({ schemaVersion: 2, mediaType: MT.ociIndex, manifests });
const upd = (digest: Digest, ref?: string, fullName?: string): RootUpdate => ({
  descriptor: desc(digest),
  ...(ref ? { ref } : {}),
  ...(fullName ? { fullName } : {}),
});

describe('applyRootUpdates', () => {
  it('a new ref is added with its annotations (ref name and fully qualified name)', () => {
    const { index: out, changes } = applyRootUpdates(index(), [upd(D1, 'acme/api:1', 'docker.io/acme/api:1')]);
    expect(out.manifests).toEqual([tagged(D1, 'acme/api:1', 'docker.io/acme/api:1')]);
    expect(changes).toEqual([{ ref: 'acme/api:1', to: D1 }]);
  });

  it('a ref that moves to a new digest leaves the old image as an untagged root', () => {
    const before = index(tagged(D1, 'acme/api:1'));
    const { index: out, changes } = applyRootUpdates(before, [upd(D2, 'acme/api:1')]);
    expect(out.manifests).toEqual([desc(D1), tagged(D2, 'acme/api:1')]);
    expect(out.manifests[0]!.annotations).toBeUndefined();
    expect(changes).toEqual([{ ref: 'acme/api:1', from: D1, to: D2 }]);
    // the input index is not modified
    expect(before.manifests).toEqual([tagged(D1, 'acme/api:1')]);
  });

  it('a moved ref leaves no untagged root when another ref still names the old digest', () => {
    const { index: out, changes } = applyRootUpdates(index(tagged(D1, 'acme/api:1'), tagged(D1, 'acme/api:stable')), [upd(D2, 'acme/api:1')]);
    expect(out.manifests).toEqual([tagged(D1, 'acme/api:stable'), tagged(D2, 'acme/api:1')]);
    expect(changes).toEqual([{ ref: 'acme/api:1', from: D1, to: D2 }]);
  });

  it('an untagged root is dropped when the same digest gets a ref', () => {
    const { index: out, changes } = applyRootUpdates(index(desc(D1), tagged(D2, 'x:1')), [upd(D1, 'acme/api:1')]);
    expect(out.manifests).toEqual([tagged(D2, 'x:1'), tagged(D1, 'acme/api:1')]);
    expect(changes).toEqual([{ ref: 'acme/api:1', to: D1 }]);
  });

  it('the untagged root a move just created is dropped when a later update in the batch tags that digest', () => {
    const { index: out } = applyRootUpdates(index(tagged(D1, 'a:1')), [upd(D2, 'a:1'), upd(D1, 'b:1')]);
    expect(out.manifests).toEqual([tagged(D2, 'a:1'), tagged(D1, 'b:1')]);
  });

  it('the same ref with the same digest is a no-op (same index bytes, no change reported)', () => {
    const before = index(tagged(D1, 'acme/api:1', 'docker.io/acme/api:1'), desc(D3));
    const { index: out, changes } = applyRootUpdates(before, [upd(D1, 'acme/api:1', 'docker.io/acme/api:1')]);
    expect(changes).toEqual([]);
    expect(out.manifests).toEqual(before.manifests);
    expect(serializeIndex(out).equals(serializeIndex(before))).toBe(true);
  });

  it('a ref-less root is added once, and not at all when a root already names its digest', () => {
    const first = applyRootUpdates(index(), [upd(D1), upd(D1)]);
    expect(first.index.manifests).toEqual([desc(D1)]);
    expect(first.changes).toEqual([]);
    const second = applyRootUpdates(index(tagged(D2, 'x:1')), [upd(D2)]);
    expect(second.index.manifests).toEqual([tagged(D2, 'x:1')]);
  });

  it('keeps a root descriptor platform and drops empty annotations', () => {
    const plat: Descriptor = { mediaType: MT.ociIndex, digest: D3, size: 7, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } };
    const { index: out } = applyRootUpdates(index(), [{ descriptor: plat }, { descriptor: { ...plat, annotations: {} }, ref: 'm:1' }]);
    expect(out.manifests).toEqual([{ ...plat, annotations: { [ANNOTATION_REF_NAME]: 'm:1' } }]);
  });

  it('serializeIndex writes an OCI index with two-space JSON and a final newline', () => {
    const bytes = serializeIndex(index(tagged(D1, 'a:1')));
    expect(bytes.toString().endsWith('}\n')).toBe(true);
    expect(JSON.parse(bytes.toString())).toEqual({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [tagged(D1, 'a:1')] });
    expect(bytes.toString()).toContain('\n  "manifests": [');
  });
});

describe('readIndex on a large store', () => {
  it('reads an index.json of 40k refs (~12 MB, above the limit for input documents) and still refuses a damaged one', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { StoreLayout } = await import('../../src/store/layout.js');
    const { readIndex } = await import('../../src/store/refs.js');
    const { MAX_JSON_BYTES } = await import('../../src/formats/types.js');
    const dir = mkdtempSync(path.join(tmpdir(), 'layerstore-bigindex-'));
    try {
      const layout = new StoreLayout(dir);
      const many = Array.from({ length: 40_000 }, (_, i) =>
        tagged(`sha256:${i.toString(16).padStart(64, '0')}` as Digest, `acme/img${i}:1`, `docker.io/acme/img${i}:1`),
      );
      const bytes = serializeIndex(index(...many));
      expect(bytes.length).toBeGreaterThan(MAX_JSON_BYTES);
      writeFileSync(layout.indexFile, bytes);
      const got = await readIndex(layout);
      expect(got.manifests).toHaveLength(many.length);
      expect(got.manifests[39_999]).toEqual(many[39_999]);
      writeFileSync(layout.indexFile, bytes.subarray(0, bytes.length - 10));
      await expect(readIndex(layout)).rejects.toMatchObject({ code: 'E_STORE_INVALID' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
