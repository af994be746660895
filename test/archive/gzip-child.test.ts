/**
 * The diffID of a big gzip layer comes from ISA-L's igzip (archive/gzip-child.ts) when it is
 * installed. Whatever is installed, a layer's verdict must be the same: every gzip stream
 * below, good or bad, gets from the igzip path exactly what node:zlib gives (the diffID, or
 * the error in zlib's words), and the good ones the digest of what `gzip -dc` writes. That
 * igzip itself vouches for the good ones (the fast path is really taken) is checked apart.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { IgzipHash, gzipBinary } from '../../src/archive/gzip-child.js';
import { diffIdOfRange } from '../../src/ingest/diffid.js';
import { CLI, ensureBuilt, runCli, show } from '../helpers/cli.js';
import { peer } from '../helpers/peers.js';
import { layerTar } from '../../fixtures/image-writer.js';

const IGZIP = peer('the igzip command', gzipBinary() !== undefined, 'apt-get install isal') ? gzipBinary() : undefined;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ls-igzip-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** One gzip member of `data`, with the header and trailer fields a test wants changed. */
function member(data: Buffer, o: { flags?: number; crcDelta?: number; sizeDelta?: number; badHeaderCrc?: boolean; method?: number } = {}): Buffer {
  const flags = o.flags ?? 0;
  let head = Buffer.from([0x1f, 0x8b, o.method ?? 8, flags, 0, 0, 0, 0, 0, 0xff]);
  if (flags & 4) head = Buffer.concat([head, Buffer.from([6, 0]), Buffer.from('AB\x02\x00hi', 'latin1')]);
  if (flags & 8) head = Buffer.concat([head, Buffer.from('name\0')]);
  if (flags & 16) head = Buffer.concat([head, Buffer.from('comment\0')]);
  if (flags & 2) {
    const crc = crc32(head) & 0xffff;
    const field = Buffer.alloc(2);
    field.writeUInt16LE(o.badHeaderCrc ? crc ^ 0x1234 : crc);
    head = Buffer.concat([head, field]);
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE((crc32(data) + (o.crcDelta ?? 0)) >>> 0, 0);
  trailer.writeUInt32LE((data.length + (o.sizeDelta ?? 0)) >>> 0, 4);
  return Buffer.concat([head, zlib.deflateRawSync(data, { level: 1 }), trailer]);
}

/** CRC-32 (IEEE), for hand-made trailers (Node 20 has no zlib.crc32). */
function crc32(b: Buffer): number {
  let c = ~0;
  for (const byte of b) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

// Big enough (1.5 MiB, random: it does not shrink) for the igzip path, which small streams skip.
const DATA = randomBytes(1536 * 1024);
const good = member(DATA);
const CASES: Record<string, { bytes: Buffer; ok: boolean; igzipVouches: boolean }> = {
  'one member': { bytes: good, ok: true, igzipVouches: true },
  'two members (as eStargz writes)': { bytes: Buffer.concat([good, member(Buffer.from('tail'))]), ok: true, igzipVouches: true },
  'FEXTRA, FNAME, FCOMMENT and a right header CRC': { bytes: member(DATA, { flags: 4 | 8 | 16 | 2 }), ok: true, igzipVouches: true },
  'zero padding after the member (zlib accepts it)': { bytes: Buffer.concat([good, Buffer.alloc(512)]), ok: true, igzipVouches: false },
  'bytes after the member (igzip alone would ignore them)': { bytes: Buffer.concat([good, Buffer.from('garbage!!')]), ok: false, igzipVouches: false },
  'half a member header after the member': { bytes: Buffer.concat([good, Buffer.from([0x1f, 0x8b, 8, 0])]), ok: false, igzipVouches: false },
  'reserved header flags (igzip alone would take them)': { bytes: member(DATA, { flags: 0x20 }), ok: false, igzipVouches: false },
  'a wrong header CRC': { bytes: member(DATA, { flags: 2, badHeaderCrc: true }), ok: false, igzipVouches: false },
  'a wrong CRC': { bytes: member(DATA, { crcDelta: 1 }), ok: false, igzipVouches: false },
  'a wrong length': { bytes: member(DATA, { sizeDelta: 1 }), ok: false, igzipVouches: false },
  'cut short': { bytes: good.subarray(0, good.length - 100_000), ok: false, igzipVouches: false },
  'an unknown method': { bytes: member(DATA, { method: 7 }), ok: false, igzipVouches: false },
};

function fileOf(name: string, bytes: Buffer): string {
  const p = path.join(tmp, `${name.replace(/\W+/g, '-')}.gz`);
  writeFileSync(p, bytes);
  return p;
}

async function viaRange(p: string, zlibOnly: boolean) {
  const fd = openSync(p, 'r');
  try {
    const size = readFileSync(p).length;
    return await diffIdOfRange({ path: p, fd, start: 0, size, whole: true }, 'gzip', { zlib: zlibOnly });
  } finally {
    closeSync(fd);
  }
}

/** igzip children of this process still running. */
function ourIgzips(): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (/^Name:\s+igzip$/m.test(status) && new RegExp(`^PPid:\\s+${process.pid}$`, 'm').test(status)) out.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe.skipIf(!IGZIP)('igzip for gzip diffIDs', () => {
  it('is found on PATH; LAYERSTORE_GZIP=js or a path that is not there turns it off', () => {
    expect(IGZIP).toMatch(/\/igzip$/);
    expect(gzipBinary({ ...process.env, LAYERSTORE_GZIP: 'js' })).toBeUndefined();
    expect(gzipBinary({ ...process.env, LAYERSTORE_GZIP: '/nonexistent/igzip' })).toBeUndefined();
  });

  for (const [name, c] of Object.entries(CASES)) {
    it(`${name}: the same answer as node:zlib${c.ok ? ', the digest of gzip -dc' : ''}`, async () => {
      const p = fileOf(name, c.bytes);
      const fast = await viaRange(p, false);
      const zl = await viaRange(p, true);
      expect(fast).toEqual(zl);
      if (c.ok) {
        const out = execFileSync('gzip', ['-dc', p], { maxBuffer: 1 << 26 });
        expect(fast).toEqual({ diffId: sha(out) });
      } else {
        expect(fast.diffId).toBeUndefined();
        expect(fast.error).toMatch(/\S/);
      }
      // igzip itself: vouches exactly for the streams it decompresses whole.
      const h = (await IgzipHash.start(IGZIP!))!;
      for (let i = 0; i < c.bytes.length; i += 64 * 1024) await h.write(c.bytes.subarray(i, i + 64 * 1024));
      const own = await h.finish();
      expect(own, 'igzip vouched').toEqual(c.igzipVouches ? fast.diffId : undefined);
      expect(ourIgzips()).toEqual([]);
    });
  }

  it('a stopped stream leaves no igzip running', async () => {
    const h = (await IgzipHash.start(IGZIP!))!;
    await h.write(good.subarray(0, 256 * 1024));
    expect(ourIgzips()).toHaveLength(1);
    h.abort();
    // Killed at once; reaped when its exit is seen (bounded wait, for a loaded machine).
    for (let i = 0; i < 100 && ourIgzips().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(ourIgzips()).toEqual([]);
  });
});

describe.skipIf(!IGZIP)('ingest: the same verdicts with and without igzip', () => {
  /** An OCI layout whose one layer is `layer` (gzip), its config naming `diffId`. */
  function layout(name: string, layer: Buffer, diffId: string): string {
    const dir = path.join(tmp, name);
    const blobs = path.join(dir, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const put = (b: Buffer) => {
      writeFileSync(path.join(blobs, sha(b).slice(7)), b);
      return { digest: sha(b), size: b.length };
    };
    const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, config: {} })));
    const l = put(layer);
    const manifest = put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l }],
        }),
      ),
    );
    writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(
      path.join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
      }),
    );
    return dir;
  }

  it('a layer with bytes after its gzip stream is refused (E_DECOMPRESS), one with zero padding taken, read from a directory and from a stream', async () => {
    ensureBuilt();
    const tar = await layerTar([{ path: 'big.bin', content: randomBytes(2 * 1024 * 1024) }]);
    const gz = zlib.gzipSync(tar, { level: 1 });
    const garbage = layout('garbage', Buffer.concat([gz, Buffer.from('trailing!')]), sha(tar));
    const zeros = layout('zeros', Buffer.concat([gz, Buffer.alloc(1024)]), sha(tar));
    for (const [dir, ok] of [
      [garbage, false],
      [zeros, true],
    ] as const) {
      const streamTar = `${dir}.tar`;
      execFileSync('tar', ['-cf', streamTar, '-C', dir, 'oci-layout', 'index.json', 'blobs']);
      const answers = [];
      for (const env of [{}, { LAYERSTORE_GZIP: 'js' }]) {
        for (const input of ['dir', 'stdin'] as const) {
          const store = path.join(tmp, `store-${path.basename(dir)}-${input}-${Object.keys(env).length}`);
          const r =
            input === 'dir'
              ? runCli(['--store', store, 'ingest', '--repo', 'gz', dir], { env })
              : (() => {
                  const s = spawnSync(process.execPath, [CLI, '--store', store, 'ingest', '--repo', 'gz', '-'], {
                    input: readFileSync(streamTar),
                    encoding: 'utf8',
                    env: { ...process.env, ...env },
                    timeout: 120_000,
                  });
                  return { code: s.status, stdout: s.stdout, stderr: s.stderr };
                })();
          expect(r.code, show(r)).toBe(ok ? 0 : 2);
          if (!ok) expect(r.stderr).toMatch(/\[E_DECOMPRESS\]/);
          answers.push(r.stderr.split('\n').filter((l) => l.startsWith('layerstore: error:')));
        }
      }
      // dir and stdin may name the entry differently; igzip or not, each says the same.
      expect(answers[2]).toEqual(answers[0]);
      expect(answers[3]).toEqual(answers[1]);
    }
  });
});
