/**
 * What manifests, indexes and config blobs mean, and Kubernetes' rule for the command a container
 * without `command` runs: ENTRYPOINT + (the container's `args` when set, else CMD).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  effectiveArgsField,
  effectiveCommand,
} from '../../../webhook/src/registry/oci/effective-command.ts';
import {
  ManifestFormatError,
  parseImageConfig,
  parseManifest,
  verifyDigest,
  type ParsedManifest,
} from '../../../webhook/src/registry/oci/parse-manifest.ts';
import { ImageConfigLookup } from '../../../webhook/src/registry/oci/image-config-lookup.ts';
import { RegistryError } from '../../../webhook/src/registry/oci/errors.ts';
import type { HttpResponse, Transport } from '../../../webhook/src/registry/oci/transport.ts';

const D = `sha256:${'c'.repeat(64)}`;
const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const sha256 = (body: Buffer): string =>
  `sha256:${createHash('sha256').update(body).digest('hex')}`;

describe('parseManifest: media types from the body or the Content-Type', () => {
  const entry = { digest: D, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } };
  const index: ParsedManifest = {
    kind: 'index',
    entries: [{ digest: D, platform: entry.platform, annotations: {} }],
  };
  const manifest: ParsedManifest = { kind: 'manifest', configDigest: D };
  const table: [string, unknown, string | undefined, ParsedManifest][] = [
    [
      'OCI image index',
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [entry],
      },
      undefined,
      index,
    ],
    [
      'Docker manifest list',
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
        manifests: [entry],
      },
      undefined,
      index,
    ],
    [
      'OCI index without mediaType: the Content-Type decides',
      { schemaVersion: 2, manifests: [entry] },
      'application/vnd.oci.image.index.v1+json',
      index,
    ],
    ['OCI index without any media type: its "manifests" list', { manifests: [entry] }, '', index],
    [
      'OCI index without mediaType served as application/json',
      { schemaVersion: 2, manifests: [entry] },
      'application/json',
      index,
    ],
    [
      'OCI manifest without mediaType served as application/octet-stream',
      { schemaVersion: 2, config: { digest: D }, layers: [] },
      'application/octet-stream',
      manifest,
    ],
    [
      'OCI manifest',
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { digest: D },
        layers: [],
      },
      undefined,
      manifest,
    ],
    [
      'Docker schema 2 manifest',
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { digest: D },
      },
      undefined,
      manifest,
    ],
    [
      'OCI manifest without mediaType, Content-Type with parameters',
      { schemaVersion: 2, config: { digest: D } },
      'application/vnd.oci.image.manifest.v1+json; charset=utf-8',
      manifest,
    ],
    [
      'Docker schema 1 (signed): not supported',
      { schemaVersion: 1, name: 'app', tag: 'v1', fsLayers: [] },
      'application/vnd.docker.distribution.manifest.v1+prettyjws',
      {
        kind: 'unsupported',
        mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
      },
    ],
    [
      'schema 1 with no media type anywhere',
      { schemaVersion: 1, fsLayers: [] },
      undefined,
      { kind: 'unsupported', mediaType: 'schema 1' },
    ],
    [
      'an artifact of another type',
      { schemaVersion: 2, mediaType: 'application/vnd.example.thing+json' },
      undefined,
      { kind: 'unsupported', mediaType: 'application/vnd.example.thing+json' },
    ],
  ];
  for (const [name, body, contentType, expected] of table) {
    it(name, () => assert.deepEqual(parseManifest(json(body), contentType), expected));
  }

  it('index entries keep platform strings and string annotations only; entries without digest go', () => {
    const parsed = parseManifest(
      json({
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { digest: D, platform: { os: 'linux', architecture: 7 }, annotations: { a: 'b', n: 1 } },
          { platform: { os: 'linux', architecture: 'amd64' } },
        ],
      }),
      undefined,
    );
    assert.deepEqual(parsed, {
      kind: 'index',
      entries: [{ digest: D, platform: { os: 'linux' }, annotations: { a: 'b' } }],
    });
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '<html>', /manifest is not valid JSON/],
    ['a JSON list', '[]', /manifest is not a JSON object/],
    [
      'a manifest without config digest',
      JSON.stringify({ mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {} }),
      /no config digest/,
    ],
    [
      'an index without manifests',
      JSON.stringify({ mediaType: 'application/vnd.oci.image.index.v1+json' }),
      /no "manifests" list/,
    ],
  ];
  for (const [name, body, message] of bad) {
    it(`rejects ${name}`, () =>
      assert.throws(
        () => parseManifest(Buffer.from(body), undefined),
        (e: unknown) => e instanceof ManifestFormatError && message.test(e.message),
      ));
  }
});

describe('parseImageConfig', () => {
  it('reads Entrypoint, Cmd and the platform; null and absent are empty', () => {
    assert.deepEqual(
      parseImageConfig(
        json({
          architecture: 'arm64',
          os: 'linux',
          variant: 'v8',
          config: { Entrypoint: ['/e', '-x'], Cmd: null },
        }),
      ),
      {
        entrypoint: ['/e', '-x'],
        cmd: [],
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      },
    );
    assert.deepEqual(parseImageConfig(json({ os: 'linux' })), {
      entrypoint: [],
      cmd: [],
      platform: { os: 'linux' },
    });
  });

  it('rejects a shell-form string or a list with a non-string', () => {
    for (const config of [{ Cmd: 'nginx -g daemon' }, { Entrypoint: ['/e', 1] }]) {
      assert.throws(() => parseImageConfig(json({ config })), ManifestFormatError);
    }
  });
});

describe('Kubernetes: ENTRYPOINT + (args if set, else CMD)', () => {
  const table: [string, string[], string[], string[] | null | undefined, string[]][] = [
    ['both, no args', ['/e'], ['c'], undefined, ['/e', 'c']],
    ['both, args replace CMD', ['/e'], ['c'], ['a', 'b'], ['/e', 'a', 'b']],
    ['empty args count as none', ['/e'], ['c'], [], ['/e', 'c']],
    ['null args count as none', ['/e'], ['c'], null, ['/e', 'c']],
    ['CMD only', [], ['/c', 'x'], undefined, ['/c', 'x']],
    ['CMD only, args run instead', [], ['/c'], ['/a'], ['/a']],
    ['ENTRYPOINT only', ['/e'], [], undefined, ['/e']],
    ['neither: nothing to run', [], [], undefined, []],
    ['neither, args are the command', [], [], ['/a'], ['/a']],
  ];
  for (const [name, entrypoint, cmd, args, expected] of table) {
    it(name, () => assert.deepEqual(effectiveCommand({ entrypoint, cmd }, args), expected));
  }

  it('the args field escapes the image’s $ and keeps the container’s own args as written', () => {
    const config = { entrypoint: ['/e', '$(HOME)'], cmd: ['$$x', '$y'] };
    assert.deepEqual(effectiveArgsField(config, undefined), ['/e', '$$(HOME)', '$$$$x', '$$y']);
    assert.deepEqual(effectiveArgsField(config, ['$(PORT)']), ['/e', '$$(HOME)', '$(PORT)']);
  });
});

describe('content digests', () => {
  const body = Buffer.from('{"a":1}');
  it('accepts sha256 and sha512 of the body', () => {
    verifyDigest(body, sha256(body), 'manifest');
    const sha512 = `sha512:${createHash('sha512').update(body).digest('hex')}`;
    verifyDigest(body, sha512, 'manifest');
  });
  it('rejects another body or an algorithm it cannot check', () => {
    assert.throws(
      () => verifyDigest(Buffer.from('{"a":2}'), sha256(body), 'manifest'),
      /does not match/,
    );
    assert.throws(() => verifyDigest(body, `md5:${'0'.repeat(32)}`, 'manifest'), /cannot verify/);
  });

  it('a registry that serves a config blob other than its digest: protocol error, nothing cached', async () => {
    const config = json({ config: { Entrypoint: ['/real'] } });
    const tampered = json({ config: { Entrypoint: ['/evil'] } });
    const manifest = json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { digest: sha256(config) },
    });
    let blobs = 0;
    const transport: Transport = (request) => {
      const ok = (b: Buffer, headers: Record<string, string> = {}): Promise<HttpResponse> =>
        Promise.resolve({ status: 200, headers, body: b });
      if (request.url.pathname.includes('/manifests/')) {
        return ok(manifest, { 'docker-content-digest': sha256(manifest) });
      }
      blobs += 1;
      return ok(tampered);
    };
    const lookup = new ImageConfigLookup({ transport });
    for (let i = 0; i < 2; i += 1) {
      await assert.rejects(
        lookup.lookup({ image: 'r.example/app:v1' }),
        (e: unknown) =>
          e instanceof RegistryError &&
          e.code === 'protocol' &&
          /image config: content digest sha256:[a-f0-9]{64} does not match/.test(e.message),
      );
    }
    assert.equal(blobs, 2, 'a failed lookup is not cached');
  });
});
