/**
 * Several matching credentials, tried the way kubelet tries them: the order (findCredentials), the
 * next one after a refusal, anonymous only when none matches, caches that never answer a lookup
 * from data another credential fetched, one flight for identical lookups, one deadline for the
 * whole sequence. A fake transport; the real registry is in test/integration/registry.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  credentialLabel,
  findCredentials,
  parseDockerConfigJson,
  type CredentialSource,
  type CredentialSourceKind,
} from '../../../webhook/src/registry/oci/docker-config.ts';
import { RegistryError } from '../../../webhook/src/registry/oci/errors.ts';
import { ImageConfigLookup } from '../../../webhook/src/registry/oci/image-config-lookup.ts';
import type { LookupEvent } from '../../../webhook/src/registry/oci/lookup-events.ts';
import type {
  HttpRequest,
  HttpResponse,
  Transport,
} from '../../../webhook/src/registry/oci/transport.ts';
import { digest, imageConfig, ociManifest } from './images.ts';

const b64 = (text: string): string => Buffer.from(text).toString('base64');

const CANARY = 'canary-password-9f2c';

function source(
  name: string,
  kind: CredentialSourceKind | undefined,
  auths: Record<string, string>,
): CredentialSource {
  const entries = Object.fromEntries(
    Object.entries(auths).map(([key, user]) => [key, { auth: b64(`${user}:${CANARY}-${user}`) }]),
  );
  const parsed = parseDockerConfigJson(name, JSON.stringify({ auths: entries }));
  return kind === undefined ? parsed : { ...parsed, kind };
}

const userOf = (request: HttpRequest): string | undefined => {
  const header = request.headers['authorization'];
  if (header === undefined || !header.startsWith('Basic ')) return undefined;
  return Buffer.from(header.slice(6), 'base64').toString().split(':')[0];
};

/**
 * `r.example/app:v1` readable by `accepted` users only: Basic auth, or with `bearer` a token service
 * at auth.example that refuses unknown users with 401 (as distribution's token services do).
 * Basic users in `forbidden` get 403 instead of 401. `refuseDelayMs` delays every refusal.
 */
function fakeRegistry(options: {
  accepted: string[];
  forbidden?: string[];
  bearer?: boolean;
  refuseDelayMs?: number;
}) {
  const config = imageConfig({ Entrypoint: ['/e'] });
  const manifest = ociManifest(config);
  const log: HttpRequest[] = [];
  const respond = (
    status: number,
    body = Buffer.alloc(0),
    headers: Record<string, string> = {},
  ): HttpResponse => ({ status, headers, body });
  const refuse = async (request: HttpRequest, response: HttpResponse): Promise<HttpResponse> => {
    if (options.refuseDelayMs !== undefined) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, options.refuseDelayMs);
        request.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(request.signal.reason as Error);
        });
      });
    }
    return response;
  };
  const transport: Transport = async (request) => {
    log.push(request);
    const user = userOf(request);
    if (request.url.host === 'auth.example') {
      if (user !== undefined && !options.accepted.includes(user)) {
        return refuse(request, respond(401, Buffer.from('{"details":"bad credentials"}')));
      }
      const token = user === undefined ? 'anonymous' : `T-${user}`;
      return respond(200, Buffer.from(JSON.stringify({ token, expires_in: 300 })));
    }
    const authorization = request.headers['authorization'] ?? '';
    const allowed = options.bearer
      ? options.accepted.some((u) => authorization === `Bearer T-${u}`)
      : user !== undefined && options.accepted.includes(user);
    if (!allowed) {
      const challenge = options.bearer
        ? 'Bearer realm="https://auth.example/token",service="r.example"'
        : 'Basic realm="r.example"';
      // A known user without access to the repository: 403, as registries answer it.
      const status = user !== undefined && options.forbidden?.includes(user) ? 403 : 401;
      const response = respond(status, Buffer.alloc(0), { 'www-authenticate': challenge });
      return authorization === '' ? response : refuse(request, response);
    }
    if (request.url.pathname === '/v2/app/manifests/v1') {
      return respond(200, manifest, {
        'docker-content-digest': digest(manifest),
        'content-type': 'application/vnd.oci.image.manifest.v1+json',
      });
    }
    if (request.url.pathname === `/v2/app/blobs/${digest(config)}`) return respond(200, config);
    return respond(404);
  };
  /** Users whose credentials reached the registry or its token service, in order, once per run. */
  const usersTried = (): string[] =>
    log.map(userOf).filter((u, i, all): u is string => u !== undefined && all[i - 1] !== u);
  return { transport, log, usersTried };
}

async function rejection(promise: Promise<unknown>): Promise<RegistryError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RegistryError, String(error));
    return error;
  }
  return assert.fail('expected a RegistryError');
}

describe('findCredentials: kubelet’s order', () => {
  const image = ['r.example', 'team/app'] as const;
  const labels = (sources: CredentialSource[]) =>
    findCredentials(sources, ...image).map((found) => [
      credentialLabel(found),
      found.credential.username,
    ]);

  it('the pod’s keyring (most specific key first, then the secrets’ order), the service account’s, the default', () => {
    assert.deepEqual(
      labels([
        source('secret ns/a', 'pod', { 'r.example': 'a-host', 'other.example': 'a-other' }),
        source('secret ns/b', 'pod', { 'r.example/team': 'b-team', 'r.example': 'b-host' }),
        source('secret ns/c', 'service account', { 'https://r.example': 'c-host' }),
        source('default docker config /x', 'default', { 'r.example': 'd-host' }),
      ]),
      [
        ['pod secret ns/b', 'b-team'],
        ['pod secret ns/a', 'a-host'],
        ['pod secret ns/b', 'b-host'],
        ['service account secret ns/c', 'c-host'],
        ['default', 'd-host'],
      ],
    );
  });

  it('a source without a kind is a keyring of its own (its matches before the next source’s)', () => {
    assert.deepEqual(
      labels([
        source('first', undefined, { 'r.example': 'first-host' }),
        source('second', undefined, { 'r.example/team': 'second-team' }),
      ]),
      [
        ['first', 'first-host'],
        ['second', 'second-team'],
      ],
    );
  });

  it('a credential equal to an earlier one is left out; no match is an empty list', () => {
    assert.deepEqual(
      labels([
        source('secret ns/a', 'pod', { 'r.example': 'same' }),
        source('secret ns/b', 'service account', { 'r.example': 'same', '*.other.example': 'x' }),
        source('secret ns/c', 'service account', { 'r.example': 'other' }),
      ]),
      [
        ['pod secret ns/a', 'same'],
        ['service account secret ns/c', 'other'],
      ],
    );
    assert.deepEqual(findCredentials([source('s', 'pod', { 'x.example': 'u' })], ...image), []);
  });
});

describe('ImageConfigLookup: every matching credential in turn', () => {
  const image = 'r.example/app:v1';
  const stale = source('secret team-a/stale', 'pod', { 'r.example': 'stale' });
  const stale2 = source('secret team-a/stale2', 'pod', { 'r.example': 'stale2' });
  const good = source('secret team-a/good', 'service account', { 'r.example': 'good' });

  function lookupOver(registry: ReturnType<typeof fakeRegistry>, timeoutMs = 2000) {
    const events: LookupEvent[] = [];
    const lookup = new ImageConfigLookup({
      transport: registry.transport,
      timeoutMs,
      onLookup: (e) => events.push(e),
    });
    return { lookup, events };
  }

  for (const bearer of [false, true]) {
    const mode = bearer ? 'Bearer token service' : 'Basic';
    it(`${mode}: a stale pod secret, then the service account’s good one answers`, async () => {
      const registry = fakeRegistry({ accepted: ['good'], bearer });
      const { lookup, events } = lookupOver(registry);
      const result = await lookup.resolveCommand({ image, credentials: [stale, good] });
      assert.deepEqual(result.argv, ['/e']);
      assert.deepEqual(registry.usersTried(), ['stale', 'good']);
      assert.equal(events[0]?.credentialSource, 'service account secret team-a/good');
      assert.equal(events[0]?.credentialsTried, 2);
      assert.equal(events[0]?.result, 'success');
    });

    it(`${mode}: all refused is one unauthorized error naming the count, never anonymous after`, async () => {
      const registry = fakeRegistry({ accepted: ['good'], bearer });
      const { lookup, events } = lookupOver(registry);
      const error = await rejection(lookup.lookup({ image, credentials: [stale, stale2] }));
      assert.equal(error.code, 'unauthorized');
      assert.match(error.message, /not authorized: 2 credentials tried, none accepted: /);
      assert.match(error.message, /credentials from pod secret team-a\/stale;.*team-a\/stale2$/);
      assert.ok(!error.message.includes(CANARY), error.message);
      assert.deepEqual(registry.usersTried(), ['stale', 'stale2']);
      // Each refused credential was sent once: the same one again would only be refused again.
      for (const user of ['stale', 'stale2']) {
        assert.equal(registry.log.filter((r) => userOf(r) === user).length, 1, user);
      }
      // Nothing was sent after the second refusal (no anonymous try).
      assert.equal(userOf(registry.log.at(-1) as HttpRequest), 'stale2');
      assert.equal(events[0]?.credentialSource, 'pod secret team-a/stale2');
      assert.equal(events[0]?.credentialsTried, 2);
      assert.ok(!JSON.stringify(events).includes(CANARY));
    });
  }

  it('a 403 moves on like a 401', async () => {
    const registry = fakeRegistry({ accepted: ['good'], forbidden: ['stale'] });
    const { lookup, events } = lookupOver(registry);
    await lookup.lookup({ image, credentials: [stale, good] });
    assert.deepEqual(registry.usersTried(), ['stale', 'good']);
    assert.equal(registry.log.filter((r) => userOf(r) === 'stale').length, 1);
    assert.equal(events[0]?.credentialsTried, 2);
  });

  it('anonymous only when no credential matches', async () => {
    const registry = fakeRegistry({ accepted: [], bearer: true });
    const { lookup, events } = lookupOver(registry);
    const other = source('secret team-a/other', 'pod', { 'other.example': 'x' });
    const error = await rejection(lookup.lookup({ image, credentials: [other] }));
    assert.equal(error.code, 'unauthorized');
    assert.deepEqual(registry.usersTried(), []);
    assert.equal(events[0]?.credentialSource, 'anonymous');
    assert.equal(events[0]?.credentialsTried, 1);
    assert.doesNotMatch(error.message, /credentials tried/);
  });

  it('a failure that is not a refusal stops the sequence', async () => {
    const registry = fakeRegistry({ accepted: ['stale', 'good'] });
    const { lookup } = lookupOver(registry);
    const error = await rejection(
      lookup.lookup({ image: 'r.example/app:missing', credentials: [stale, good] }),
    );
    assert.equal(error.code, 'not_found');
    assert.deepEqual(registry.usersTried(), ['stale']);
  });

  it('caches answer only a lookup with the credential that fetched the data', async () => {
    const registry = fakeRegistry({ accepted: ['good'] });
    const { lookup, events } = lookupOver(registry);
    await lookup.lookup({ image, credentials: [stale, good] });
    const sent = registry.log.length;

    // The good credential is among this lookup's: answered from the cache, no request.
    const again = await lookup.lookup({ image, credentials: [stale2, good] });
    assert.equal(again.cacheHit, true);
    assert.equal(registry.log.length, sent);
    assert.equal(events[1]?.credentialSource, 'service account secret team-a/good');
    assert.equal(events[1]?.credentialsTried, 0);

    // Only the stale one: the registry is asked, and refuses.
    const error = await rejection(lookup.lookup({ image, credentials: [stale] }));
    assert.equal(error.code, 'unauthorized');
    assert.ok(registry.log.length > sent);
    assert.match(error.message, /1 credential tried, none accepted/);
  });

  it('identical lookups in flight share one sequence of requests', async () => {
    const registry = fakeRegistry({ accepted: ['good'] });
    const { lookup, events } = lookupOver(registry);
    const single = fakeRegistry({ accepted: ['good'] });
    await lookupOver(single).lookup.lookup({ image, credentials: [stale, good] });

    await Promise.all(
      Array.from({ length: 5 }, () => lookup.lookup({ image, credentials: [stale, good] })),
    );
    assert.equal(registry.log.length, single.log.length);
    assert.equal(events.filter((e) => e.shared).length, 4);
    assert.ok(events.every((e) => e.credentialSource === 'service account secret team-a/good'));
  });

  it('a different list of credentials does not join the flight', async () => {
    const registry = fakeRegistry({ accepted: ['good'] });
    const { lookup, events } = lookupOver(registry);
    const results = await Promise.allSettled([
      lookup.lookup({ image, credentials: [stale, good] }),
      lookup.lookup({ image, credentials: [stale] }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected'],
    );
    assert.equal(events.filter((e) => e.shared).length, 0);
  });

  it('the timeout bounds the whole sequence, not each credential', async () => {
    // Each refusal takes 60% of the budget: per credential, all three would be refused in time;
    // for the sequence, the second one runs out of it and the third is never tried.
    const registry = fakeRegistry({ accepted: [], refuseDelayMs: 300 });
    const { lookup, events } = lookupOver(registry, 500);
    const third = source('secret team-a/third', 'pod', { 'r.example': 'third' });
    const error = await rejection(lookup.lookup({ image, credentials: [stale, stale2, third] }));
    assert.equal(error.code, 'timeout', error.message);
    assert.deepEqual(registry.usersTried(), ['stale', 'stale2']);
    assert.equal(events[0]?.credentialsTried, 2);
  });
});
