/**
 * What docker-daemon: arguments and DOCKER_HOST mean: a bare repository name is NAME:latest
 * (the engine's export of a bare name brings every tag of it), while tags, digests and image
 * IDs stay; tcp://HOST without a port is port 2375, as the docker CLI takes it.
 */
import { describe, expect, it } from 'vitest';
import { withDefaultTag } from '../../src/engines/docker-daemon.js';
import { engineEndpoint } from '../../src/engines/engine-api.js';

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

describe('DOCKER_HOST', () => {
  it.each([
    ['tcp://127.0.0.1:2376', { host: '127.0.0.1', port: 2376, label: '127.0.0.1:2376' }],
    ['tcp://127.0.0.1', { host: '127.0.0.1', port: 2375, label: '127.0.0.1:2375' }],
    ['tcp://127.0.0.1/', { host: '127.0.0.1', port: 2375, label: '127.0.0.1:2375' }],
    ['tcp://[::1]', { host: '::1', port: 2375, label: '[::1]:2375' }],
    ['tcp://[::1]:2376', { host: '::1', port: 2376, label: '[::1]:2376' }],
    ['unix:///run/d.sock', { socketPath: '/run/d.sock', label: '/run/d.sock' }],
  ])('%s is %j (no port: 2375, as the docker CLI takes it)', (host, want) => {
    expect(engineEndpoint({}, { DOCKER_HOST: host })).toEqual(want);
  });

  it('anything else is E_USAGE', () => {
    expect(() => engineEndpoint({}, { DOCKER_HOST: 'ssh://me@host' })).toThrow(/neither unix:\/\/PATH nor tcp:\/\/HOST\[:PORT\]/);
  });
});
