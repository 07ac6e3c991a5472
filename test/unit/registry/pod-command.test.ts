/**
 * The pod command lookup (`registryCommandLookup`) with a stand-in lookup and pull secret reader: the
 * order of credentials, the platform from placement, escaping for `args`, the error it turns a
 * RegistryError into, and one read of the pull secrets per review. The lookup itself is tested in
 * lookup-cache.test.ts and against a real registry.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, WebhookError } from '../../../webhook/src/errors.ts';
import type { ImageCommandRequest } from '../../../webhook/src/registry/image-command.ts';
import {
  RegistryError,
  parsePlatform,
  registryCommandLookup,
  registryMetricsHook,
  type ImageLookupRequest,
  type ImageLookupResult,
  type LookupEvent,
  type PullSecret,
  type PullSecretReader,
} from '../../../webhook/src/registry/oci/index.ts';

const findCredentialSourceNames = (sources: ImageLookupRequest['credentials']): string[] =>
  (sources ?? []).map((s) => s.name);

const SECRET_VALUE = 'CANARY-seam-3b9d';

function dockerConfigSecret(name: string, key: string, type = 'kubernetes.io/dockerconfigjson') {
  const auth = Buffer.from(`user-${name}:${SECRET_VALUE}`).toString('base64');
  const body =
    type === 'kubernetes.io/dockercfg' ? { [key]: { auth } } : { auths: { [key]: { auth } } };
  const dataKey = type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson';
  return {
    metadata: { namespace: 'team-a', name },
    type,
    data: { [dataKey]: Buffer.from(JSON.stringify(body)).toString('base64') },
  } satisfies PullSecret;
}

/** Secrets by name, service accounts by name; records every call. */
function reader(
  secrets: Record<string, PullSecret>,
  accounts: Record<string, string[]>,
): PullSecretReader & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    readSecrets(namespace, names) {
      calls.push(`secrets ${namespace} ${names.join(',')}`);
      return Promise.resolve(names.flatMap((n) => (secrets[n] ? [secrets[n]] : [])));
    },
    serviceAccountPullSecrets(namespace, name) {
      calls.push(`serviceaccount ${namespace} ${name}`);
      return Promise.resolve(accounts[name] ?? []);
    },
  };
}

/** A lookup that records its requests and answers with one config (or fails). */
function lookup(
  answer: { entrypoint?: string[]; cmd?: string[] } | RegistryError = {
    entrypoint: ['/e'],
    cmd: ['c'],
  },
) {
  const requests: ImageLookupRequest[] = [];
  return {
    requests,
    lookup(request: ImageLookupRequest): Promise<ImageLookupResult> {
      requests.push(request);
      if (answer instanceof RegistryError) return Promise.reject(answer);
      const platform = request.platform ?? parsePlatform('linux/amd64');
      return Promise.resolve({
        reference: { original: request.image } as ImageLookupResult['reference'],
        digest: 'sha256:1',
        manifestDigest: 'sha256:1',
        config: { entrypoint: answer.entrypoint ?? [], cmd: answer.cmd ?? [], platform },
        platform,
        cacheHit: false,
      });
    },
  };
}

const request = (extra: Partial<ImageCommandRequest> = {}): ImageCommandRequest => ({
  image: 'registry.example/team/app:1',
  namespace: 'team-a',
  imagePullSecrets: [],
  container: { list: 'containers', index: 0, name: 'app' },
  ...extra,
});

const signal = () => new AbortController().signal;

describe('registryCommandLookup: credentials', () => {
  it("passes the pod's pull secrets, then its service account's, skipping missing ones", async () => {
    const r = reader(
      {
        pod1: dockerConfigSecret('pod1', 'other.example'),
        pod2: dockerConfigSecret('pod2', 'https://registry.example'),
        sa1: dockerConfigSecret('sa1', 'registry.example/team', 'kubernetes.io/dockercfg'),
      },
      { builder: ['pod2', 'sa1', 'gone'] },
    );
    const l = lookup();
    await registryCommandLookup({ lookup: l, secrets: r }).lookup(
      request({ imagePullSecrets: ['pod1', 'missing', 'pod2'], serviceAccountName: 'builder' }),
      signal(),
    );
    assert.deepEqual(r.calls, [
      'secrets team-a pod1,missing,pod2',
      'serviceaccount team-a builder',
      // pod2 is the pod's already: read once.
      'secrets team-a sa1,gone',
    ]);
    assert.deepEqual(findCredentialSourceNames(l.requests[0]?.credentials), [
      'secret team-a/pod1',
      'secret team-a/pod2',
      'secret team-a/sa1',
    ]);
  });

  it('reads the `default` service account when the pod names none, and no secret when none is named', async () => {
    const r = reader({}, {});
    await registryCommandLookup({ lookup: lookup(), secrets: r }).lookup(request(), signal());
    assert.deepEqual(r.calls, ['serviceaccount team-a default']);
  });

  it('skips a malformed pull secret, as kubelet does', async () => {
    const broken: PullSecret = {
      metadata: { namespace: 'team-a', name: 'broken' },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': Buffer.from('{not json').toString('base64') },
    };
    const good = dockerConfigSecret('good', 'registry.example');
    const l = lookup();
    await registryCommandLookup({ lookup: l, secrets: reader({ broken, good }, {}) }).lookup(
      request({ imagePullSecrets: ['broken', 'good'] }),
      signal(),
    );
    assert.deepEqual(findCredentialSourceNames(l.requests[0]?.credentials), ['secret team-a/good']);
  });

  it('without a reader, passes no credentials (the default docker config is the lookup’s own)', async () => {
    const l = lookup();
    await registryCommandLookup({ lookup: l }).lookup(
      request({ imagePullSecrets: ['x'] }),
      signal(),
    );
    assert.deepEqual(l.requests[0]?.credentials, []);
  });

  it('reads the pull secrets once for all containers of one review, again for the next review', async () => {
    const r = reader({ s: dockerConfigSecret('s', 'registry.example') }, { app: [] });
    const commands = registryCommandLookup({ lookup: lookup(), secrets: r });
    const review = signal();
    await Promise.all(
      ['a', 'b', 'c'].map((name, index) =>
        commands.lookup(
          request({
            imagePullSecrets: ['s'],
            serviceAccountName: 'app',
            container: { list: 'containers', index, name },
          }),
          review,
        ),
      ),
    );
    assert.equal(r.calls.length, 2, r.calls.join('\n'));
    await commands.lookup(
      request({ imagePullSecrets: ['s'], serviceAccountName: 'app' }),
      signal(),
    );
    assert.equal(r.calls.length, 4);
  });
});

describe('registryCommandLookup: platform', () => {
  const arm = { nodeSelector: { 'kubernetes.io/arch': 'arm64' } };
  const rows: [string, ImageCommandRequest['placement'], string | undefined, string | undefined][] =
    [
      ['no placement: the webhook’s platform', undefined, 'linux/amd64', 'linux/amd64'],
      ['nodeSelector pins arm64', arm, 'linux/amd64', 'linux/arm64'],
      [
        'required node affinity pins arm64',
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
                ],
              },
            },
          },
        },
        'linux/amd64',
        'linux/arm64',
      ],
      [
        'affinity with two architectures: the webhook’s platform',
        {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  {
                    matchExpressions: [
                      { key: 'kubernetes.io/arch', operator: 'In', values: ['arm64', 'amd64'] },
                    ],
                  },
                ],
              },
            },
          },
        },
        'linux/amd64',
        'linux/amd64',
      ],
      ['a configured platform of another architecture', {}, 'linux/arm/v7', 'linux/arm/v7'],
      ['no configured platform: the lookup decides', arm, undefined, undefined],
    ];
  for (const [name, placement, configured, expected] of rows) {
    it(name, async () => {
      const l = lookup();
      await registryCommandLookup({
        lookup: l,
        ...(configured ? { platform: parsePlatform(configured) } : {}),
      }).lookup(request(placement ? { placement } : {}), signal());
      const p = l.requests[0]?.platform;
      assert.equal(
        p ? `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}` : p,
        expected,
      );
    });
  }
});

describe('registryCommandLookup: the answer', () => {
  it('escapes $ as $$ exactly once, for args', async () => {
    const l = lookup({ entrypoint: ['/bin/sh', '-c'], cmd: ['echo $HOME $(X) $$'] });
    const commands = registryCommandLookup({ lookup: l });
    assert.deepEqual(await commands.lookup(request(), signal()), {
      entrypoint: ['/bin/sh', '-c'],
      cmd: ['echo $$HOME $$(X) $$$$'],
    });
    const raw = registryCommandLookup({ lookup: l, escapeForArgs: false });
    assert.deepEqual((await raw.lookup(request(), signal())).cmd, ['echo $HOME $(X) $$']);
  });

  it('passes the review’s signal to the lookup', async () => {
    const l = lookup();
    const s = signal();
    await registryCommandLookup({ lookup: l }).lookup(request(), s);
    assert.equal(l.requests[0]?.signal, s);
  });

  it('turns a RegistryError into E_NO_COMMAND naming container, image, registry and reason', async () => {
    const cause = new RegistryError('unauthorized', {
      image: 'registry.example/team/app:1',
      registry: 'registry.example',
      reason: 'HTTP 401 (credentials from secret team-a/pod2)',
    });
    const r = reader({ pod2: dockerConfigSecret('pod2', 'registry.example') }, {});
    const commands = registryCommandLookup({ lookup: lookup(cause), secrets: r });
    await assert.rejects(
      commands.lookup(request({ imagePullSecrets: ['pod2'] }), signal()),
      (err) => {
        assert.ok(err instanceof WebhookError);
        assert.equal(err.code, ErrorCode.NO_COMMAND);
        assert.equal(err.cause, cause);
        assert.equal(
          err.message,
          'container "app" has no command and its image could not be looked up: image "registry.example/team/app:1" (registry registry.example): not authorized: HTTP 401 (credentials from secret team-a/pod2)',
        );
        assert.ok(!err.message.includes(SECRET_VALUE));
        return true;
      },
    );
  });

  it('a reader that fails is a lookup failure too, never a crash', async () => {
    const failing: PullSecretReader = {
      readSecrets: () => Promise.reject(new Error('boom')),
      serviceAccountPullSecrets: () => Promise.resolve([]),
    };
    await assert.rejects(
      registryCommandLookup({ lookup: lookup(), secrets: failing }).lookup(
        request({ imagePullSecrets: ['x'] }),
        signal(),
      ),
      { code: ErrorCode.NO_COMMAND, message: /could not be looked up: boom/ },
    );
  });
});

describe('registryMetricsHook', () => {
  it('counts every lookup by result and the cache hits', () => {
    const counted: string[] = [];
    const hook = registryMetricsHook({
      registryLookups: { inc: ({ result }) => counted.push(result) },
      registryCacheHits: { inc: () => counted.push('hit') },
    });
    const event = (result: LookupEvent['result'], cacheHit: boolean): LookupEvent => ({
      image: 'x',
      registry: 'r',
      platform: 'linux/amd64',
      cacheHit,
      shared: false,
      durationMs: 1,
      result,
      upstreamRequests: 0,
      credentialSource: 'none',
    });
    hook(event('success', false));
    hook(event('success', true));
    hook(event('not_found', false));
    assert.deepEqual(counted, ['success', 'success', 'hit', 'not_found']);
  });
});
