/** Where a Bearer realm may send the lookup: the registry's TLS/plain-HTTP rules, and same-host. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkTokenRealm } from '../../../../webhook/src/registry/oci/auth/token-realm.ts';

const verdict = (check: ReturnType<typeof checkTokenRealm>): string =>
  'url' in check ? `ok ${check.url.href}` : `refused: ${check.refused}`;

describe('checkTokenRealm', () => {
  const rows: [string, string, Parameters<typeof checkTokenRealm>[1], RegExp][] = [
    [
      'https on another host',
      'https://auth.example/token',
      { hosts: {}, registry: 'r.example' },
      /^ok /,
    ],
    [
      'plain HTTP on a host not configured as plain HTTP (anonymous too)',
      'http://10.0.0.5:8080/t',
      { hosts: {}, registry: 'r.example' },
      /refused: token realm 10\.0\.0\.5:8080 is plain HTTP and not configured/,
    ],
    [
      'plain HTTP when only the registry is plain HTTP',
      'http://auth.example/t',
      { hosts: { 'r.example': { plainHttp: true } }, registry: 'r.example' },
      /refused: .*plain HTTP/,
    ],
    [
      'plain HTTP on a host configured as plain HTTP',
      'http://auth.lab:5001/t',
      { hosts: { 'auth.lab:5001': { plainHttp: true } }, registry: 'r.lab' },
      /^ok /,
    ],
    [
      'not a URL',
      'token',
      { hosts: {}, registry: 'r.example' },
      /refused: token realm is not a URL/,
    ],
    [
      'another scheme',
      'file:///etc/passwd',
      { hosts: {}, registry: 'r.example' },
      /refused: token realm scheme file:/,
    ],
    [
      'same host required, another port is fine',
      'https://r.example:5001/t',
      { hosts: {}, registry: 'r.example:5000', sameHost: true },
      /^ok /,
    ],
    [
      'same host required, another host refused',
      'https://169.254.169.254/t',
      { hosts: {}, registry: 'r.example:5000', sameHost: true },
      /refused: token realm 169\.254\.169\.254 is not on the registry's host r\.example/,
    ],
    [
      'same host for Docker Hub is registry-1.docker.io',
      'https://auth.docker.io/token',
      { hosts: {}, registry: 'docker.io', sameHost: true },
      /refused: .*registry-1\.docker\.io/,
    ],
  ];
  for (const [name, realm, rules, expected] of rows) {
    it(name, () => assert.match(verdict(checkTokenRealm(realm, rules)), expected));
  }
});
