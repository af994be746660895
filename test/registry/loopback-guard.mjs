// Loaded with `node --import` (NODE_OPTIONS) into a CLI child that a test expects NOT to listen
// off loopback: any net.Server.listen on a non-loopback host (or on no host, which means every
// interface) is refused before it binds, and the process exits 99 saying so. A test that sees
// exit 99 knows the CLI tried to listen where it must not, and nothing was exposed.
import net from 'node:net';

const loopback = (h) => {
  const s = String(h)
    .replace(/^\[|\]$/g, '')
    .toLowerCase();
  return s === 'localhost' || s === '::1' || /^127\.\d+\.\d+\.\d+$/.test(s) || s === '::ffff:127.0.0.1';
};

const original = net.Server.prototype.listen;
net.Server.prototype.listen = function guardedListen(...args) {
  let host;
  let isPipe = false;
  const first = args[0];
  if (first !== null && typeof first === 'object') {
    host = first.host;
    isPipe = typeof first.path === 'string';
  } else if (typeof first === 'string' && !/^\d+$/.test(first)) {
    isPipe = true; // a unix socket path
  } else if (typeof args[1] === 'string') {
    host = args[1];
  }
  if (!isPipe && (host === undefined || !loopback(host))) {
    process.stderr.write(`loopback-guard: refused listen on ${host ?? '(all interfaces)'}\n`);
    process.exit(99);
  }
  return original.apply(this, args);
};
