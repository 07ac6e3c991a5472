/**
 * The webhook's Kubernetes reads against a real kube-apiserver (test/env/kube.ts), through a TCP
 * proxy that counts connections and can stall them (a slow apiserver):
 *   - every read of one KubeConfig (pull secrets, service accounts, Secrets, ConfigMaps) goes over
 *     one keep-alive connection, where @kubernetes/client-node alone opens one per read;
 *   - a read that gets no answer is retried, and the pod is mutated;
 *   - a read that never gets one denies the pod naming the timeout, also under
 *     --registry-failure-policy=admit, never "not authorized" or an unmutated pod; the log names
 *     the cause (`timeout`, `no answer within … ms`), not `"status":23`.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { startWebhook, type RunningWebhook } from '../../../webhook/src/cli/webhook.ts';
import { parseConfig, readFlags } from '../../../webhook/src/config.ts';
import { kubernetesPullSecretReader } from '../../../webhook/src/k8s/pull-secrets.ts';
import type { FailedRead } from '../../../webhook/src/k8s/read-retry.ts';
import { kubernetesSourceReader } from '../../../webhook/src/k8s/sources.ts';
import { VERSION } from '../../../webhook/src/version.ts';
import { startKube, type Kube } from '../../env/kube.ts';
import { registryAvailable, startRegistry, type TestRegistry } from '../../env/registry.ts';
import { startCountingProxy, type CountingProxy } from './counting-proxy.ts';
import { BUILT_WEBHOOK, postJson } from './built-webhook.ts';

const skip = registryAvailable()
  ? false
  : 'docker-registry is not installed (scripts/components.sh)';
const BIN = BUILT_WEBHOOK;
const skipBuilt =
  skip || (existsSync(BIN) ? false : 'dist/webhook/vault-inject.js is not built (make build)');

type Json = Record<string, unknown>;

describe('Kubernetes reads: one connection, retried, a timeout named', { skip }, () => {
  let kube: Kube;
  let registry: TestRegistry;
  let proxy: CountingProxy;
  let ns: string;
  let dir: string;
  const webhooks: RunningWebhook[] = [];

  /** The webhook's credentials, through the proxy: a KubeConfig of its own (its own pool). */
  function viaProxy(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'proxied',
          server: `https://127.0.0.1:${proxy.port}`,
          caData: Buffer.from(kube.caPem).toString('base64'),
          skipTLSVerify: false,
        },
      ],
      users: [{ name: 'webhook', token: kube.webhookToken }],
      contexts: [{ name: 'proxied', cluster: 'proxied', user: 'webhook' }],
      currentContext: 'proxied',
    });
    return kc;
  }

  before(async () => {
    kube = await startKube({ auditLog: true });
    registry = await startRegistry({ auth: 'htpasswd' });
    await registry.pushImage('apps/web', 'v1', { entrypoint: ['/bin/web'] });
    proxy = await startCountingProxy(new URL(kube.server));
    ns = await kube.createNamespace('kube-reads');
    await kube.createServiceAccount(ns, 'app');
    const auth = Buffer.from(`${registry.admin.username}:${registry.admin.password}`).toString(
      'base64',
    );
    await kube.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'regcred' },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: {
          '.dockerconfigjson': JSON.stringify({ auths: { [registry.host]: { auth } } }),
        },
      },
    });
    await kube.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'cfg' }, data: { mode: 'vault:secret/data/cfg#mode' } },
    });
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-kube-reads-'));
    await writeFile(path.join(dir, 'ca.crt'), registry.ca);
  });

  after(async () => {
    for (const w of webhooks) await w.stop();
    await proxy?.close();
    await registry?.stop();
    await kube?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('every read of one KubeConfig shares one keep-alive connection', async () => {
    const signal = new AbortController().signal;
    // The client alone, for comparison: a new connection (TLS handshake) per read.
    const baseline = proxy.connections();
    const plain = viaProxy().makeApiClient(CoreV1Api);
    for (let i = 0; i < 5; i += 1)
      await plain.readNamespacedSecret({ name: 'regcred', namespace: ns });
    const perRead = proxy.connections() - baseline;

    const before = proxy.connections();
    const kc = viaProxy();
    const secrets = kubernetesPullSecretReader({ timeoutMs: 5000, kubeConfig: kc });
    const sources = kubernetesSourceReader({ timeoutMs: 5000, kubeConfig: kc });
    for (let i = 0; i < 10; i += 1) {
      assert.equal((await secrets.readSecrets(ns, ['regcred'], signal)).length, 1);
      assert.deepEqual(await secrets.serviceAccountPullSecrets(ns, 'app', signal), []);
      assert.deepEqual(await sources.read(ns, { kind: 'configmap', name: 'cfg' }), {
        mode: 'vault:secret/data/cfg#mode',
      });
    }
    const shared = proxy.connections() - before;
    assert.equal(perRead, 5, 'the client alone opens one connection per read');
    assert.equal(shared, 1, `30 reads over ${shared} connections`);
    // And they say who they are, as the client's own API objects do.
    const audit = await readFile(kube.auditLogPath ?? '', 'utf8');
    const agents = new Set(
      audit
        .split('\n')
        .filter((l) => l.includes(`"namespace":"${ns}"`) && l.includes('"resource":"configmaps"'))
        .filter((l) => l.includes('"verb":"get"'))
        .map((l) => (JSON.parse(l) as { userAgent?: string }).userAgent),
    );
    assert.deepEqual([...agents], [`vault-inject/${VERSION}`]);
  });

  it('a read that gets no answer is retried on another connection', async () => {
    const failed: FailedRead[] = [];
    // Generous for a loaded machine: a cold TLS connection must fit in one attempt.
    const reader = kubernetesPullSecretReader({
      timeoutMs: 1500,
      kubeConfig: viaProxy(),
      onFailedAttempt: (f) => failed.push(f),
    });
    proxy.stall(1);
    const before = proxy.connections();
    const found = await reader.readSecrets(ns, ['regcred'], new AbortController().signal);
    assert.equal(proxy.connections() - before, 2, 'the retry went over a new connection');
    assert.deepEqual(
      found.map((s) => s.metadata?.name),
      ['regcred'],
    );
    assert.deepEqual(failed, [
      {
        kind: 'secret',
        namespace: ns,
        name: 'regcred',
        attempt: 1,
        status: 'timeout',
        cause: 'no answer within 1500 ms',
      },
    ]);
  });

  async function webhook(logs: string[]) {
    const flags = readFlags(
      [
        '--self-signed',
        '--listen=127.0.0.1:0',
        '--telemetry-listen=127.0.0.1:0',
        '--shutdown-delay=0s',
        `--registry-ca=${registry.host}=${path.join(dir, 'ca.crt')}`,
        '--registry-failure-policy=admit',
      ],
      {},
    ).flags;
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
          done();
        },
      }),
    );
    const running = await startWebhook({
      config: parseConfig(flags),
      logger,
      secrets: kubernetesPullSecretReader({
        timeoutMs: 1000,
        kubeConfig: viaProxy(),
        onFailedAttempt: (f) => logger.warn(f, 'Kubernetes read got no answer'),
      }),
    });
    webhooks.push(running);
    return running;
  }

  const review = (uid: string) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: ns,
      object: {
        metadata: { name: `pod-${uid}` },
        spec: {
          serviceAccountName: 'app',
          imagePullSecrets: [{ name: 'regcred' }],
          containers: [
            {
              name: 'web',
              image: `${registry.host}/apps/web:v1`,
              env: [{ name: 'A', value: 'vault:secret/data/db#password' }],
            },
          ],
        },
      },
    },
  });

  it('a slow apiserver once: the pod is mutated with its pull secret', async () => {
    const running = await webhook([]);
    proxy.stall(1);
    const answer = (await postJson(running.admissionPort, review('slow-once'))).response as Json;
    assert.equal(answer.allowed, true, JSON.stringify(answer));
    assert.ok(answer.patch, 'mutated');
  });

  it('an apiserver that never answers: denied naming the timeout, even with failure policy admit', async () => {
    const logs: string[] = [];
    const running = await webhook(logs);
    proxy.stall(Infinity);
    const started = performance.now();
    const answer = (await postJson(running.admissionPort, review('silent'))).response as {
      allowed: boolean;
      status?: { message?: string };
      warnings?: string[];
    };
    proxy.stall(0);
    const elapsed = performance.now() - started;
    assert.equal(answer.allowed, false, JSON.stringify(answer));
    const message = answer.status?.message ?? '';
    assert.match(
      message,
      new RegExp(
        `(secret|service account) ${ns}/(regcred|app) could not be read from the Kubernetes API: no answer within 1000 ms \\(2 tries\\)`,
      ),
    );
    assert.doesNotMatch(message, /not authorized|credentials/);
    // Denied by the reads' own bound (2 × 1 s), before the review's deadline (8 s) would fire.
    assert.ok(elapsed < 8000, `answered after ${Math.round(elapsed)} ms`);
    // The log arrives through a pipe, possibly after the answer: wait for its lines a little.
    const noAnswer = (): Json[] =>
      logs
        .map((l) => JSON.parse(l) as Json)
        .filter((l) => l.msg === 'Kubernetes read got no answer');
    for (let i = 0; i < 50 && noAnswer().length < 2; i++)
      await new Promise((r) => setTimeout(r, 100));
    const failed = noAnswer();
    assert.ok(failed.length >= 2, logs.join('\n'));
    for (const line of failed) {
      assert.equal(line.status, 'timeout');
      assert.equal(line.cause, 'no answer within 1000 ms');
    }
  });
});

describe('the built webhook: its Kubernetes reads', { skip: skipBuilt }, () => {
  let kube: Kube;
  let registry: TestRegistry;
  let proxy: CountingProxy;
  let ns: string;
  let dir: string;
  let webhook: ChildProcess;
  let admissionPort = 0;
  const lines: Json[] = [];

  before(async () => {
    kube = await startKube();
    registry = await startRegistry({ auth: 'htpasswd' });
    await registry.pushImage('apps/web', 'v1', { entrypoint: ['/bin/web'] });
    proxy = await startCountingProxy(new URL(kube.server));
    ns = await kube.createNamespace('built-reads');
    await kube.createServiceAccount(ns, 'app');
    const auth = Buffer.from(`${registry.admin.username}:${registry.admin.password}`).toString(
      'base64',
    );
    await kube.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'regcred' },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: {
          '.dockerconfigjson': JSON.stringify({ auths: { [registry.host]: { auth } } }),
        },
      },
    });
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-built-reads-'));
    await writeFile(path.join(dir, 'ca.crt'), registry.ca);
    // The webhook's own user, through the proxy.
    const kubeconfig = await kube.writeKubeconfig(path.join(dir, 'kubeconfig'), kube.webhookToken);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const text = kc
      .exportConfig()
      .replace(JSON.stringify(kube.server), JSON.stringify(`https://127.0.0.1:${proxy.port}`));
    assert.ok(text.includes(`127.0.0.1:${proxy.port}`), 'the kubeconfig points at the proxy');
    await writeFile(kubeconfig, text, { mode: 0o600 });
    webhook = spawn(
      process.execPath,
      [
        BIN,
        'webhook',
        '--self-signed',
        '--listen=127.0.0.1:0',
        '--telemetry-listen=127.0.0.1:0',
        '--shutdown-delay=0s',
        `--registry-ca=${registry.host}=${path.join(dir, 'ca.crt')}`,
        '--registry-failure-policy=admit',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KUBECONFIG: kubeconfig } },
    );
    let buffered = '';
    webhook.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const part of parts) if (part.trim()) lines.push(JSON.parse(part) as Json);
    });
    const deadline = Date.now() + 30_000;
    while (admissionPort === 0) {
      const up = lines.find((l) => l.msg === 'webhook listening');
      if (up) admissionPort = up.admissionPort as number;
      else if (Date.now() > deadline || webhook.exitCode !== null) {
        throw new Error('webhook did not start');
      } else await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    if (webhook && webhook.exitCode === null) {
      const exited = new Promise((r) => webhook.once('exit', r));
      webhook.kill('SIGTERM');
      await exited;
    }
    await proxy?.close();
    await registry?.stop();
    await kube?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const review = (uid: string) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: ns,
      object: {
        metadata: { name: `pod-${uid}` },
        spec: {
          serviceAccountName: 'app',
          imagePullSecrets: [{ name: 'regcred' }],
          containers: [
            {
              name: 'web',
              image: `${registry.host}/apps/web:v1`,
              env: [{ name: 'A', value: 'vault:secret/data/db#password' }],
            },
          ],
        },
      },
    },
  });

  it('five reviews, ten reads, one connection to the apiserver', async () => {
    const before = proxy.connections();
    for (const uid of ['a', 'b', 'c', 'd', 'e']) {
      const answer = (await postJson(admissionPort, review(uid))).response as Json;
      assert.equal(answer.allowed, true, JSON.stringify(answer));
    }
    assert.equal(proxy.connections() - before, 1);
  });

  it('an apiserver that never answers: denied naming the timeout under policy admit, logged with its cause', async () => {
    // The open connection and the one the retry opens: none delivers an answer.
    proxy.hold(true);
    proxy.stall(Infinity);
    const answer = (await postJson(admissionPort, review('silent'))).response as {
      allowed: boolean;
      status?: { message?: string };
    };
    proxy.stall(0);
    proxy.hold(false);
    assert.equal(answer.allowed, false, JSON.stringify(answer));
    assert.match(
      answer.status?.message ?? '',
      new RegExp(
        `(secret|service account) ${ns}/(regcred|app) could not be read from the Kubernetes API: no answer within 1000 ms \\(2 tries\\)`,
      ),
    );
    const noAnswer = (): Json[] => lines.filter((l) => l.msg === 'Kubernetes read got no answer');
    for (let i = 0; i < 50 && noAnswer().length < 2; i++)
      await new Promise((r) => setTimeout(r, 100));
    const failed = noAnswer();
    assert.ok(failed.length >= 2, JSON.stringify(lines.slice(-5)));
    for (const line of failed) {
      assert.equal(line.status, 'timeout');
      assert.equal(line.cause, 'no answer within 1000 ms');
    }
  });
});
