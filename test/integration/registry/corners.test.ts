/**
 * Registry corners against the real registry (distribution on loopback, TLS): an index entry
 * without `platform` (the image config's os/architecture decide, as in containerd), an index that
 * points to another index, and an image config over the size limit named in the error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registryAvailable, startRegistry, type TestRegistry } from '../../env/registry.ts';
import { ImageConfigLookup, RegistryError } from '../../../webhook/src/registry/oci/index.ts';

const skip = registryAvailable()
  ? false
  : 'docker-registry is not installed (scripts/components.sh)';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

describe('registry corners against a real registry', { skip }, () => {
  let registry: TestRegistry;
  let lookup: ImageConfigLookup;
  let arm: ImageConfigLookup;

  const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

  async function pushIndexOf(
    repository: string,
    tag: string,
    entries: { digest: string; mediaType?: string; platform?: Record<string, string> }[],
  ): Promise<string> {
    const manifests = entries.map((e) => ({ mediaType: OCI_MANIFEST, size: 0, ...e }));
    const body = json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });
    return registry.pushManifest(repository, tag, OCI_INDEX, body);
  }

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    const hosts = { [registry.host]: { ca: registry.ca } };
    lookup = new ImageConfigLookup({ hosts });
    arm = new ImageConfigLookup({ hosts, platform: { os: 'linux', architecture: 'arm64' } });
  });

  after(async () => {
    lookup?.close();
    arm?.close();
    await registry?.stop();
  });

  it('an index entry without platform: its image config decides', async () => {
    const image = await registry.pushImage('corners/noplat', undefined, {
      entrypoint: ['/bin/amd'],
      os: 'linux',
      architecture: 'amd64',
    });
    const index = await pushIndexOf('corners/noplat', 'v1', [{ digest: image.digest }]);
    const result = await lookup.resolveCommand({ image: `${registry.host}/corners/noplat:v1` });
    assert.deepEqual(result.argv, ['/bin/amd']);
    assert.equal(result.manifestDigest, image.digest);
    await assert.rejects(arm.lookup({ image: `${registry.host}/corners/noplat:v1` }), (e) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.code, 'no_matching_platform');
      assert.match(
        e.message,
        new RegExp(`no linux/arm64 entry in ${index} .*is linux/amd64 by its image config`),
      );
      return true;
    });
  });

  it('an index pointing to another index is followed', async () => {
    const inner = await registry.pushIndex('corners/nested', 'inner', [
      { entrypoint: ['/bin/amd'], architecture: 'amd64' },
      { entrypoint: ['/bin/arm'], architecture: 'arm64', variant: 'v8' },
    ]);
    await pushIndexOf('corners/nested', 'v1', [{ digest: inner.digest, mediaType: OCI_INDEX }]);
    const image = `${registry.host}/corners/nested:v1`;
    assert.deepEqual((await lookup.resolveCommand({ image })).argv, ['/bin/amd']);
    assert.deepEqual((await arm.resolveCommand({ image })).argv, ['/bin/arm']);
  });

  it('an image config over 8 MiB is refused naming the limit', async () => {
    const config = json({
      os: 'linux',
      architecture: 'amd64',
      config: { Entrypoint: ['/x'] },
      history: [{ comment: 'x'.repeat(8 * 1024 * 1024) }],
    });
    const configDigest = await registry.pushBlob('corners/big', config);
    const manifest = json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [],
    });
    await registry.pushManifest('corners/big', 'v1', OCI_MANIFEST, manifest);
    await assert.rejects(lookup.lookup({ image: `${registry.host}/corners/big:v1` }), (e) => {
      assert.ok(e instanceof RegistryError);
      assert.equal(e.code, 'protocol');
      assert.match(e.message, /: image config larger than 8 MiB$/);
      return true;
    });
  });
});
