/**
 * The image config lookup against a real registry (distribution 2.8 on loopback, TLS with a CA of
 * the run): basic auth through htpasswd, the Bearer flow through a token service issuing JWTs the
 * registry verifies, and the failure modes a webhook meets in practice.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { registryAvailable, startRegistry, type TestRegistry } from '../../env/registry.ts';
import {
  ImageConfigLookup,
  RegistryError,
  credentialSourceFromSecret,
  parseDockerConfigJson,
  type CredentialSource,
  type ImageLookupOptions,
  type LookupEvent,
} from '../../../webhook/src/registry/oci/index.ts';

const skip = registryAvailable()
  ? false
  : 'docker-registry is not installed (scripts/components.sh)';

function dockerConfig(
  name: string,
  host: string,
  username: string,
  password: string,
): CredentialSource {
  return parseDockerConfigJson(name, JSON.stringify({ auths: { [host]: { username, password } } }));
}

function pullSecret(name: string, host: string, username: string, password: string) {
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  const json = JSON.stringify({ auths: { [`https://${host}`]: { auth } } });
  const source = credentialSourceFromSecret({
    metadata: { namespace: 'team-a', name },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(json).toString('base64') },
  });
  assert.ok(source);
  return source;
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<RegistryError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RegistryError, `not a RegistryError: ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('registry lookup, basic auth (htpasswd)', { skip }, () => {
  let registry: TestRegistry;
  let good: CredentialSource;
  const events: LookupEvent[] = [];
  const lookups: ImageConfigLookup[] = [];

  function newLookup(extra: Partial<ImageLookupOptions> = {}): ImageConfigLookup {
    const lookup = new ImageConfigLookup({
      hosts: { [registry.host]: { ca: registry.ca } },
      onLookup: (event) => events.push(event),
      ...extra,
    });
    lookups.push(lookup);
    return lookup;
  }

  before(async () => {
    registry = await startRegistry({ auth: 'htpasswd' });
    good = dockerConfig('default', registry.host, registry.admin.username, registry.admin.password);
    await registry.pushImage('apps/web', 'v1', {
      entrypoint: ['/bin/web'],
      cmd: ['--port', '8080'],
    });
    await registry.pushImage('apps/docker-format', '1.0', {
      format: 'docker',
      entrypoint: ['/docker-entrypoint.sh'],
      cmd: ['nginx', '-g', 'daemon off;'],
    });
    await registry.pushImage('apps/cmd-only', 'v1', { cmd: ['/app', '$(NOT_A_VAR)'] });
    await registry.pushImage('apps/empty', 'v1', { entrypoint: null, cmd: null });
    await registry.pushIndex('apps/multi', 'v2', [
      { architecture: 'amd64', entrypoint: ['/amd64/bin'] },
      { architecture: 'arm64', variant: 'v8', entrypoint: ['/arm64/bin'] },
      { architecture: 'arm', variant: 'v7', entrypoint: ['/armv7/bin'] },
    ]);
    await registry.pushIndex(
      'apps/docker-list',
      'v1',
      [
        { architecture: 'amd64', entrypoint: ['/list/amd64'], cmd: ['run'] },
        { architecture: 'arm64', variant: 'v8', entrypoint: ['/list/arm64'], cmd: ['run'] },
      ],
      { format: 'docker' },
    );
    await registry.pushIndex(
      'apps/buildx',
      'v1',
      [
        { architecture: 'amd64', cmd: ['/buildx/amd64'] },
        { architecture: 'arm64', variant: 'v8', cmd: ['/buildx/arm64'] },
      ],
      { attestations: true },
    );
  });

  after(async () => {
    for (const lookup of lookups) lookup.close();
    await registry?.stop();
  });

  it('resolves a tag: ENTRYPOINT + CMD, with the digest the registry serves', async () => {
    const lookup = newLookup({ defaultCredentials: [good] });
    const result = await lookup.resolveCommand({ image: `${registry.host}/apps/web:v1` });
    assert.deepEqual(result.argv, ['/bin/web', '--port', '8080']);
    assert.match(result.digest, /^sha256:[a-f0-9]{64}$/);
    assert.equal(result.cacheHit, false);
  });

  it('reads Docker schema 2 manifests and configs', async () => {
    const lookup = newLookup({ defaultCredentials: [good] });
    const result = await lookup.resolveCommand({
      image: `${registry.host}/apps/docker-format:1.0`,
    });
    assert.deepEqual(result.argv, ['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
  });

  it('resolves a digest reference, and name:tag@digest by its digest', async () => {
    const lookup = newLookup({ defaultCredentials: [good] });
    const byTag = await lookup.lookup({ image: `${registry.host}/apps/web:v1` });
    const pinned = `${registry.host}/apps/web@${byTag.digest}`;
    const fresh = newLookup({ defaultCredentials: [good] });
    assert.deepEqual((await fresh.resolveCommand({ image: pinned })).argv, [
      '/bin/web',
      '--port',
      '8080',
    ]);
    const both = await fresh.resolveCommand({
      image: `${registry.host}/apps/web:moved@${byTag.digest}`,
    });
    assert.equal(both.digest, byTag.digest);
  });

  it('follows a multi-arch index to the platform asked for', async () => {
    const lookup = newLookup({ defaultCredentials: [good] });
    const image = `${registry.host}/apps/multi:v2`;
    const amd64 = await lookup.resolveCommand({ image });
    const arm64 = await lookup.resolveCommand({
      image,
      platform: { os: 'linux', architecture: 'arm64' },
    });
    const armv7 = await lookup.resolveCommand({
      image,
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
    });
    assert.deepEqual(
      [amd64.argv, arm64.argv, armv7.argv],
      [['/amd64/bin'], ['/arm64/bin'], ['/armv7/bin']],
    );
    assert.equal(amd64.digest, arm64.digest, 'the tag resolves to the index');
    assert.notEqual(amd64.manifestDigest, arm64.manifestDigest);
    const error = await expectCode(
      lookup.resolveCommand({ image, platform: { os: 'linux', architecture: 's390x' } }),
      'no_matching_platform',
    );
    assert.match(
      error.message,
      /linux\/s390x.*has: linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7/,
    );
  });

  it('follows a Docker manifest list (schema 2) to the platform asked for', async () => {
    // distribution answers a client that does not accept manifest lists with the amd64 manifest:
    // the arm64 answer shows the list was asked for and read.
    const lookup = newLookup({ defaultCredentials: [good] });
    const image = `${registry.host}/apps/docker-list:v1`;
    const amd64 = await lookup.resolveCommand({ image });
    const arm64 = await lookup.resolveCommand({
      image,
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    });
    assert.deepEqual(
      [amd64.argv, arm64.argv],
      [
        ['/list/amd64', 'run'],
        ['/list/arm64', 'run'],
      ],
    );
    assert.equal(amd64.digest, arm64.digest, 'the tag resolves to the list');
    assert.notEqual(amd64.manifestDigest, arm64.manifestDigest);
    const error = await expectCode(
      lookup.resolveCommand({ image, platform: { os: 'windows', architecture: 'amd64' } }),
      'no_matching_platform',
    );
    assert.match(
      error.message,
      /no windows\/amd64 entry in sha256:[a-f0-9]{64} \(has: linux\/amd64, linux\/arm64\/v8\)/,
    );
  });

  it('a buildx-style index with attestation manifests: the image, never the attestation', async () => {
    const lookup = newLookup({ defaultCredentials: [good] });
    const image = `${registry.host}/apps/buildx:v1`;
    const amd64 = await lookup.resolveCommand({ image });
    const arm64 = await lookup.resolveCommand({
      image,
      platform: { os: 'linux', architecture: 'arm64' },
    });
    assert.deepEqual([amd64.argv, arm64.argv], [['/buildx/amd64'], ['/buildx/arm64']]);
    const error = await expectCode(
      lookup.resolveCommand({ image, platform: { os: 'linux', architecture: 'ppc64le' } }),
      'no_matching_platform',
    );
    assert.match(error.message, /\(has: linux\/amd64, linux\/arm64\/v8\)$/);
  });

  it('uses the container args instead of CMD, after ENTRYPOINT', async () => {
    const lookup = newLookup({ defaultCredentials: [good] });
    const result = await lookup.resolveCommand({
      image: `${registry.host}/apps/web:v1`,
      args: ['--port', '$(PORT)'],
    });
    assert.deepEqual(result.argv, ['/bin/web', '--port', '$(PORT)']);
    assert.deepEqual(result.argsField, ['/bin/web', '--port', '$(PORT)']);
  });

  it('escapes image strings against kubelet expansion in the args field', async () => {
    const lookup = newLookup({ defaultCredentials: [good] });
    const result = await lookup.resolveCommand({ image: `${registry.host}/apps/cmd-only:v1` });
    assert.deepEqual(result.argv, ['/app', '$(NOT_A_VAR)']);
    assert.deepEqual(result.argsField, ['/app', '$$(NOT_A_VAR)']);
  });

  it('denies an image with neither ENTRYPOINT nor CMD, unless the container has args', async () => {
    const lookup = newLookup({ defaultCredentials: [good] });
    const image = `${registry.host}/apps/empty:v1`;
    const error = await expectCode(lookup.resolveCommand({ image }), 'no_entrypoint');
    assert.match(error.message, /apps\/empty.*neither ENTRYPOINT nor CMD/);
    assert.deepEqual((await lookup.resolveCommand({ image, args: ['/bin/true'] })).argv, [
      '/bin/true',
    ]);
  });

  it('wrong credentials: unauthorized, naming the source and never the password', async () => {
    const bad = dockerConfig('secret team-a/stale', registry.host, 'admin', 'wrong-password');
    const lookup = newLookup({ defaultCredentials: [bad] });
    const error = await expectCode(
      lookup.lookup({ image: `${registry.host}/apps/web:v1` }),
      'unauthorized',
    );
    assert.match(error.message, /HTTP 401.*secret team-a\/stale/);
    assert.doesNotMatch(error.message, /wrong-password/);
    assert.doesNotMatch(JSON.stringify(events), /wrong-password|pw-/);
  });

  it('no credentials at all: unauthorized', async () => {
    const lookup = newLookup();
    await expectCode(lookup.lookup({ image: `${registry.host}/apps/web:v1` }), 'unauthorized');
  });

  it('missing image: not found', async () => {
    const lookup = newLookup({ defaultCredentials: [good] });
    const error = await expectCode(
      lookup.lookup({ image: `${registry.host}/apps/web:nope` }),
      'not_found',
    );
    assert.match(error.message, new RegExp(`registry ${registry.host}.*HTTP 404`));
  });

  it('pull secrets: a stale pod secret, then the service account’s good one answers (kubelet’s order)', async () => {
    const pod = {
      ...pullSecret('pod-secret', registry.host, 'admin', 'wrong'),
      kind: 'pod' as const,
    };
    const sa = {
      ...pullSecret('sa-secret', registry.host, registry.admin.username, registry.admin.password),
      kind: 'service account' as const,
    };
    // An image no other test reads, so the registry's log holds this test's requests only.
    await registry.pushImage('apps/order', 'v1', { entrypoint: ['/order'] });
    const image = `${registry.host}/apps/order:v1`;
    const seen: LookupEvent[] = [];
    const bad = dockerConfig('default docker config', registry.host, 'admin', 'wrong-default');
    const lookup = newLookup({
      defaultCredentials: [{ ...bad, kind: 'default' }],
      onLookup: (e) => seen.push(e),
    });
    const result = await lookup.resolveCommand({ image, credentials: [pod, sa] });
    assert.deepEqual(result.argv, ['/order']);
    assert.equal(seen[0]?.credentialSource, 'service account secret team-a/sa-secret');
    assert.equal(seen[0]?.credentialsTried, 2);
    // The registry's log: the pod secret's login refused once, then one manifest GET served.
    assert.equal(await registry.refusedLogins('/apps/order/'), 1);
    const manifests = { method: 'GET', uriIncludes: '/apps/order/manifests/v1' };
    assert.equal(await registry.countRequests({ ...manifests, status: 200 }), 1);

    // Two stale secrets and a stale default: refused, naming the count, never a password.
    const stale2 = {
      ...pullSecret('stale-2', registry.host, 'admin', 'wrong-2'),
      kind: 'pod' as const,
    };
    const error = await expectCode(
      lookup.lookup({ image: `${registry.host}/apps/web:v1`, credentials: [pod, stale2] }),
      'unauthorized',
    );
    assert.match(error.message, /3 credentials tried, none accepted: /);
    assert.match(
      error.message,
      /pod secret team-a\/pod-secret;.*pod secret team-a\/stale-2;.*the default docker config$/,
    );
    assert.doesNotMatch(error.message + JSON.stringify(seen), /wrong/);
    assert.equal(seen[1]?.credentialsTried, 3);
    assert.equal(await registry.refusedLogins('/apps/order/'), 1, 'apps/web was asked, not order');

    // A pod secret for another registry does not shadow the service account's.
    const other = pullSecret('other-registry', 'registry.example:5000', 'x', 'y');
    await lookup.lookup({
      image: `${registry.host}/apps/docker-format:1.0`,
      credentials: [other, sa],
    });
    assert.equal(seen[2]?.credentialSource, 'service account secret team-a/sa-secret');
    assert.equal(seen[2]?.credentialsTried, 1);
  });

  it('answers the second lookup from the cache, without a request', async () => {
    const lookup = newLookup({ defaultCredentials: [good] });
    const image = `${registry.host}/apps/web:v1`;
    await lookup.lookup({ image });
    const before = await registry.countRequests({ uriIncludes: '/apps/web/' });
    const second = await lookup.lookup({ image });
    assert.equal(second.cacheHit, true);
    assert.equal(await registry.countRequests({ uriIncludes: '/apps/web/' }), before);
  });

  it('revalidates an expired tag with one HEAD', async () => {
    let now = 1_000_000;
    const lookup = newLookup({ defaultCredentials: [good], tagTtlMs: 1000, now: () => now });
    const image = `${registry.host}/apps/docker-format:1.0`;
    await lookup.lookup({ image });
    now += 5000;
    const heads = await registry.countRequests({
      method: 'HEAD',
      uriIncludes: '/apps/docker-format/',
    });
    const gets = await registry.countRequests({
      method: 'GET',
      uriIncludes: '/apps/docker-format/',
    });
    const again = await lookup.lookup({ image });
    assert.equal(again.cacheHit, false);
    assert.equal(
      await registry.countRequests({ method: 'HEAD', uriIncludes: '/apps/docker-format/' }),
      heads + 1,
    );
    assert.equal(
      await registry.countRequests({ method: 'GET', uriIncludes: '/apps/docker-format/' }),
      gets,
    );
  });

  it('concurrent identical lookups send one set of requests', async () => {
    await registry.pushImage('apps/burst', 'v1', { entrypoint: ['/burst'] });
    const seen: LookupEvent[] = [];
    const counted = newLookup({ defaultCredentials: [good], onLookup: (e) => seen.push(e) });
    const image = `${registry.host}/apps/burst:v1`;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => counted.resolveCommand({ image })),
    );
    assert.ok(results.every((r) => r.argv[0] === '/burst'));
    assert.equal(
      await registry.countRequests({ method: 'GET', uriIncludes: '/apps/burst/manifests/' }),
      1,
    );
    assert.equal(
      await registry.countRequests({ method: 'GET', uriIncludes: '/apps/burst/blobs/' }),
      1,
    );
    assert.equal(seen.filter((e) => e.shared).length, 19);
  });
});

describe('registry lookup, Bearer token flow (JWT token service)', { skip }, () => {
  let registry: TestRegistry;
  let lookup: ImageConfigLookup;

  before(async () => {
    registry = await startRegistry({ auth: 'token' });
    await registry.pushImage('team/private', 'v1', { entrypoint: ['/private'] });
    await registry.pushImage('public/tool', 'v1', { cmd: ['/tool', 'run'] });
    const good = dockerConfig(
      'default',
      registry.host,
      registry.admin.username,
      registry.admin.password,
    );
    lookup = new ImageConfigLookup({
      hosts: { [registry.host]: { ca: registry.ca } },
      defaultCredentials: [good],
    });
  });

  after(async () => {
    lookup?.close();
    await registry?.stop();
  });

  it('gets a token with the basic credentials and reuses it', async () => {
    const first = await lookup.resolveCommand({ image: `${registry.host}/team/private:v1` });
    assert.deepEqual(first.argv, ['/private']);
    const tokens = registry.tokenRequests();
    await lookup.resolveCommand({ image: `${registry.host}/team/private@${first.digest}` });
    assert.equal(registry.tokenRequests(), tokens, 'the cached token is reused');
  });

  it('anonymous token for a public repository', async () => {
    const anonymous = new ImageConfigLookup({ hosts: { [registry.host]: { ca: registry.ca } } });
    try {
      const result = await anonymous.resolveCommand({ image: `${registry.host}/public/tool:v1` });
      assert.deepEqual(result.argv, ['/tool', 'run']);
      await expectCode(
        anonymous.lookup({ image: `${registry.host}/team/private:v1` }),
        'unauthorized',
      );
    } finally {
      anonymous.close();
    }
  });

  it('wrong password: the token endpoint refuses, unauthorized', async () => {
    const bad = dockerConfig('secret ns/bad', registry.host, 'admin', 'nope');
    const client = new ImageConfigLookup({
      hosts: { [registry.host]: { ca: registry.ca } },
      defaultCredentials: [bad],
    });
    try {
      const error = await expectCode(
        client.lookup({ image: `${registry.host}/team/private:v1` }),
        'unauthorized',
      );
      assert.match(error.message, /token endpoint 127\.0\.0\.1:\d+: HTTP 401.*secret ns\/bad/);
    } finally {
      client.close();
    }
  });
});

describe('registry lookup, several credentials against the token service', { skip }, () => {
  let registry: TestRegistry;
  const lookups: ImageConfigLookup[] = [];
  const events: LookupEvent[] = [];

  function newLookup(): ImageConfigLookup {
    const lookup = new ImageConfigLookup({
      hosts: { [registry.host]: { ca: registry.ca } },
      onLookup: (event) => events.push(event),
    });
    lookups.push(lookup);
    return lookup;
  }

  before(async () => {
    registry = await startRegistry({ auth: 'token' });
    await registry.pushImage('team/app', 'v1', { entrypoint: ['/team/app'] });
  });

  after(async () => {
    for (const lookup of lookups) lookup.close();
    await registry?.stop();
  });

  const secret = (name: string, kind: 'pod' | 'service account', password: string) => ({
    ...pullSecret(name, registry.host, registry.admin.username, password),
    kind,
  });

  it('a stale pod secret, then the service account’s good one: a token with each, the second works', async () => {
    const stale = secret('stale', 'pod', 'expired-password');
    const good = secret('good', 'service account', registry.admin.password);
    const image = `${registry.host}/team/app:v1`;
    const before = registry.tokenAttempts().length;
    const result = await newLookup().resolveCommand({ image, credentials: [stale, good] });
    assert.deepEqual(result.argv, ['/team/app']);
    assert.deepEqual(
      registry.tokenAttempts().slice(before),
      [
        { username: 'admin', status: 401 },
        { username: 'admin', status: 200 },
      ],
      'the token service saw the refused credential, then the good one',
    );
    const event = events.at(-1);
    assert.equal(event?.credentialSource, 'service account secret team-a/good');
    assert.equal(event?.credentialsTried, 2);
    // The registry served the manifest and the config blob, once each, with the good token.
    assert.equal(
      await registry.countRequests({ uriIncludes: '/team/app/manifests/v1', status: 200 }),
      1,
    );
    assert.equal(
      await registry.countRequests({ uriIncludes: '/team/app/blobs/', method: 'GET', status: 200 }),
      1,
    );
  });

  it('two stale secrets: refused naming the count; no anonymous token after them', async () => {
    const stale = secret('stale', 'pod', 'expired-password');
    const older = secret('older', 'service account', 'older-password');
    const before = registry.tokenAttempts().length;
    const error = await expectCode(
      newLookup().lookup({ image: `${registry.host}/team/app:v1`, credentials: [stale, older] }),
      'unauthorized',
    );
    assert.match(error.message, /2 credentials tried, none accepted: token endpoint .*HTTP 401/);
    assert.match(error.message, /pod secret team-a\/stale;.*service account secret team-a\/older$/);
    assert.doesNotMatch(error.message + JSON.stringify(events), /expired-password|older-password/);
    assert.deepEqual(registry.tokenAttempts().slice(before), [
      { username: 'admin', status: 401 },
      { username: 'admin', status: 401 },
    ]);
  });
});

describe('registry lookup, failures without a registry', () => {
  it('a registry that accepts connections and never answers: timeout within the budget', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const lookup = new ImageConfigLookup({ timeoutMs: 300 });
    try {
      const started = performance.now();
      const error = await expectCode(
        lookup.lookup({ image: `127.0.0.1:${port}/app:v1` }),
        'timeout',
      );
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 1500, `took ${elapsed} ms`);
      assert.match(error.message, new RegExp(`registry 127\\.0\\.0\\.1:${port}.*within 300 ms`));
    } finally {
      lookup.close();
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });

  it('nothing listening: unreachable, what refused it only in the detail for the log', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const lookup = new ImageConfigLookup();
    try {
      const error = await expectCode(
        lookup.lookup({ image: `127.0.0.1:${port}/app:v1` }),
        'unreachable',
      );
      assert.match(
        error.message,
        new RegExp(`no registry answered at 127\\.0\\.0\\.1:${port} over HTTPS`),
      );
      assert.doesNotMatch(error.message, /ECONNREFUSED/);
      assert.match(error.detail ?? '', /ECONNREFUSED/);
    } finally {
      lookup.close();
    }
  });

  it('the caller aborts: aborted, at once', async () => {
    const server = net.createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const lookup = new ImageConfigLookup({ timeoutMs: 5000 });
    try {
      const controller = new AbortController();
      const pending = lookup.lookup({
        image: `127.0.0.1:${port}/app:v1`,
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(), 50);
      await expectCode(pending, 'aborted');
    } finally {
      lookup.close();
      server.close();
    }
  });
});
