import { promises as fsp } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import bcrypt from 'bcryptjs';
import { LayerstoreError } from '../errors.js';

/**
 * HTTP basic auth against an htpasswd file of bcrypt hashes, as distribution's htpasswd
 * auth does (`htpasswd -Bbn user password`). Other hash kinds are refused at load time.
 */
export class Htpasswd {
  private constructor(private readonly users: Map<string, string>) {}

  static async load(file: string): Promise<Htpasswd> {
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (e) {
      throw new LayerstoreError('E_USAGE', `cannot read htpasswd file ${file}: ${(e as Error).message}`);
    }
    const users = new Map<string, string>();
    for (const [i, raw] of text.split('\n').entries()) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const colon = line.indexOf(':');
      const hash = line.slice(colon + 1);
      if (colon <= 0 || !/^\$2[aby]\$\d\d\$.{53}$/.test(hash)) {
        throw new LayerstoreError('E_USAGE', `${file} line ${i + 1} is not user:bcrypt-hash (make it with htpasswd -B)`);
      }
      users.set(line.slice(0, colon), hash.replace(/^\$2y\$/, '$2b$'));
    }
    if (users.size === 0) throw new LayerstoreError('E_USAGE', `${file} has no users`);
    return new Htpasswd(users);
  }

  /** Whether the request carries valid basic credentials. */
  async check(req: IncomingMessage): Promise<boolean> {
    const h = req.headers.authorization;
    if (!h || !h.toLowerCase().startsWith('basic ')) return false;
    const b64 = h.slice(6).trim();
    // Node's base64 decoder skips characters it does not know and stops at padding; take
    // only canonical base64 (RFC 7617), so "user:pass" followed by junk is not accepted.
    if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return false;
    const decoded = Buffer.from(b64, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const hash = this.users.get(decoded.slice(0, colon));
    if (!hash) return false;
    return bcrypt.compare(decoded.slice(colon + 1), hash);
  }
}

/** 127.0.0.0/8, ::1 and "localhost": a listener only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}
