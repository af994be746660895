// Deterministic benchmark inputs: content streams, tar writing, image archives and layouts.
//
// Everything here is a pure function of its seed strings and sizes, so two runs (or two
// machines) benchmark the same bytes. Generation is not timed; it favours simple
// synchronous file I/O over cleverness.
import { createCipheriv, createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const MiB = 1024 * 1024;
const FIXED_MTIME = 1_700_000_000;
const CREATED = '2024-01-01T00:00:00Z';

export const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

export const sha256hex = (b) => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------
// content

/** Pseudo-random bytes: AES-256-CTR over zeros, keyed by the seed. Several GB/s with AES-NI. */
export class RandomStream {
  constructor(seed) {
    const k = createHash('sha256').update(`key:${seed}`).digest();
    const iv = createHash('sha256').update(`iv:${seed}`).digest().subarray(0, 16);
    this.cipher = createCipheriv('aes-256-ctr', k, iv);
  }
  /** A fresh buffer of n random bytes. */
  bytes(n) {
    return this.cipher.update(Buffer.alloc(n));
  }
}

// A skewed 256-entry alphabet for "text-like" bytes (about 4.5 bits of entropy per byte).
const TEXT = (() => {
  const freq = 'eeeeeeeeeeeettttttttaaaaaaaoooooooiiiiiiinnnnnnnsssssshhhhhhrrrrrrdddduuuullllcccmmmwwffyyggppbbvvkjxqz';
  const extra = '          \n\n\n0123456789_./-=:;{}()<>"\',ETAOINSHRDLUCMFWYPVBGKJXQZ';
  const all = Buffer.from(freq + extra, 'latin1');
  const t = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) t[i] = all[i % all.length];
  return t;
})();

/**
 * Layer-like content that compresses roughly like real image layers (about 2x with gzip -1
 * or zstd -1): per 4 KiB block, 1/8 incompressible (already-compressed files), 4/8
 * text-like literals, 3/8 repeats of a block up to 16 KiB back (LZ matches).
 */
export class ContentStream {
  constructor(seed) {
    this.rnd = new RandomStream(seed);
  }
  bytes(n) {
    const b = this.rnd.bytes(n);
    const B = 4096;
    for (let off = 0; off < n; off += B) {
      const end = Math.min(n, off + B);
      const kind = b[off] & 7;
      if (kind === 0) continue; // random
      if (kind >= 5 && off >= B) {
        const back = B * (1 + (b[off + 1] & 3));
        const src = Math.max(0, off - back);
        b.copy(b, off, src, src + (end - off));
        continue;
      }
      for (let i = off; i < end; i++) b[i] = TEXT[b[i]];
    }
    return b;
  }
}

// ---------------------------------------------------------------------------------------------
// tar

const pad512 = (n) => (512 - (n % 512)) % 512;
export const tarEntryBytes = (size) => 512 + size + pad512(size);

function octal(n, width) {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** A ustar header (names up to 100 bytes, or split into prefix/name). */
export function tarHeader(name, { size = 0, type = '0', mode = type === '5' ? 0o755 : 0o644, linkname = '' } = {}) {
  const h = Buffer.alloc(512);
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 154);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`tar name too long: ${prefix}/${name}`);
  }
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'latin1');
  h.write(octal(0, 8), 108, 'latin1');
  h.write(octal(0, 8), 116, 'latin1');
  h.write(octal(size, 12), 124, 'latin1');
  h.write(octal(FIXED_MTIME, 12), 136, 'latin1');
  h.fill(0x20, 148, 156);
  h.write(type, 156, 'latin1');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i];
  h.write(octal(sum, 7) + ' ', 148, 'latin1');
  return h;
}

/** A byte sink over a file descriptor that hashes what passes through it. */
export class Sink {
  constructor(fd) {
    this.fd = fd;
    this.hash = createHash('sha256');
    this.bytes = 0;
  }
  write(b) {
    this.hash.update(b);
    this.bytes += b.length;
    let off = 0;
    while (off < b.length) off += fs.writeSync(this.fd, b, off, b.length - off);
  }
  digest() {
    return this.hash.digest('hex');
  }
}

/** A sink that only counts and hashes (for nested tars whose bytes go elsewhere too). */
class TeeSink {
  constructor(outer) {
    this.outer = outer;
    this.hash = createHash('sha256');
    this.bytes = 0;
  }
  write(b) {
    this.hash.update(b);
    this.bytes += b.length;
    this.outer.write(b);
  }
  digest() {
    return this.hash.digest('hex');
  }
}

const ZEROS = Buffer.alloc(1024);

/**
 * A layer described as tar entries. Regular file bodies come from `content(entry)` (a Buffer
 * producer called with the wanted size) so huge files stream through in 4 MiB pieces.
 * entries: {name, type: '0'|'5'|'2'|'1', size?, linkname?, body?: Buffer}
 */
export class LayerSpec {
  constructor(entries, contentSeed) {
    this.entries = entries;
    this.contentSeed = contentSeed;
  }
  get tarSize() {
    let n = 1024;
    for (const e of this.entries) n += e.type === '0' ? tarEntryBytes(e.size) : 512;
    return n;
  }
  writeTo(sink) {
    const content = new ContentStream(this.contentSeed);
    for (const e of this.entries) {
      const size = e.type === '0' ? e.size : 0;
      sink.write(tarHeader(e.name, { size, type: e.type, linkname: e.linkname ?? '' }));
      if (size === 0) continue;
      if (e.body) sink.write(e.body);
      else
        for (let left = size; left > 0; ) {
          const n = Math.min(left, 4 * MiB);
          sink.write(content.bytes(n));
          left -= n;
        }
      const p = pad512(size);
      if (p) sink.write(Buffer.alloc(p));
    }
    sink.write(ZEROS);
  }
}

/** A layer of a few big files totalling about `bytes`. */
export function bigFilesLayer(seed, bytes) {
  const parts = [0.5, 0.3, 0.2];
  const overhead = 512 * 12 + 1024;
  const data = Math.max(0, bytes - overhead);
  const entries = [
    { name: 'opt/', type: '5' },
    { name: `opt/${seed}/`, type: '5' },
  ];
  let used = 0;
  parts.forEach((f, i) => {
    const size = i === parts.length - 1 ? data - used : Math.floor((data * f) / 512) * 512;
    used += size;
    entries.push({ name: `opt/${seed}/blob-${i}.bin`, type: '0', size });
  });
  entries.push({ name: `opt/${seed}/README`, type: '0', size: 4000 });
  return new LayerSpec(entries, seed);
}

/**
 * A rootfs-like layer: `files` regular files with log-normal sizes (median 2 KiB, capped at
 * 4 MiB), ~10% duplicate contents, directories of ~40 files, a few symlinks and hardlinks.
 * Small bodies are held in the spec (file counts are ~1e5, sizes small).
 */
export function rootfsLayer(seed, files) {
  const rnd = new RandomStream(`rootfs-sizes:${seed}`);
  const r = rnd.bytes(files * 16);
  const u = (i) => (r.readUInt32LE(i) + 0.5) / 2 ** 32;
  const content = new ContentStream(`rootfs-content:${seed}`);
  const entries = [];
  const tops = ['usr/lib', 'usr/share', 'usr/bin', 'etc', 'var/lib', 'opt/app'];
  for (const t of ['usr', 'var', 'opt', ...tops]) entries.push({ name: `${t}/`, type: '5' });
  const recent = [];
  let dir = '';
  for (let i = 0; i < files; i++) {
    if (i % 40 === 0) {
      dir = `${tops[(i / 40) % tops.length]}/pkg-${(i / 40).toString(36)}`;
      entries.push({ name: `${dir}/`, type: '5' });
    }
    // Box-Muller: ln(size) ~ N(ln 2048, 1.3)
    const z = Math.sqrt(-2 * Math.log(u(i * 16))) * Math.cos(2 * Math.PI * u(i * 16 + 4));
    const size = Math.min(4 * MiB, Math.max(0, Math.round(Math.exp(Math.log(2048) + 1.3 * z))));
    const name = `${dir}/file-${i.toString(36)}${['.so', '.py', '.txt', '.json', ''][i % 5]}`;
    let body;
    if (u(i * 16 + 8) < 0.1 && recent.length) body = recent[Math.floor(u(i * 16 + 12) * recent.length)];
    else {
      body = content.bytes(size);
      if (size <= 64 * 1024) {
        if (recent.length < 512) recent.push(body);
        else recent[i % 512] = body;
      }
    }
    entries.push({ name, type: '0', size: body.length, body });
    if (i % 97 === 0) entries.push({ name: `${dir}/link-${i.toString(36)}`, type: '2', linkname: `file-${i.toString(36)}` });
    if (i % 211 === 0) entries.push({ name: `${dir}/hard-${i.toString(36)}`, type: '1', linkname: name });
  }
  return new LayerSpec(entries, `rootfs-content-unused:${seed}`);
}

// ---------------------------------------------------------------------------------------------
// images

function imageConfig(diffIds, seed) {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: CREATED,
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'], Labels: { 'bench.seed': seed } },
      rootfs: { type: 'layers', diff_ids: diffIds.map((h) => `sha256:${h}`) },
      history: diffIds.map(() => ({ created: CREATED, created_by: 'bench' })),
    }),
  );
}

/**
 * A legacy (pre-Docker-25) `docker save` of one image, streamed to `file`:
 * <v1id>/{VERSION,json,layer.tar} per layer, <config>.json, repositories, manifest.json.
 * Returns {file, bytes, layers: [{diffId, size}], configHex}.
 */
export function writeDockerSave(file, ref, layers) {
  const fd = fs.openSync(file, 'w');
  const out = new Sink(fd);
  const diffIds = [];
  const layerPaths = [];
  let parent = '';
  try {
    layers.forEach((spec, i) => {
      const id = sha256hex(`${file}:${i}:${spec.contentSeed}`);
      out.write(tarHeader(`${id}/`, { type: '5' }));
      const version = Buffer.from('1.0');
      const v1 = Buffer.from(JSON.stringify({ id, ...(parent ? { parent } : {}), created: CREATED, container_config: { Cmd: null }, os: 'linux' }));
      for (const [n, b] of [
        ['VERSION', version],
        ['json', v1],
      ]) {
        out.write(tarHeader(`${id}/${n}`, { size: b.length }));
        out.write(b);
        out.write(Buffer.alloc(pad512(b.length)));
      }
      const size = spec.tarSize;
      out.write(tarHeader(`${id}/layer.tar`, { size }));
      const tee = new TeeSink(out);
      spec.writeTo(tee);
      if (tee.bytes !== size) throw new Error(`layer size ${tee.bytes} != planned ${size}`);
      out.write(Buffer.alloc(pad512(size)));
      diffIds.push(tee.digest());
      layerPaths.push(`${id}/layer.tar`);
      parent = id;
    });
    const config = imageConfig(diffIds, file);
    const configHex = sha256hex(config);
    const [repo, tag] = ref.split(':');
    const docs = [
      [`${configHex}.json`, config],
      ['repositories', Buffer.from(JSON.stringify({ [repo]: { [tag]: parent } }))],
      ['manifest.json', Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [ref], Layers: layerPaths }]))],
    ];
    for (const [n, b] of docs) {
      out.write(tarHeader(n, { size: b.length }));
      out.write(b);
      out.write(Buffer.alloc(pad512(b.length)));
    }
    out.write(ZEROS); // end-of-archive marker
    if (out.bytes % 10240) out.write(Buffer.alloc(10240 - (out.bytes % 10240))); // record padding, like GNU tar
    return { file, bytes: out.bytes, diffIds, configHex };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A docker-archive as skopeo writes one (`skopeo copy ... docker-archive:FILE`, containers/image's
 * tarfile writer), streamed to `file`: each layer as <diffID hex>.tar, then <config hex>.json,
 * a v1 directory per layer (layer.tar a symlink to the blob, VERSION, json), manifest.json and
 * repositories last. Returns {file, bytes, diffIds, configHex}.
 */
export function writeSkopeoArchive(file, ref, layers) {
  const fd = fs.openSync(file, 'w');
  const out = new Sink(fd);
  const put = (n, b) => {
    out.write(tarHeader(n, { size: b.length }));
    out.write(b);
    out.write(Buffer.alloc(pad512(b.length)));
  };
  try {
    const diffIds = layers.map((spec) => {
      // The name needs the digest before the bytes: hash the layer once without writing it.
      const count = new TeeSink({ write() {} });
      spec.writeTo(count);
      const hex = count.digest();
      out.write(tarHeader(`${hex}.tar`, { size: count.bytes, mode: 0o444 }));
      spec.writeTo(out);
      out.write(Buffer.alloc(pad512(count.bytes)));
      return hex;
    });
    const config = imageConfig(diffIds, ref);
    const configHex = sha256hex(config);
    put(`${configHex}.json`, config);
    let parent = '';
    diffIds.forEach((hex, i) => {
      const id = sha256hex(`${parent} ${hex}`);
      out.write(tarHeader(`${id}/layer.tar`, { type: '2', linkname: `../${hex}.tar` }));
      put(`${id}/VERSION`, Buffer.from('1.0'));
      put(`${id}/json`, Buffer.from(JSON.stringify({ id, ...(parent ? { parent } : {}), created: CREATED, os: 'linux', layer: i })));
      parent = id;
    });
    const [repo, tag] = ref.split(':');
    put('manifest.json', Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [ref], Layers: diffIds.map((h) => `${h}.tar`) }])));
    put('repositories', Buffer.from(JSON.stringify({ [repo]: { [tag]: parent } })));
    out.write(ZEROS);
    return { file, bytes: out.bytes, diffIds, configHex };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A family of related images as skopeo writes them, one archive each: a base of two layers
 * (`baseBytes` in all) and `derived` images that each add one layer of `appBytes` on top of it.
 * Returns [{file, bytes, ref}], the base first.
 */
export function writeImageFamily(dir, { baseBytes, appBytes, derived }) {
  fs.mkdirSync(dir, { recursive: true });
  const base = [bigFilesLayer('family-base-0', Math.floor(baseBytes * 0.8)), bigFilesLayer('family-base-1', Math.floor(baseBytes * 0.2))];
  const images = [{ ref: 'bench/family-base:1', layers: base }];
  for (let i = 1; i <= derived; i++) images.push({ ref: `bench/family-app${i}:1`, layers: [...base, bigFilesLayer(`family-app-${i}`, appBytes)] });
  return images.map(({ ref, layers }, i) => {
    const w = writeSkopeoArchive(path.join(dir, `image-${i}.tar`), ref, layers);
    return { file: w.file, bytes: w.bytes, ref };
  });
}

/** Write a layer's tar alone to `file`; returns {size, diffId}. */
export function writeLayerFile(file, spec) {
  const fd = fs.openSync(file, 'w');
  try {
    const s = new Sink(fd);
    spec.writeTo(s);
    return { size: s.bytes, diffId: s.digest() };
  } finally {
    fs.closeSync(fd);
  }
}

export function hashFile(file) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(4 * MiB);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Write an image's config and manifest blobs; `layers` are the manifest's layer descriptors. */
function putImage(dir, diffIds, seed, layers) {
  const config = imageConfig(diffIds, seed);
  const c = putBlob(dir, config);
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MT.manifest, config: { mediaType: MT.config, digest: `sha256:${c.hex}`, size: c.size }, layers }),
  );
  return { m: putBlob(dir, manifest), config, manifest };
}

function putBlob(dir, bytes) {
  const hex = sha256hex(bytes);
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hex), bytes);
  return { hex, size: bytes.length };
}

/**
 * An OCI layout directory with one image whose layers are the given tar files, compressed
 * with the `gzip` or `zstd` CLI at level 1 (in parallel: one process per layer, two at a time).
 */
export function writeOciLayout(dir, ref, layerFiles, compression) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layers = [];
  for (const l of layerFiles) {
    const tmp = path.join(dir, `tmp-${path.basename(l.file)}`);
    const cmd = compression === 'gzip' ? ['gzip', ['-1', '-n', '-c', l.file]] : ['zstd', ['-1', '-q', '-c', '--no-check', l.file]];
    const fd = fs.openSync(tmp, 'w');
    const r = spawnSync(cmd[0], cmd[1], { stdio: ['ignore', fd, 'inherit'] });
    fs.closeSync(fd);
    if (r.status !== 0) throw new Error(`${cmd[0]} failed on ${l.file}`);
    const hex = hashFile(tmp);
    const size = fs.statSync(tmp).size;
    const blob = path.join(dir, 'blobs', 'sha256', hex);
    fs.renameSync(tmp, blob);
    layers.push({ hex, size, diffId: l.diffId, blob, tarSize: l.size });
  }
  const { m, config, manifest } = putImage(
    dir,
    layers.map((l) => l.diffId),
    `${dir}:${compression}`,
    layers.map((l) => ({ mediaType: compression === 'gzip' ? MT.layerGzip : MT.layerZstd, digest: `sha256:${l.hex}`, size: l.size })),
  );
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.index,
      manifests: [{ mediaType: MT.manifest, digest: `sha256:${m.hex}`, size: m.size, annotations: { 'org.opencontainers.image.ref.name': ref } }],
    }),
  );
  return { dir, layers, bytes: layers.reduce((n, l) => n + l.size, 0) + config.length + manifest.length };
}

/**
 * A store-shaped OCI layout with `images` images of 10 layers each, written blob by blob
 * (configs, manifests, tiny fake layers; no tar content). Layers 0-1 come from a pool of 20
 * shared bases, 2-4 from a pool of 500, 5-9 are unique, so the report has real sharing.
 */
export function writeManifestOnlyStore(dir, images, seed = 'report') {
  fs.rmSync(dir, { recursive: true, force: true });
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const rnd = new RandomStream(`${seed}:${images}`);
  const layerHex = new Map();
  const layer = (key) => {
    let l = layerHex.get(key);
    if (!l) {
      const bytes = Buffer.concat([tarHeader(`fake/${key}`, { size: 0 }), rnd.bytes(64)]);
      l = putBlob(dir, bytes);
      layerHex.set(key, l);
    }
    return l;
  };
  const manifests = [];
  for (let i = 0; i < images; i++) {
    const ls = [];
    for (let j = 0; j < 10; j++) ls.push(layer(j < 2 ? `base-${(i * 7 + j) % 20}` : j < 5 ? `mid-${(i * 13 + j) % 500}` : `img-${i}-${j}`));
    const { m } = putImage(
      dir,
      ls.map((l) => l.hex),
      `${seed}:${i}`,
      ls.map((l) => ({ mediaType: MT.layer, digest: `sha256:${l.hex}`, size: l.size })),
    );
    manifests.push({
      mediaType: MT.manifest,
      digest: `sha256:${m.hex}`,
      size: m.size,
      annotations: { 'org.opencontainers.image.ref.name': `bench/app-${i}:1.0` },
    });
  }
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests }, null, 2));
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}\n');
  return { dir, images, blobs: layerHex.size + 2 * images };
}
