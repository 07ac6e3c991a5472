/**
 * A pod's image must not turn the webhook into a blind SSRF client or port scanner: the realm a
 * 401 names gets the registry's TLS/plain-HTTP rules (and optionally its host), redirects to plain
 * HTTP go only to plain-HTTP registries, and a failed connection is denied in one wording whatever
 * answered (the cause is in the webhook's log only).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImageConfigLookup } from '../../../webhook/src/registry/oci/image-config-lookup.ts';
import type { RegistryError } from '../../../webhook/src/registry/oci/errors.ts';
import type { HttpRequest, Transport } from '../../../webhook/src/registry/oci/transport.ts';

function challenging(realm: string): { transport: Transport; asked: HttpRequest[] } {
  const asked: HttpRequest[] = [];
  const transport: Transport = (request) => {
    asked.push(request);
    return Promise.resolve({
      status: 401,
      headers: { 'www-authenticate': `Bearer realm="${realm}",service="r.example"` },
      body: Buffer.alloc(0),
    });
  };
  return { transport, asked };
}

describe('token realms get the registry’s rules', () => {
  it('a plain-HTTP realm on another host is never asked, even anonymously', async () => {
    const { transport, asked } = challenging('http://10.0.0.5:8080/internal');
    const lookup = new ImageConfigLookup({ transport });
    await assert.rejects(lookup.lookup({ image: 'r.example/app:v1' }), {
      code: 'protocol',
      message:
        /token realm 10\.0\.0\.5:8080 is plain HTTP and not configured as a plain-HTTP registry/,
    });
    assert.deepEqual(
      asked.map((r) => r.url.host),
      ['r.example'],
    );
  });

  it('tokenRealmSameHost: a realm on another host is never asked', async () => {
    const { transport, asked } = challenging('https://metadata.internal/token');
    const lookup = new ImageConfigLookup({ transport, tokenRealmSameHost: true });
    await assert.rejects(lookup.lookup({ image: 'r.example/app:v1' }), {
      code: 'protocol',
      message: /token realm metadata\.internal is not on the registry's host r\.example/,
    });
    assert.deepEqual(
      asked.map((r) => r.url.host),
      ['r.example'],
    );
  });

  it('a plain-HTTP registry may not redirect to a plain-HTTP host not configured as one', async () => {
    const asked: string[] = [];
    const transport: Transport = (request) => {
      asked.push(request.url.href);
      return Promise.resolve({
        status: 307,
        headers: { location: 'http://10.0.0.5:6379/' },
        body: Buffer.alloc(0),
      });
    };
    const lookup = new ImageConfigLookup({ transport, hosts: { 'r.lab': { plainHttp: true } } });
    await assert.rejects(lookup.lookup({ image: 'r.lab/app:v1' }), {
      code: 'protocol',
      message: /r\.lab redirected to plain HTTP 10\.0\.0\.5:6379, not a plain-HTTP registry/,
    });
    assert.deepEqual(asked, ['http://r.lab/v2/app/manifests/v1']);
  });
});

describe('a failed connection is denied in one wording', () => {
  const failures: [string, Error & { code: string }][] = [
    [
      'closed port',
      Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:22'), { code: 'ECONNREFUSED' }),
    ],
    [
      'plain-HTTP port',
      Object.assign(new Error('ssl3_get_record:wrong version number'), { code: 'EPROTO' }),
    ],
    [
      'TLS service',
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
    ],
    ['reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['no such name', Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' })],
  ];
  it('the same message for each; the cause in the detail and the log line only', async () => {
    const messages = new Set<string>();
    const lines: { err?: { detail?: string; message?: string } }[] = [];
    const logger = { info: () => undefined, warn: (obj: object) => void lines.push(obj) };
    for (const [name, cause] of failures) {
      const lookup = new ImageConfigLookup({ transport: () => Promise.reject(cause), logger });
      const error = (await lookup
        .lookup({ image: 'r.example/app:v1' })
        .catch((e: unknown) => e)) as RegistryError;
      assert.equal(error.code, 'unreachable', name);
      messages.add(error.message);
      assert.equal(error.detail?.includes(cause.message), true, name);
    }
    assert.deepEqual(
      [...messages],
      [
        'image "r.example/app:v1" (registry r.example): registry unreachable: no registry answered at r.example over HTTPS; if it serves plain HTTP, list it in --registry-plain-http',
      ],
    );
    assert.equal(lines.length, failures.length);
    for (const [index, [name, cause]] of failures.entries()) {
      const err = lines[index]?.err;
      assert.ok(err?.detail?.includes(cause.code), name);
      assert.ok(!err?.message?.includes(cause.code), name);
    }
  });
});
