import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenges } from '../../../webhook/src/registry/oci/auth/challenge.ts';
import {
  DEFAULT_PLATFORM,
  parsePlatform,
  platformForPod,
  selectIndexEntry,
  type IndexEntry,
  type Platform,
} from '../../../webhook/src/registry/oci/platform.ts';

describe('parseChallenges', () => {
  const table: [string, ReturnType<typeof parseChallenges>][] = [
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/nginx:pull',
          },
        },
      ],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    ['basic Realm=plain', [{ scheme: 'basic', params: { realm: 'plain' } }]],
    [
      'Bearer realm="https://a/token", scope="repository:x:pull,push" , Basic realm="b"',
      [
        { scheme: 'bearer', params: { realm: 'https://a/token', scope: 'repository:x:pull,push' } },
        { scheme: 'basic', params: { realm: 'b' } },
      ],
    ],
    [
      'Bearer realm="a \\"quoted\\" realm"',
      [{ scheme: 'bearer', params: { realm: 'a "quoted" realm' } }],
    ],
    ['Bearer realm="unterminated', [{ scheme: 'bearer', params: { realm: 'unterminated' } }]],
    ['', []],
  ];
  for (const [header, expected] of table) {
    it(header || '(empty)', () => assert.deepEqual(parseChallenges(header), expected));
  }
});

describe('parsePlatform', () => {
  const table: [string, Platform][] = [
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['arm64', { os: 'linux', architecture: 'arm64' }],
  ];
  for (const [input, expected] of table)
    it(input, () => assert.deepEqual(parsePlatform(input), expected));
  it('rejects junk', () =>
    assert.throws(() => parsePlatform('linux/amd64/v1/extra'), /invalid platform/));
});

describe('selectIndexEntry', () => {
  const entry = (
    digest: string,
    architecture: string,
    variant?: string,
    os = 'linux',
  ): IndexEntry => ({
    digest,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  });
  const attestation: IndexEntry = {
    digest: 'att',
    platform: { os: 'linux', architecture: 'amd64' },
    annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
  };
  const index = [
    attestation,
    entry('amd64-v3', 'amd64', 'v3'),
    entry('amd64', 'amd64'),
    entry('arm64', 'arm64', 'v8'),
    entry('armv6', 'arm', 'v6'),
    entry('armv7', 'arm', 'v7'),
    entry('win', 'amd64', undefined, 'windows'),
  ];
  const table: [string, Platform, string | undefined][] = [
    ['amd64 prefers the entry without variant, never an attestation', DEFAULT_PLATFORM, 'amd64'],
    ['explicit amd64 v3', { os: 'linux', architecture: 'amd64', variant: 'v3' }, 'amd64-v3'],
    ['arm64 ≡ arm64/v8', { os: 'linux', architecture: 'arm64' }, 'arm64'],
    ['arm ≡ arm/v7', { os: 'linux', architecture: 'arm' }, 'armv7'],
    ['arm/v6', { os: 'linux', architecture: 'arm', variant: 'v6' }, 'armv6'],
    ['windows', { os: 'windows', architecture: 'amd64' }, 'win'],
    ['missing architecture', { os: 'linux', architecture: 's390x' }, undefined],
    ['missing variant', { os: 'linux', architecture: 'arm', variant: 'v5' }, undefined],
  ];
  for (const [name, wanted, expected] of table) {
    it(name, () => assert.equal(selectIndexEntry(index, wanted)?.digest, expected));
  }
  it('only a variant entry: taken when no variant is asked for', () => {
    assert.equal(selectIndexEntry([entry('v2', 'amd64', 'v2')], DEFAULT_PLATFORM)?.digest, 'v2');
  });
});

describe('platformForPod', () => {
  const fallback: Platform = { os: 'linux', architecture: 'amd64' };
  const affinity = (...terms: string[][]) => ({
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: terms.map((values) => ({
          matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values }],
        })),
      },
    },
  });
  const table: [string, Parameters<typeof platformForPod>[0], Platform][] = [
    ['nothing pinned', {}, fallback],
    [
      'node selector',
      { nodeSelector: { 'kubernetes.io/arch': 'arm64' } },
      { os: 'linux', architecture: 'arm64' },
    ],
    [
      'required affinity, one value',
      { affinity: affinity(['arm64']) },
      { os: 'linux', architecture: 'arm64' },
    ],
    [
      'required affinity, several values: not pinned',
      { affinity: affinity(['arm64', 'amd64']) },
      fallback,
    ],
    ['terms disagree: not pinned', { affinity: affinity(['arm64'], ['amd64']) }, fallback],
    [
      'preferred affinity only: not pinned',
      {
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              {
                weight: 100,
                preference: {
                  matchExpressions: [
                    { key: 'kubernetes.io/arch', operator: 'In', values: ['arm64'] },
                  ],
                },
              },
            ],
          },
        },
      } as Parameters<typeof platformForPod>[0],
      fallback,
    ],
    [
      'a term without the label: not pinned',
      {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [
                    { key: 'kubernetes.io/arch', operator: 'In', values: ['arm64'] },
                  ],
                },
                { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
              ],
            },
          },
        },
      },
      fallback,
    ],
    [
      'NotIn is no pin',
      {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [
                    { key: 'kubernetes.io/arch', operator: 'NotIn', values: ['amd64'] },
                  ],
                },
              ],
            },
          },
        },
      },
      fallback,
    ],
    [
      'node selector and affinity: the selector',
      { nodeSelector: { 'kubernetes.io/arch': 'arm64' }, affinity: affinity(['arm64']) },
      { os: 'linux', architecture: 'arm64' },
    ],
    [
      'same architecture keeps the configured variant',
      { nodeSelector: { 'kubernetes.io/arch': 'amd64' } },
      fallback,
    ],
  ];
  for (const [name, placement, expected] of table) {
    it(name, () => assert.deepEqual(platformForPod(placement, fallback), expected));
  }
});
