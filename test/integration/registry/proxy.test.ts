// The built webhook (dist/webhook/vault-inject.js, a process configured by its environment) looks up
// a container's image command in the real registry (test/env/registry.ts) through an HTTP CONNECT
// proxy written here (test/env/connect-proxy.ts) that counts its tunnels: through the proxy when
// HTTPS_PROXY is set, with the URL's credentials sent and never logged; direct when NO_PROXY
// names the registry.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startConnectProxy, type ConnectProxy } from '../../env/connect-proxy.ts';
import { freePort } from '../../env/ports.ts';
import { registryAvailable, startRegistry, type TestRegistry } from '../../env/registry.ts';
import { BUILT_WEBHOOK, imageReview, postJson } from './built-webhook.ts';

const review = (uid: string, image: string) =>
  imageReview(uid, image, 'web', 'vault:secret/data/a#b');
const bin = BUILT_WEBHOOK;
const skip = !registryAvailable()
  ? 'docker-registry is not installed (scripts/components.sh)'
  : !existsSync(bin)
    ? 'dist/webhook is not built (make build)'
    : false;

const PROXY_PASSWORD = 'proxy-CANARY-2b9e41';

interface Running {
  readonly child: ChildProcess;
  readonly port: number;
  readonly output: () => string;
}

async function waitReady(telemetry: number, child: ChildProcess, output: () => string) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) assert.fail(`webhook exited ${child.exitCode}: ${output()}`);
    try {
      const r = await fetch(`http://127.0.0.1:${telemetry}/readyz`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`webhook not ready: ${output()}`);
}

describe('built webhook: registry lookups through HTTPS_PROXY', { skip }, () => {
  let registry: TestRegistry;
  let proxy: ConnectProxy;
  let dir: string;
  const children: ChildProcess[] = [];
  const BASE_ENV = () => ({
    PATH: process.env.PATH ?? '',
    HOME: dir,
    KUBECONFIG: path.join(dir, 'no-kubeconfig'),
  });

  async function webhook(env: Record<string, string>): Promise<Running> {
    const [port, telemetry] = [await freePort(), await freePort()];
    let text = '';
    const child = spawn(
      process.execPath,
      [
        bin,
        'webhook',
        '--self-signed',
        `--listen=127.0.0.1:${port}`,
        `--telemetry-listen=127.0.0.1:${telemetry}`,
        '--shutdown-delay=0s',
        '--log-level=debug',
        `--registry-ca=${registry.host}=${path.join(dir, 'ca.crt')}`,
      ],
      // A KUBECONFIG that does not exist: no Kubernetes API, the registry lookup alone.
      { env: { ...BASE_ENV(), ...env }, stdio: 'pipe' },
    );
    children.push(child);
    child.stdout?.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (text += c.toString('utf8')));
    await waitReady(telemetry, child, () => text);
    return { child, port, output: () => text };
  }

  async function stop(running: Running): Promise<void> {
    const exited = new Promise((r) => running.child.once('exit', r));
    running.child.kill('SIGTERM');
    await exited;
  }

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    proxy = await startConnectProxy({ username: 'team a', password: PROXY_PASSWORD });
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-proxy-'));
    await writeFile(path.join(dir, 'ca.crt'), registry.ca);
    await registry.pushImage('apps/web', 'v1', { entrypoint: ['/bin/web'], cmd: ['serve'] });
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await proxy?.close();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('tunnels HTTPS to the registry through the proxy, with its credentials, never logged', async () => {
    const running = await webhook({ HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com,10.0.0.0/8' });
    const before = proxy.tunnels(registry.host);
    const json = await postJson(running.port, review('p1', `${registry.host}/apps/web:v1`));
    const response = json.response as { allowed: boolean; patch?: string };
    assert.equal(response.allowed, true, JSON.stringify(json));
    assert.match(Buffer.from(response.patch ?? '', 'base64').toString('utf8'), /\/bin\/web/);
    assert.ok(proxy.tunnels(registry.host) > before, 'no CONNECT to the registry');
    assert.equal(proxy.refused(), 0);
    assert.ok(proxy.authorizations.length > 0);
    await stop(running);
    assert.ok(!running.output().includes(PROXY_PASSWORD), 'the proxy password was logged');
  });

  it('goes direct when NO_PROXY names the registry (lowercase no_proxy wins)', async () => {
    const envs: Record<string, string>[] = [
      { HTTPS_PROXY: proxy.url, NO_PROXY: registry.host },
      { https_proxy: proxy.url, NO_PROXY: 'example.com', no_proxy: '127.0.0.0/8' },
    ];
    for (const env of envs) {
      const running = await webhook(env);
      const before = proxy.tunnels();
      const json = await postJson(running.port, review('p2', `${registry.host}/apps/web:v1`));
      assert.equal((json.response as { allowed: boolean }).allowed, true, JSON.stringify(json));
      assert.equal(proxy.tunnels(), before, `went through the proxy with ${JSON.stringify(env)}`);
      await stop(running);
    }
  });

  it('denies the pod when the proxy refuses the credentials, without the password', async () => {
    const wrong = proxy.url.replace(PROXY_PASSWORD, `${PROXY_PASSWORD}-wrong`);
    const running = await webhook({ HTTPS_PROXY: wrong });
    const refusedBefore = proxy.refused();
    const json = await postJson(running.port, review('p3', `${registry.host}/apps/web:v2`));
    const response = json.response as { allowed: boolean; status?: { message?: string } };
    assert.equal(response.allowed, false, JSON.stringify(json));
    assert.ok(proxy.refused() > refusedBefore);
    assert.ok(!JSON.stringify(json).includes(PROXY_PASSWORD));
    await stop(running);
    assert.match(running.output(), /answered HTTP 407 to CONNECT/);
    assert.ok(!running.output().includes(PROXY_PASSWORD), 'the proxy password was logged');
  });

  it('refuses to start with a proxy URL it cannot use, naming the variable only', async () => {
    const child = spawn(process.execPath, [bin, 'webhook', '--self-signed'], {
      env: {
        ...BASE_ENV(),
        HTTPS_PROXY: `socks5://u:${PROXY_PASSWORD}@h:1`,
      },
      stdio: 'pipe',
    });
    let text = '';
    child.stderr.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.stdout.on('data', (c: Buffer) => (text += c.toString('utf8')));
    const code = await new Promise((r) => child.once('exit', r));
    assert.notEqual(code, 0);
    assert.match(text, /HTTPS_PROXY: only http:\/\/ proxies are supported/);
    assert.ok(!text.includes(PROXY_PASSWORD));
  });
});
