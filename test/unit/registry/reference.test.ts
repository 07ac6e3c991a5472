import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatImageReference,
  normaliseRegistryHost,
  parseImageReference,
  registryApiHost,
} from '../../../webhook/src/registry/oci/reference.ts';
import { RegistryError } from '../../../webhook/src/registry/oci/errors.ts';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseImageReference: normalised forms', () => {
  const table: [string, string][] = [
    ['nginx', 'docker.io/library/nginx:latest'],
    ['nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['library/nginx', 'docker.io/library/nginx:latest'],
    ['docker.io/nginx', 'docker.io/library/nginx:latest'],
    ['index.docker.io/foo/bar:1', 'docker.io/foo/bar:1'],
    ['registry-1.docker.io/foo', 'docker.io/library/foo:latest'],
    ['registry-1.docker.io/library/nginx:1', 'docker.io/library/nginx:1'],
    [`index.docker.io/library/nginx@${D}`, `docker.io/library/nginx@${D}`],
    ['docker.io/library/nginx', 'docker.io/library/nginx:latest'],
    ['docker.io/bitnami/redis', 'docker.io/bitnami/redis:latest'],
    ['r.example:443/app:1', 'r.example:443/app:1'],
    ['127.0.0.1:5000/team/app', '127.0.0.1:5000/team/app:latest'],
    ['bitnami/redis:7', 'docker.io/bitnami/redis:7'],
    ['ghcr.io/org/team/app:v1.2.3', 'ghcr.io/org/team/app:v1.2.3'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:dev', 'localhost:5000/app:dev'],
    ['Registry.Example:5000/app', 'registry.example:5000/app:latest'],
    ['[::1]:5000/x/y:z', '[::1]:5000/x/y:z'],
    [`app@${D}`, `docker.io/library/app@${D}`],
    [`r.example/app:1@${D}`, `r.example/app:1@${D}`],
    ['a/b__c/d-e.f_g:T_a.g-1', 'docker.io/a/b__c/d-e.f_g:T_a.g-1'],
    ['localhost:5000', 'docker.io/library/localhost:5000'],
  ];
  for (const [input, expected] of table) {
    it(`${input} → ${expected}`, () => {
      assert.equal(formatImageReference(parseImageReference(input)), expected);
    });
  }

  it('a digest reference has no tag; name:tag@digest keeps both', () => {
    const pinned = parseImageReference(`app@${D}`);
    assert.equal(pinned.tag, undefined);
    assert.equal(pinned.digest, D);
    const both = parseImageReference(`app:1@${D}`);
    assert.deepEqual([both.tag, both.digest], ['1', D]);
  });
});

describe('parseImageReference: rejected', () => {
  const table: [string, RegExp][] = [
    ['', /empty/],
    [' nginx', /spaces/],
    ['Nginx', /malformed repository path/],
    ['app:', /malformed tag/],
    ['app:-x', /malformed tag/],
    ['app@sha256:abc', /malformed digest/],
    [`app@sha256:${'A'.repeat(64)}`, /malformed sha256 digest/],
    [`app@md5:${'a'.repeat(32)}`, /unsupported digest algorithm/],
    ['a//b', /malformed repository path/],
    ['r.example/-app', /malformed repository path/],
    [`r.example/${'a'.repeat(300)}`, /longer than 255/],
    ['bad_host.example:99/app', /malformed registry host/],
  ];
  for (const [input, message] of table) {
    it(JSON.stringify(input), () => {
      assert.throws(
        () => parseImageReference(input),
        (error: unknown) =>
          error instanceof RegistryError &&
          error.code === 'invalid_reference' &&
          message.test(error.message),
      );
    });
  }
});

describe('registry hosts', () => {
  it('Docker Hub is served by registry-1.docker.io', () => {
    assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryApiHost('r.example:5000'), 'r.example:5000');
  });
  const table: [string, string][] = [
    ['https://index.docker.io/v1/', 'docker.io'],
    ['docker.io', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['http://R.Example:5000/team', 'r.example:5000'],
    ['ghcr.io', 'ghcr.io'],
  ];
  for (const [input, expected] of table) {
    it(`${input} → ${expected}`, () => assert.equal(normaliseRegistryHost(input), expected));
  }
});
