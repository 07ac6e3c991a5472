/**
 * Kubelet credential provider plugins end to end through the webhook's registry wiring
 * (createRegistryLookup from the flags' config): shell-script plugins this test writes, a
 * CredentialProviderConfig file, and a real registry with basic auth. A plugin that fails, hangs or
 * prints garbage denies with its name and the reason, never a credential.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RegistryConfig } from '../../../webhook/src/config.ts';
import { createRegistryLookup, type RegistryLookup } from '../../../webhook/src/registry/setup.ts';
import { RegistryError } from '../../../webhook/src/registry/oci/index.ts';
import { registryAvailable, startRegistry, type TestRegistry } from '../../env/registry.ts';

const skip = registryAvailable()
  ? false
  : 'docker-registry is not installed (scripts/components.sh)';

/** A plugin answering with the registry's admin credentials: user from its arg, password from env. */
function goodPlugin(log: string, cacheKeyType: string): string {
  return `#!/bin/sh
req=$(cat)
printf '%s\\n' "$req" >> '${log}'
printf '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"${cacheKeyType}","auth":{"%s":{"username":"%s","password":"%s"}}}' "$REGISTRY_HOST" "$1" "$REGISTRY_PASSWORD"
`;
}

describe('credential provider plugins against a real registry', { skip }, () => {
  let registry: TestRegistry;
  let dir: string;
  const lookups: RegistryLookup[] = [];

  async function lookupWith(providers: Record<string, unknown>[]): Promise<RegistryLookup> {
    const file = path.join(dir, `config-${lookups.length}.yaml`);
    const body = {
      apiVersion: 'kubelet.config.k8s.io/v1',
      kind: 'CredentialProviderConfig',
      providers,
    };
    await writeFile(file, JSON.stringify(body));
    await writeFile(path.join(dir, 'ca.pem'), registry.ca);
    const config: RegistryConfig = {
      timeoutMs: 1500,
      platform: 'linux/amd64',
      tagTtlMs: 60_000,
      caFiles: [{ host: registry.host, file: path.join(dir, 'ca.pem') }],
      insecureSkipVerify: [],
      plainHttp: [],
      tokenRealmSameHost: false,
      defaultDockerConfigFile: '',
      credentialProviderConfigFile: file,
      credentialProviderBinDir: path.join(dir, 'bin'),
      failurePolicy: 'deny',
    };
    const lookup = await createRegistryLookup(config);
    lookups.push(lookup);
    return lookup;
  }

  const provider = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    matchImages: [registry.host],
    defaultCacheDuration: '1h',
    apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
    ...extra,
  });

  async function plugin(name: string, script: string): Promise<void> {
    const file = path.join(dir, 'bin', name);
    await writeFile(file, script);
    await chmod(file, 0o755);
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vi-cred-provider-'));
    await mkdir(path.join(dir, 'bin'));
    registry = await startRegistry({ auth: 'htpasswd' });
    await registry.pushImage('apps/web', 'v1', { entrypoint: ['/bin/web'], cmd: ['--port', '80'] });
    await plugin('good', goodPlugin(path.join(dir, 'good.log'), 'Registry'));
    await plugin('fails', '#!/bin/sh\ncat >/dev/null\necho "$REGISTRY_PASSWORD" >&2\nexit 3\n');
    await plugin('hangs', '#!/bin/sh\nsleep 30\n');
    await plugin('garbage', '#!/bin/sh\ncat >/dev/null\necho "token $REGISTRY_PASSWORD"\n');
  });

  after(async () => {
    for (const lookup of lookups) lookup.close();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const env = () => [
    { name: 'REGISTRY_HOST', value: registry.host },
    { name: 'REGISTRY_PASSWORD', value: registry.admin.password },
  ];

  it('gets the credentials from the plugin, with its args and env, and caches them', async () => {
    const lookup = await lookupWith([
      provider('good', { args: [registry.admin.username], env: env() }),
    ]);
    const image = `${registry.host}/apps/web:v1`;
    const result = await lookup.lookup.resolveCommand({ image });
    assert.deepEqual(result.argv, ['/bin/web', '--port', '80']);
    await lookup.lookup.resolveCommand({ image: `${registry.host}/apps/web@${result.digest}` });
    const requests = (await readFile(path.join(dir, 'good.log'), 'utf8')).trim().split('\n');
    assert.equal(requests.length, 1, 'cacheKeyType Registry: one run for the registry');
    assert.deepEqual(JSON.parse(requests[0] ?? ''), {
      apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
      kind: 'CredentialProviderRequest',
      image: `${registry.host}/apps/web`,
    });
  });

  it('without the plugin the registry refuses: the credentials came from it', async () => {
    const lookup = await lookupWith([provider('good', { args: ['nobody'], env: env() })]);
    const error = await lookup.lookup
      .resolveCommand({ image: `${registry.host}/apps/web:v1` })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(error instanceof RegistryError);
    assert.equal(error.code, 'unauthorized');
    assert.match(error.message, /credential provider good/);
  });

  for (const [name, reason] of [
    ['fails', /credential provider "fails" exited with code 3/],
    ['hangs', /credential provider "hangs" gave no answer within 1500 ms/],
    ['garbage', /credential provider "garbage" printed something that is not JSON/],
  ] as const) {
    it(`a plugin that ${name} denies naming it and the reason`, async () => {
      const lookup = await lookupWith([provider(name, { env: env() })]);
      const started = Date.now();
      const error = await lookup.lookup
        .resolveCommand({ image: `${registry.host}/apps/web:v1` })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.code, 'credential_provider');
      assert.match(error.message, reason);
      assert.ok(!error.message.includes(registry.admin.password));
      assert.ok(Date.now() - started < 10_000, 'the hanging plugin was killed');
    });
  }

  it('refuses at start a provider whose plugin is not in the bin dir', async () => {
    await assert.rejects(
      lookupWith([provider('missing')]),
      /plugin "missing" is not an executable in .*ENOENT/,
    );
  });
});
