/**
 * Registry corners, with a fake registry: an index entry without `platform` (containerd reads the
 * image config's os/architecture), an index pointing to another index, and bodies over the size
 * limits named in the error. Against the real registry: test/integration/registry/corners.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../webhook/src/registry/oci/errors.ts';
import { ImageConfigLookup } from '../../../webhook/src/registry/oci/image-config-lookup.ts';
import {
  BodyTooLargeError,
  type HttpResponse,
  type Transport,
} from '../../../webhook/src/registry/oci/transport.ts';
import { digest } from './images.ts';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** A registry of documents by digest, and `r.example/app:v1` → `top`. */
class FakeRegistry {
  readonly docs = new Map<string, Buffer>();
  readonly fetched: string[] = [];
  top = '';

  add(body: Buffer | Record<string, unknown>): string {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    const d = digest(bytes);
    this.docs.set(d, bytes);
    return d;
  }

  image(entrypoint: string, os: string, architecture: string): string {
    const config = this.add({ os, architecture, config: { Entrypoint: [entrypoint] } });
    return this.add({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: config } });
  }

  index(entries: { digest: string; platform?: Record<string, string> }[]): string {
    const manifests = entries.map((e) => ({ mediaType: OCI_MANIFEST, ...e }));
    return this.add({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
  }

  readonly transport: Transport = (request) => {
    const ref = request.url.pathname.split('/').at(-1) ?? '';
    const key = ref === 'v1' ? this.top : ref;
    this.fetched.push(key);
    const body = this.docs.get(key);
    if (body === undefined) {
      return Promise.resolve({ status: 404, headers: {}, body: Buffer.alloc(0) });
    }
    if (body.length > request.maxBytes)
      return Promise.reject(new BodyTooLargeError(request.maxBytes));
    const response: HttpResponse = { status: 200, headers: { 'docker-content-digest': key }, body };
    return Promise.resolve(response);
  };
}

const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64' };

async function lookupError(registry: FakeRegistry, platform = amd64): Promise<RegistryError> {
  const lookup = new ImageConfigLookup({ transport: registry.transport, platform });
  const error = await lookup.lookup({ image: 'r.example/app:v1' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof RegistryError, String(error));
  return error;
}

describe('an index entry without platform', () => {
  it('is used when its image config has the wanted os/architecture', async () => {
    const r = new FakeRegistry();
    const noPlatform = r.image('/amd64', 'linux', 'amd64');
    r.top = r.index([{ digest: noPlatform }]);
    const lookup = new ImageConfigLookup({ transport: r.transport });
    const result = await lookup.lookup({ image: 'r.example/app:v1' });
    assert.deepEqual(result.config.entrypoint, ['/amd64']);
    assert.equal(result.manifestDigest, noPlatform);
  });

  it('is refused when its image config is another platform, saying so', async () => {
    const r = new FakeRegistry();
    const noPlatform = r.image('/arm', 'linux', 'arm64');
    r.top = r.index([{ digest: noPlatform }]);
    const error = await lookupError(r);
    assert.equal(error.code, 'no_matching_platform');
    assert.match(
      error.message,
      new RegExp(
        `no linux/amd64 entry in ${r.top} \\(its entry without platform, ${noPlatform}, is linux/arm64 by its image config\\)`,
      ),
    );
    // ... and an arm64 lookup of the same index uses it (arm64 ≡ arm64/v8).
    const lookup = new ImageConfigLookup({
      transport: r.transport,
      platform: { ...arm64, variant: 'v8' },
    });
    assert.deepEqual((await lookup.lookup({ image: 'r.example/app:v1' })).config.entrypoint, [
      '/arm',
    ]);
  });

  it('comes after an entry whose platform matches, wherever it is listed', async () => {
    const r = new FakeRegistry();
    const noPlatform = r.image('/unlabelled', 'linux', 'amd64');
    const labelled = r.image('/labelled', 'linux', 'amd64');
    r.top = r.index([{ digest: noPlatform }, { digest: labelled, platform: amd64 }]);
    const lookup = new ImageConfigLookup({ transport: r.transport });
    const result = await lookup.lookup({ image: 'r.example/app:v1' });
    assert.deepEqual(result.config.entrypoint, ['/labelled']);
    assert.ok(!r.fetched.includes(noPlatform));
  });
});

describe('an index pointing to another index', () => {
  it('is followed to the platform manifest, with or without a platform on the entry', async () => {
    for (const platform of [amd64, undefined]) {
      const r = new FakeRegistry();
      const inner = r.index([
        { digest: r.image('/arm', 'linux', 'arm64'), platform: arm64 },
        { digest: r.image('/amd', 'linux', 'amd64'), platform: amd64 },
      ]);
      r.top = r.index([platform ? { digest: inner, platform } : { digest: inner }]);
      const lookup = new ImageConfigLookup({ transport: r.transport });
      const result = await lookup.lookup({ image: 'r.example/app:v1' });
      assert.deepEqual(result.config.entrypoint, ['/amd']);
      assert.equal(result.digest, r.top);
    }
  });

  it('an inner index without the platform names the inner index', async () => {
    const r = new FakeRegistry();
    const inner = r.index([{ digest: r.image('/arm', 'linux', 'arm64'), platform: arm64 }]);
    r.top = r.index([{ digest: inner }]);
    const error = await lookupError(r);
    assert.equal(error.code, 'no_matching_platform');
    assert.match(
      error.message,
      new RegExp(`no linux/amd64 entry in ${inner} \\(has: linux/arm64\\)`),
    );
  });

  it('indexes nested deeper than 4 levels are refused', async () => {
    const r = new FakeRegistry();
    let d = r.image('/deep', 'linux', 'amd64');
    for (let i = 0; i < 5; i += 1) d = r.index([{ digest: d, platform: amd64 }]);
    r.top = d;
    const error = await lookupError(r);
    assert.equal(error.code, 'protocol');
    assert.match(error.message, /nests indexes more than 4 deep/);
  });
});

describe('size limits, named in the error', () => {
  it('a manifest larger than 4 MiB', async () => {
    const r = new FakeRegistry();
    const padding = 'x'.repeat(4 * 1024 * 1024);
    r.top = r.add({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { digest: 'sha256:0' },
      padding,
    });
    const error = await lookupError(r);
    assert.equal(error.code, 'protocol');
    assert.match(error.message, /: manifest larger than 4 MiB$/);
  });

  it('an image config larger than 8 MiB', async () => {
    const r = new FakeRegistry();
    const config = r.add({
      os: 'linux',
      architecture: 'amd64',
      padding: 'x'.repeat(8 * 1024 * 1024),
    });
    r.top = r.add({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { digest: config } });
    const error = await lookupError(r);
    assert.equal(error.code, 'protocol');
    assert.match(error.message, /: image config larger than 8 MiB$/);
  });
});
