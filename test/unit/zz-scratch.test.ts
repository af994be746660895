import { it } from 'vitest';
import { Readable } from 'node:stream';
import { rawTar } from '../helpers/make-tar.js';
import { readTarEntries } from '../../src/archive/tar-entries.js';

function pax(fields: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) {
    const body = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(body);
    let total = len + String(len).length;
    if (String(total).length !== String(len).length) total = len + String(total).length;
    parts.push(Buffer.from(`${total}${body}`));
  }
  return Buffer.concat(parts);
}
async function list(buf: Buffer) {
  const out: any[] = [];
  try {
    for await (const e of readTarEntries(Readable.from([buf]))) {
      const chunks: Buffer[] = [];
      for await (const c of e.body) chunks.push(c);
      out.push({ name: e.name, raw: e.rawName, type: e.type, size: e.size, link: e.linkname, body: Buffer.concat(chunks).toString().slice(0, 20) });
    }
  } catch (err: any) { out.push('ERR ' + err.code + ' ' + err.message); }
  return out;
}
it('x', async () => {
  console.log(await list(rawTar([{ name: 'PaxHeader', typeflag: 'x', body: pax({ path: 'a\0b' }) }, { name: 'short', body: 'hello' }])));
  console.log(await list(rawTar([{ name: 'PaxHeader', typeflag: 'x', body: pax({ path: '../escape' }) }, { name: 'short', body: 'hello' }])));
  console.log(await list(rawTar([{ name: 'PaxHeader', typeflag: 'x', body: pax({ size: '3' }) }, { name: 'short', body: 'hello', declaredSize: 9 }])));
  console.log(await list(rawTar([{ name: '././@LongLink', typeflag: 'L', body: '../' + 'x'.repeat(120) + '\0' }, { name: 'short', body: 'hello' }])));
  console.log(await list(rawTar([{ name: 'lnk', type: 'symlink', linkname: 'x' }, { name: 'PaxHeader', typeflag: 'x', body: pax({ linkpath: '/etc/passwd' }) }, { name: 'lnk2', type: 'symlink', linkname: 'y' }])));
  console.log(await list(rawTar([{ name: 'PaxHeader', typeflag: 'g', body: pax({ comment: 'hi' }) }, { name: 'a', body: 'hello' }])));
});
