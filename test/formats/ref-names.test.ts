import { describe, expect, it } from 'vitest';
import { LayerstoreError } from '../../src/errors.js';
import {
  checkRef,
  familiar,
  fullyQualified,
  isValidRef,
  normalizeRepository,
  normalizeUserRef,
  repositoryFromInputName,
  repositoryOf,
} from '../../src/formats/ref-names.js';
import { parseRemoteRef } from '../../src/registry/reference.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('fullyQualified', () => {
  it.each([
    ['alpine:3.19', 'docker.io/library/alpine:3.19'],
    ['acme/api:1.0', 'docker.io/acme/api:1.0'],
    ['acme/team/api:1.0', 'docker.io/acme/team/api:1.0'],
    ['docker.io/library/alpine:3.19', 'docker.io/library/alpine:3.19'],
    ['docker.io/alpine:3.19', 'docker.io/library/alpine:3.19'],
    ['ghcr.io/owner/app:v2', 'ghcr.io/owner/app:v2'],
    ['localhost/app:dev', 'localhost/app:dev'],
    ['localhost:5000/app:dev', 'localhost:5000/app:dev'],
    ['registry.example.com:5000/team/app:1', 'registry.example.com:5000/team/app:1'],
    [`acme/api@${D}`, `docker.io/acme/api@${D}`],
    [`alpine:3@${D}`, `docker.io/library/alpine:3@${D}`],
    ['my_app:1', 'docker.io/library/my_app:1'],
    ['a-b.c__d:latest', 'docker.io/library/a-b.c__d:latest'],
  ])('%s -> %s', (ref, want) => {
    expect(fullyQualified(ref)).toBe(want);
  });

  it.each([
    ['alpine'], // no tag or digest
    ['acme/api'],
    ['localhost:5000/app'], // the colon is the port, not a tag
    ['v1'],
    ['Alpine:1'], // uppercase repository
    ['acme/API:1'],
    [':1'],
    ['-bad:1'],
    ['a//b:1'],
  ])('%s -> undefined', (ref) => {
    expect(fullyQualified(ref)).toBeUndefined();
  });
});

describe('familiar', () => {
  it.each([
    ['docker.io/library/alpine:3.19', 'alpine:3.19'],
    ['docker.io/acme/api:1.0', 'acme/api:1.0'],
    ['docker.io/library/alpine', 'alpine'],
    ['docker.io/library/team/app:1', 'library/team/app:1'], // only single-component library names lose the prefix
    ['ghcr.io/owner/app:v2', 'ghcr.io/owner/app:v2'],
    ['localhost:5000/app:dev', 'localhost:5000/app:dev'],
    ['alpine:3.19', 'alpine:3.19'],
  ])('%s -> %s', (full, want) => {
    expect(familiar(full)).toBe(want);
  });

  it('undoes fullyQualified for Docker Hub names', () => {
    for (const ref of ['alpine:3.19', 'acme/api:1.0', 'ghcr.io/owner/app:v2', `acme/api@${D}`]) {
      expect(familiar(fullyQualified(ref)!)).toBe(ref);
    }
  });
});

describe('isValidRef (OCI org.opencontainers.image.ref.name grammar)', () => {
  it.each([
    ['v1'],
    ['latest'],
    ['1.0'],
    ['acme/api:1.0'],
    ['docker.io/library/alpine:3.19'],
    ['localhost:5000/app:dev'],
    ['a--b'],
    ['a_b.c-d+e@f:g'],
    [`acme/api@${D}`],
    ['x'.repeat(512)],
  ])('%s is valid', (ref) => {
    expect(isValidRef(ref)).toBe(true);
  });

  it.each([[''], ['/a'], ['a/'], ['a//b'], ['a b'], ['-a'], ['a-'], ['a__b'], ['a---b'], ['a:'], ['a\nb'], ['ü'], ['x'.repeat(513)]])(
    '%j is invalid',
    (ref) => {
      expect(isValidRef(ref)).toBe(false);
    },
  );
});

describe('checkRef and repositoryOf', () => {
  it('checkRef returns a valid ref and refuses others with E_MANIFEST_INVALID', () => {
    expect(checkRef('acme/api:1.0', 'RepoTags')).toBe('acme/api:1.0');
    for (const bad of ['Bad Tag!', '', 5, null]) {
      let err: unknown;
      try {
        checkRef(bad, 'RepoTags');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LayerstoreError);
      expect((err as LayerstoreError).code).toBe('E_MANIFEST_INVALID');
    }
  });
  it.each([
    ['acme/api:1.0', 'acme/api'],
    ['alpine:3', 'alpine'],
    ['localhost:5000/app:dev', 'localhost:5000/app'],
    [`acme/api:1@${D}`, 'acme/api'],
    ['v1', undefined],
    ['alpine', undefined],
  ])('repositoryOf(%s) = %s', (ref, want) => {
    expect(repositoryOf(ref)).toBe(want);
  });
});

describe("normalizeUserRef: docker's grammar and defaults", () => {
  it.each([
    ['alpine', 'alpine:latest'],
    ['alpine:3.19', 'alpine:3.19'],
    ['docker.io/library/alpine:3.19', 'alpine:3.19'],
    ['docker.io/corp/api', 'corp/api:latest'],
    ['index.docker.io/library/y:2', 'y:2'], // Docker Hub's legacy name, as docker normalizes it
    ['index.docker.io/corp/api', 'corp/api:latest'],
    ['corp/api', 'corp/api:latest'],
    ['localhost:5000/a/b', 'localhost:5000/a/b:latest'],
    ['registry.example.com/team/app:v1.2_3-rc', 'registry.example.com/team/app:v1.2_3-rc'],
    [`corp/api@sha256:${'0'.repeat(64)}`, `corp/api@sha256:${'0'.repeat(64)}`],
  ])('%s -> %s', (input, want) => {
    expect(normalizeUserRef(input, 'ref')).toBe(want);
  });

  it.each(['MyOrg/App:1', 'Bad Ref!!', 'corp/api:.x', `corp/api:${'t'.repeat(129)}`, 'corp/api@sha256:abc', '', 'corp//api', '-corp/api'])(
    '%s is E_USAGE',
    (input) => {
      expect(() => normalizeUserRef(input, 'ref')).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    },
  );
});

describe('one ref grammar: user refs and remote refs accept the same tags and repository names', () => {
  const tags = ['1.0', 'latest', '_x', 'A-b.C_d', 'x'.repeat(128), 'x'.repeat(129), '.hidden', '-dash', 'a+b', 'a:b'];
  const repos = ['acme/api', 'a__b', 'a___b', 'a--b', 'a.b', 'a..b', 'Acme/api', 'a/-b'];
  it.each(tags.flatMap((t) => repos.map((r) => `${r}:${t}`)))('%s', (ref) => {
    const user = (() => {
      try {
        normalizeUserRef(ref, 'ref');
        return true;
      } catch {
        return false;
      }
    })();
    const remote = (() => {
      try {
        parseRemoteRef(ref);
        return true;
      } catch {
        return false;
      }
    })();
    expect(remote).toBe(user);
  });
});

describe('repositoryFromInputName (the repository for bare OCI ref names, like ctr --base-name)', () => {
  it.each([
    ['api-layout', 'api-layout'],
    ['api-layout/', 'api-layout'],
    ['/tmp/x/api-layout', 'api-layout'],
    ['My App!.tar', 'my-app'],
    ['alpine.oci.tar.gz', 'alpine'],
    ['image.tgz', 'image'],
    ['app_v2.tar.zst', 'app_v2'],
    ['Release__Candidate..tar', 'release__candidate'],
    ['--weird--name--.oci', 'weird--name'],
    ['ÜBER app.tar', 'ber-app'],
  ])('%s -> %s', (name, want) => {
    expect(repositoryFromInputName(name)).toBe(want);
  });

  it.each([['!!!.tar'], ['.tar'], ['---'], ['日本.tar']])('%s -> undefined (nothing valid remains)', (name) => {
    expect(repositoryFromInputName(name)).toBeUndefined();
  });

  it('what it returns is always a valid repository, capped at 255 characters', () => {
    for (const name of ['a'.repeat(400), `${'x.'.repeat(200)}tar`, 'A B C', 'a..b', 'a---b', 'a_._b']) {
      const r = repositoryFromInputName(name);
      expect(r, name).toBeDefined();
      expect(r!.length).toBeLessThanOrEqual(255);
      expect(normalizeUserRef(`${r}:t`, 'ref')).toBe(`${r}:t`);
    }
  });
});

describe('normalizeRepository (--repo)', () => {
  it.each([
    ['corp/api', 'corp/api'],
    ['docker.io/library/api', 'api'],
    ['localhost:5000/team/app', 'localhost:5000/team/app'],
  ])('%s -> %s', (input, want) => {
    expect(normalizeRepository(input, '--repo')).toBe(want);
  });

  it.each([['Corp/API'], ['corp/api:1'], [`corp/api@${D}`], ['bad repo']])('%s is E_USAGE', (input) => {
    expect(() => normalizeRepository(input, '--repo')).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
  });
});
