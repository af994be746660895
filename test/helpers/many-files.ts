/**
 * An OCI layout directory holding one image whose single gzip layer has `n` empty regular
 * files (40 to a directory): the shape that makes a file index big for few bytes. Written
 * as a stream (headers through gzip to the blob file), never whole in memory.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { rawHeader } from './make-tar.js';

export async function manyEmptyFilesLayout(dir: string, n: number, ref = 'big/many:1'): Promise<{ files: number }> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const tmp = path.join(dir, 'layer.tmp');
  const out = createWriteStream(tmp);
  const gz = zlib.createGzip({ level: 1 });
  const blobHash = createHash('sha256');
  const diffHash = createHash('sha256');
  let blobBytes = 0;
  gz.on('data', (c: Buffer) => {
    blobHash.update(c);
    blobBytes += c.length;
  });
  gz.pipe(out);
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
  });
  let batch: Buffer[] = [];
  const put = async (b: Buffer) => {
    diffHash.update(b);
    batch.push(b);
    if (batch.length >= 2048) {
      if (!gz.write(Buffer.concat(batch))) await new Promise((r) => gz.once('drain', r));
      batch = [];
    }
  };
  for (let i = 0; i < n; i++) {
    const d = `usr/share/pkg-${Math.floor(i / 40)}`;
    if (i % 40 === 0) await put(rawHeader({ name: `${d}/`, type: 'dir' }));
    await put(rawHeader({ name: `${d}/file-${i}.txt` }));
  }
  await put(Buffer.alloc(1024));
  gz.end(Buffer.concat(batch));
  await done;
  const layerHex = blobHash.digest('hex');
  renameSync(tmp, path.join(blobs, layerHex));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [`sha256:${diffHash.digest('hex')}`] },
      history: [{ created_by: 'many files' }],
    }),
  );
  const configHex = createHash('sha256').update(config).digest('hex');
  writeFileSync(path.join(blobs, configHex), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${layerHex}`, size: blobBytes }],
    }),
  );
  const manifestHex = createHash('sha256').update(manifest).digest('hex');
  writeFileSync(path.join(blobs, manifestHex), manifest);
  writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${manifestHex}`,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': ref },
        },
      ],
    }),
  );
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return { files: n };
}
