/**
 * A kubelet credential provider plugin supplying registry credentials end to end: the built
 * webhook (dist/webhook/vault-inject.js) with --registry-credential-provider-config and
 * --registry-credential-provider-bin-dir, shell-script plugins this test writes, and the real
 * registry with basic auth. One pod is mutated with the image's command (the credentials came from
 * the plugin: there are no others); one whose image matches a failing plugin is denied naming it.
 * The registry password is never in a response or a log line. Needs `make build`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { registryAvailable, startRegistry, type TestRegistry } from '../../env/registry.ts';
import { BUILT_WEBHOOK, imageReview as review, postReview } from './built-webhook.ts';

const BIN = BUILT_WEBHOOK;
const skip = !registryAvailable()
  ? 'docker-registry is not installed (scripts/components.sh)'
  : !existsSync(BIN)
    ? 'dist/webhook/vault-inject.js is not built (make build)'
    : false;

type Json = Record<string, unknown>;

describe('the built webhook with a kubelet credential provider plugin', { skip }, () => {
  let registry: TestRegistry;
  let dir: string;
  let webhook: ChildProcess;
  let admissionPort = 0;
  const lines: string[] = [];

  async function plugin(name: string, script: string): Promise<void> {
    const file = path.join(dir, 'bin', name);
    await writeFile(file, script);
    await chmod(file, 0o755);
  }

  before(async () => {
    registry = await startRegistry({ auth: 'htpasswd' });
    await registry.pushImage('apps/web', 'v1', { entrypoint: ['/bin/web'], cmd: ['--serve'] });
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-cred-provider-'));
    await mkdir(path.join(dir, 'bin'));
    const port = registry.host.split(':')[1] ?? '';
    await plugin(
      'registry-login',
      `#!/bin/sh
cat >/dev/null
printf '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","cacheKeyType":"Registry","cacheDuration":"5m","auth":{"%s":{"username":"%s","password":"%s"}}}' "$REGISTRY_HOST" "$1" "$REGISTRY_PASSWORD"
`,
    );
    await plugin('broken', '#!/bin/sh\ncat >/dev/null\necho "$REGISTRY_PASSWORD" >&2\nexit 7\n');
    const env = [
      { name: 'REGISTRY_HOST', value: registry.host },
      { name: 'REGISTRY_PASSWORD', value: registry.admin.password },
    ];
    const config = [
      'apiVersion: kubelet.config.k8s.io/v1',
      'kind: CredentialProviderConfig',
      'providers:',
      '  - name: registry-login',
      `    matchImages: ["127.0.0.*:${port}"]`,
      '    defaultCacheDuration: 1h',
      '    apiVersion: credentialprovider.kubelet.k8s.io/v1',
      `    args: [${JSON.stringify(registry.admin.username)}]`,
      `    env: ${JSON.stringify(env)}`,
      '  - name: broken',
      `    matchImages: ["localhost:${port}"]`,
      '    defaultCacheDuration: 1h',
      '    apiVersion: credentialprovider.kubelet.k8s.io/v1',
      `    env: ${JSON.stringify(env)}`,
    ].join('\n');
    await writeFile(path.join(dir, 'providers.yaml'), config);
    await writeFile(path.join(dir, 'ca.crt'), registry.ca);
    webhook = spawn(
      process.execPath,
      [
        BIN,
        'webhook',
        '--self-signed',
        '--listen=127.0.0.1:0',
        '--telemetry-listen=127.0.0.1:0',
        '--shutdown-delay=0s',
        '--read-sources=false',
        `--registry-ca=${registry.host}=${path.join(dir, 'ca.crt')}`,
        `--registry-credential-provider-config=${path.join(dir, 'providers.yaml')}`,
        `--registry-credential-provider-bin-dir=${path.join(dir, 'bin')}`,
      ],
      // No Kubernetes API: no pull secrets; the plugin is the only source of credentials.
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, KUBECONFIG: path.join(dir, 'none') },
      },
    );
    const collect = (chunk: Buffer): void => {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    };
    webhook.stdout?.on('data', collect);
    webhook.stderr?.on('data', collect);
    const deadline = Date.now() + 30_000;
    while (admissionPort === 0) {
      const up = lines.find((l) => l.includes('"webhook listening"'));
      if (up) admissionPort = (JSON.parse(up) as Json).admissionPort as number;
      else if (Date.now() > deadline || webhook.exitCode !== null) {
        throw new Error(`webhook did not start: ${lines.join('\n')}`);
      } else await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    if (webhook && webhook.exitCode === null) {
      const exited = new Promise((r) => webhook.once('exit', r));
      webhook.kill('SIGTERM');
      await exited;
    }
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The webhook's log reaches us through a pipe: a line may arrive after the answer it explains. */
  async function logLine(test: (line: string) => boolean): Promise<boolean> {
    for (let i = 0; i < 50 && !lines.some(test); i++) await new Promise((r) => setTimeout(r, 100));
    return lines.some(test);
  }

  it("mutates a pod with the image's command, pulled with the plugin's credentials", async () => {
    const { text, json } = await postReview(
      admissionPort,
      review('good', `${registry.host}/apps/web:v1`),
    );
    const response = json.response as { allowed: boolean; patch?: string };
    assert.equal(response.allowed, true, text);
    const patch = Buffer.from(response.patch ?? '', 'base64').toString('utf8');
    assert.match(patch, /"\/bin\/web","--serve"/);
    assert.ok(!text.includes(registry.admin.password));
    assert.ok(
      await logLine(
        (l) => l.includes('"registry lookup"') && l.includes('credential provider registry-login'),
      ),
      lines.join('\n'),
    );
  });

  it('denies a pod whose image matches a failing plugin, naming it and the reason', async () => {
    const { text, json } = await postReview(
      admissionPort,
      review('broken', `localhost:${registry.host.split(':')[1]}/apps/web:v1`),
    );
    const response = json.response as { allowed: boolean; status?: { message?: string } };
    assert.equal(response.allowed, false, text);
    assert.match(
      response.status?.message ?? '',
      /no credentials from the credential provider: credential provider "broken" exited with code 7/,
    );
    assert.ok(!text.includes(registry.admin.password));
    // The failed lookup's own line first, so that the check below reads the whole log.
    assert.ok(await logLine((l) => l.includes('registry lookup failed')), lines.join('\n'));
    assert.ok(!lines.join('\n').includes(registry.admin.password), 'the password reached the log');
  });
});
