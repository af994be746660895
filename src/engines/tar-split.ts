import { createReadStream, constants as C, promises as fsp } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { createGunzip } from 'node:zlib';
import { LayerstoreError } from '../errors.js';

/** Bytes read from a layer's file at a time. */
const CHUNK = 1024 * 1024;

/**
 * One line of a tar-split file (vbatts/tar-split's storage.Entry): a segment (type 2) is raw
 * tar bytes (headers, padding, the end marker) in `payload`; a file (type 1) is `size` bytes
 * of the file `name` (or `name_raw`, base64, when the name is not UTF-8), read from the layer's
 * directory. Base64 fields are Go's encoding of []byte.
 */
interface TarSplitEntry {
  type: number;
  name?: string;
  name_raw?: string;
  size?: number;
  payload?: string | null;
}

/** The tar-split lines of a layer, one parsed entry at a time (memory: one line). */
async function* tarSplitEntries(tarSplitGz: string): AsyncGenerator<TarSplitEntry> {
  const lines = readline.createInterface({ input: createReadStream(tarSplitGz).pipe(createGunzip()), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line === '') continue;
    let e: TarSplitEntry;
    try {
      e = JSON.parse(line) as TarSplitEntry;
    } catch {
      throw new LayerstoreError('E_ENGINE', `${tarSplitGz} line ${n} is not JSON`);
    }
    yield e;
  }
}

/**
 * The exact uncompressed tar of a containers/storage layer, rebuilt as c/storage's own
 * `Diff` does: the raw header bytes from `<layer>.tar-split.gz`, each file's bytes from
 * `filesDir` (vfs: vfs/dir/<id>, overlay: overlay/<id>/diff). Streamed: memory is one line
 * and one chunk. A file that is missing, not a regular file or of another size than the tar
 * recorded stops it with an error naming the file; the caller checks the digest of the whole.
 */
export async function* rebuildLayerTar(tarSplitGz: string, filesDir: string): AsyncGenerator<Buffer> {
  // The parent directory last checked to resolve inside filesDir (files come grouped by directory).
  let checkedDir = '';
  const root = await fsp.realpath(filesDir).catch((e: NodeJS.ErrnoException) => {
    throw new LayerstoreError('E_ENGINE', `the layer's files are not there: ${filesDir} (${e.code ?? e.message})`);
  });
  for await (const e of tarSplitEntries(tarSplitGz)) {
    if (e.type === 2) {
      if (e.payload) yield Buffer.from(e.payload, 'base64');
      continue;
    }
    if (e.type !== 1) throw new LayerstoreError('E_ENGINE', `${tarSplitGz}: an entry of unknown type ${e.type}`);
    const size = e.size ?? 0;
    if (size === 0) continue;
    const name = e.name_raw ? Buffer.from(e.name_raw, 'base64').toString('latin1') : (e.name ?? '');
    const rel = path.posix.normalize(`/${name}`).slice(1);
    if (rel === '' || rel.startsWith('../'))
      throw new LayerstoreError('E_UNSAFE_PATH', `${tarSplitGz}: the file entry ${JSON.stringify(name)} escapes the layer`);
    const file = path.join(root, rel);
    const dir = path.dirname(file);
    if (dir !== checkedDir) {
      // A symlinked directory inside the layer's files must not lead the read outside them.
      const real = await fsp.realpath(dir).catch(() => '');
      if (real !== root && !real.startsWith(root + path.sep))
        throw new LayerstoreError('E_DIFFID_MISMATCH', `the layer's file ${JSON.stringify(rel)} is missing or outside ${filesDir}`, { entry: rel });
      checkedDir = dir;
    }
    yield* fileBytes(file, rel, size);
  }
}

async function* fileBytes(file: string, rel: string, size: number): AsyncGenerator<Buffer> {
  const changed = (why: string) =>
    new LayerstoreError(
      'E_DIFFID_MISMATCH',
      `the layer's file ${JSON.stringify(rel)} changed after the layer was stored (${why}), so the layer cannot be rebuilt`,
      { entry: rel, hint: 'the image in containers-storage is damaged; podman pull or load it again' },
    );
  const fh = await fsp.open(file, C.O_RDONLY | C.O_NOFOLLOW).catch((e: NodeJS.ErrnoException) => {
    throw changed(e.code === 'ENOENT' ? 'was removed' : e.code === 'ELOOP' ? 'it is a symlink now' : `unreadable: ${e.code ?? e.message}`);
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw changed('not a regular file now');
    if (st.size !== size) throw changed(`${st.size} bytes, not ${size}`);
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, left));
      const { bytesRead } = await fh.read(buf, 0, buf.length, size - left);
      if (bytesRead === 0) throw changed('it shrank while read');
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
