/**
 * Which image `docker-daemon:NAME` asks the engine for: a bare repository name is NAME:latest
 * (the engine's export of a bare name brings every tag of it); tags, digests and image IDs stay.
 */
import { describe, expect, it } from 'vitest';
import { withDefaultTag } from '../../src/engines/docker-daemon.js';

describe('docker-daemon: names', () => {
  it.each([
    ['acme/a', 'acme/a:latest'],
    ['acme/a:1', 'acme/a:1'],
    ['localhost:5000/acme/a', 'localhost:5000/acme/a:latest'],
    ['localhost:5000/acme/a:2', 'localhost:5000/acme/a:2'],
    [`acme/a@sha256:${'a'.repeat(64)}`, `acme/a@sha256:${'a'.repeat(64)}`],
    [`sha256:${'b'.repeat(64)}`, `sha256:${'b'.repeat(64)}`],
    ['3f57d9401f8d', '3f57d9401f8d'],
    ['', ''],
  ])('docker-daemon:%s exports %s', (name, want) => {
    expect(withDefaultTag(name)).toBe(want);
  });
});
