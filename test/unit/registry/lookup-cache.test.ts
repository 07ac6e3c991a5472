/**
 * The logic around the HTTP layer, with a fake transport: caches, single-flight, redirects, the
 * token dance, abort handling and the lookup event. The real protocol is tested against a real
 * registry in test/integration/registry.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImageConfigLookup } from '../../../webhook/src/registry/oci/image-config-lookup.ts';
import type { LookupEvent } from '../../../webhook/src/registry/oci/lookup-events.ts';
import { LruCache } from '../../../webhook/src/registry/oci/lru.ts';
import { SingleFlight } from '../../../webhook/src/registry/oci/single-flight.ts';
import { parseDockerConfigJson } from '../../../webhook/src/registry/oci/docker-config.ts';
import type {
  HttpRequest,
  HttpResponse,
  Transport,
} from '../../../webhook/src/registry/oci/transport.ts';
import { digest, imageConfig, ociManifest } from './images.ts';

/** A one-image registry: `r.example/app:v1`, optionally behind a Bearer challenge. */
function fakeRegistry(
  options: { bearer?: boolean; delayMs?: number; redirectBlob?: boolean } = {},
) {
  let config = imageConfig({ Entrypoint: ['/e'], Cmd: ['c'] });
  let manifest = ociManifest(config);
  const log: HttpRequest[] = [];
  const transport: Transport = async (request) => {
    log.push(request);
    if (options.delayMs) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, options.delayMs);
        request.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(request.signal.reason as Error);
        });
      });
    }
    const url = request.url;
    const respond = (
      status: number,
      body = Buffer.alloc(0),
      headers: Record<string, string> = {},
    ): HttpResponse => ({ status, headers, body });
    if (url.host === 'auth.example') {
      return respond(200, Buffer.from(JSON.stringify({ token: 'T1', expires_in: 300 })));
    }
    if (url.host === 'storage.example') return respond(200, config);
    if (options.bearer && request.headers['authorization'] !== 'Bearer T1') {
      return respond(401, Buffer.alloc(0), {
        'www-authenticate': 'Bearer realm="https://auth.example/token",service="r.example"',
      });
    }
    if (
      url.pathname === '/v2/app/manifests/v1' ||
      url.pathname === `/v2/app/manifests/${digest(manifest)}`
    ) {
      return respond(200, request.method === 'HEAD' ? Buffer.alloc(0) : manifest, {
        'docker-content-digest': digest(manifest),
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
      });
    }
    if (url.pathname === `/v2/app/blobs/${digest(config)}`) {
      if (options.redirectBlob)
        return respond(307, Buffer.alloc(0), { location: 'https://storage.example/blob?sig=1' });
      return respond(200, config);
    }
    return respond(404);
  };
  return {
    transport,
    log,
    retag(cmd: string) {
      config = imageConfig({ Cmd: [cmd] });
      manifest = ociManifest(config);
    },
  };
}

describe('LruCache', () => {
  it('evicts the least recently used entry', () => {
    const cache = new LruCache<string, number>({ max: 2 });
    cache.set('a', 1);
    cache.set('b', 2);
    cache.get('a');
    cache.set('c', 3);
    assert.deepEqual([cache.get('a'), cache.get('b'), cache.get('c')], [1, undefined, 3]);
  });

  it('expires after the TTL, yet keeps the stale value for revalidation', () => {
    let now = 0;
    const cache = new LruCache<string, number>({ max: 2, ttlMs: 100, now: () => now });
    cache.set('a', 1);
    now = 99;
    assert.equal(cache.get('a'), 1);
    now = 100;
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.peekStale('a'), 1);
  });

  it('rejects a size below 1', () => assert.throws(() => new LruCache({ max: 0 }), RangeError));
});

describe('SingleFlight', () => {
  it('shares one operation between concurrent callers', async () => {
    const flights = new SingleFlight<string, number>();
    let runs = 0;
    const op = async (): Promise<number> => {
      runs += 1;
      await new Promise((r) => setTimeout(r, 10));
      return 42;
    };
    const results = await Promise.all([
      flights.run('k', op),
      flights.run('k', op),
      flights.run('k', op),
    ]);
    assert.equal(runs, 1);
    assert.deepEqual(
      results.map((r) => [r.value, r.shared]),
      [
        [42, false],
        [42, true],
        [42, true],
      ],
    );
    assert.equal(flights.size, 0);
  });

  it('a caller that aborts leaves at once; the operation goes on for the others', async () => {
    const flights = new SingleFlight<string, number>();
    let aborted = false;
    const op = (signal: AbortSignal) =>
      new Promise<number>((resolve) => {
        signal.addEventListener('abort', () => (aborted = true));
        setTimeout(() => resolve(7), 30);
      });
    const controller = new AbortController();
    const first = flights.run('k', op, controller.signal);
    const second = flights.run('k', op);
    controller.abort(new Error('gone'));
    await assert.rejects(first, /gone/);
    assert.equal((await second).value, 7);
    assert.equal(aborted, false);
  });

  it('the operation is aborted when every caller has left', async () => {
    const flights = new SingleFlight<string, number>();
    let aborted = false;
    const op = (signal: AbortSignal) =>
      new Promise<number>((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(new Error('stopped'));
        });
      });
    const controller = new AbortController();
    const pending = flights.run('k', op, controller.signal);
    controller.abort(new Error('gone'));
    await assert.rejects(pending, /gone/);
    assert.equal(aborted, true);
    assert.equal(flights.size, 0);
  });
});

describe('ImageConfigLookup with a fake transport', () => {
  it('caches tag → digest for the TTL, then revalidates with HEAD; the config is kept', async () => {
    let now = 0;
    const fake = fakeRegistry();
    const lookup = new ImageConfigLookup({
      transport: fake.transport,
      tagTtlMs: 1000,
      now: () => now,
    });
    await lookup.lookup({ image: 'r.example/app:v1' });
    assert.deepEqual(
      fake.log.map((r) => r.method),
      ['GET', 'GET'],
    );
    assert.equal((await lookup.lookup({ image: 'r.example/app:v1' })).cacheHit, true);
    assert.equal(fake.log.length, 2);
    now = 1500;
    const again = await lookup.lookup({ image: 'r.example/app:v1' });
    assert.equal(again.cacheHit, false);
    assert.deepEqual(
      fake.log.slice(2).map((r) => r.method),
      ['HEAD'],
    );
  });

  it('a moved tag is followed after the TTL: HEAD, then the new manifest and config', async () => {
    let now = 0;
    const fake = fakeRegistry();
    const lookup = new ImageConfigLookup({
      transport: fake.transport,
      tagTtlMs: 1000,
      now: () => now,
    });
    const first = await lookup.resolveCommand({ image: 'r.example/app:v1' });
    fake.retag('new');
    assert.deepEqual((await lookup.resolveCommand({ image: 'r.example/app:v1' })).argv, [
      '/e',
      'c',
    ]);
    now = 1500;
    const moved = await lookup.resolveCommand({ image: 'r.example/app:v1' });
    assert.deepEqual(moved.argv, ['new']);
    assert.notEqual(moved.digest, first.digest);
    assert.deepEqual(
      fake.log.slice(2).map((r) => `${r.method} ${r.url.pathname.split('/')[3]}`),
      ['HEAD manifests', 'GET manifests', 'GET blobs'],
    );
  });

  it('accepts OCI and Docker schema 2 manifests and indexes (never schema 1), on GET and HEAD', async () => {
    let now = 0;
    const fake = fakeRegistry();
    const lookup = new ImageConfigLookup({
      transport: fake.transport,
      tagTtlMs: 1000,
      now: () => now,
    });
    await lookup.lookup({ image: 'r.example/app:v1' });
    now = 1500;
    await lookup.lookup({ image: 'r.example/app:v1' });
    const manifests = fake.log.filter((r) => r.url.pathname.includes('/manifests/'));
    assert.deepEqual(
      manifests.map((r) => r.method),
      ['GET', 'HEAD'],
    );
    for (const request of manifests) {
      assert.deepEqual(request.headers['accept']?.split(', '), [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
      ]);
    }
  });

  it('20 concurrent identical lookups: one set of requests, 19 shared events', async () => {
    const fake = fakeRegistry({ delayMs: 5 });
    const events: LookupEvent[] = [];
    const lookup = new ImageConfigLookup({
      transport: fake.transport,
      onLookup: (e) => events.push(e),
    });
    await Promise.all(
      Array.from({ length: 20 }, () => lookup.resolveCommand({ image: 'r.example/app:v1' })),
    );
    assert.equal(fake.log.length, 2);
    assert.equal(events.filter((e) => e.shared).length, 19);
    assert.equal(events.filter((e) => e.upstreamRequests === 2).length, 1);
  });

  it('Bearer: one token request, then the token is sent up front', async () => {
    const fake = fakeRegistry({ bearer: true });
    const lookup = new ImageConfigLookup({ transport: fake.transport });
    await lookup.lookup({ image: 'r.example/app:v1' });
    assert.deepEqual(
      fake.log.map((r) => `${r.method} ${r.url.host}${r.url.pathname}`),
      [
        'GET r.example/v2/app/manifests/v1',
        'GET auth.example/token',
        'GET r.example/v2/app/manifests/v1',
        `GET r.example/v2/app/blobs/${fake.log[3]?.url.pathname.split('/').pop()}`,
      ],
    );
    assert.equal(fake.log[1]?.url.searchParams.get('scope'), 'repository:app:pull');
    assert.equal(fake.log[1]?.url.searchParams.get('service'), 'r.example');
    assert.equal(fake.log[3]?.headers['authorization'], 'Bearer T1');
  });

  it('a redirect to another host drops the Authorization header', async () => {
    const fake = fakeRegistry({ redirectBlob: true });
    const creds = parseDockerConfigJson(
      'cfg',
      JSON.stringify({ auths: { 'r.example': { username: 'u', password: 'p' } } }),
    );
    const lookup = new ImageConfigLookup({
      transport: fake.transport,
      defaultCredentials: [creds],
    });
    // No challenge yet: nothing is sent up front; force a known basic challenge by a 401-free run.
    await lookup.lookup({ image: 'r.example/app:v1' });
    const storage = fake.log.find((r) => r.url.host === 'storage.example');
    assert.ok(storage);
    assert.equal(storage.headers['authorization'], undefined);
  });

  it('logs one line per lookup with the facts and no credential', async () => {
    const fake = fakeRegistry({ bearer: true });
    const lines: { level: string; obj: object; msg: string }[] = [];
    const logger = {
      info: (obj: object, msg: string) => lines.push({ level: 'info', obj, msg }),
      warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
    };
    const creds = parseDockerConfigJson(
      'secret ns/regcred',
      JSON.stringify({ auths: { 'r.example': { username: 'u', password: 'hunter2' } } }),
    );
    const lookup = new ImageConfigLookup({
      transport: fake.transport,
      logger,
      defaultCredentials: [creds],
    });
    await lookup.lookup({ image: 'r.example/app:v1' });
    await lookup.lookup({ image: 'r.example/app:v1' });
    await lookup.lookup({ image: 'r.example/missing:v1' }).catch(() => undefined);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg]),
      [
        ['info', 'registry lookup'],
        ['info', 'registry lookup'],
        ['warn', 'registry lookup failed'],
      ],
    );
    assert.deepEqual(
      lines.map((l) => {
        const o = l.obj as LookupEvent;
        return [o.image, o.cacheHit, o.result, o.credentialSource];
      }),
      [
        ['r.example/app:v1', false, 'success', 'secret ns/regcred'],
        ['r.example/app:v1', true, 'success', 'secret ns/regcred'],
        ['r.example/missing:v1', false, 'not_found', 'secret ns/regcred'],
      ],
    );
    assert.match(JSON.stringify(lines[0]?.obj), /"digest":"sha256:[a-f0-9]{64}".*"durationMs":/);
    assert.doesNotMatch(JSON.stringify(lines), /hunter2|T1/);
  });

  it('an invalid reference fails before any request, with its own code', async () => {
    const fake = fakeRegistry();
    const events: LookupEvent[] = [];
    const lookup = new ImageConfigLookup({
      transport: fake.transport,
      onLookup: (e) => events.push(e),
    });
    await assert.rejects(lookup.lookup({ image: 'Bad/Name' }), /invalid image reference/);
    assert.equal(fake.log.length, 0);
    assert.equal(events[0]?.result, 'invalid_reference');
  });
});
