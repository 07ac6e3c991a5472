/**
 * The whole local real stack, for the end-to-end tests, `scripts/dev-env.sh` and `make demo`:
 *
 *   etcd + kube-apiserver (test/env/kube.ts)
 *   OpenBao dev server with Kubernetes auth against that apiserver (test/env/vault-kubernetes.ts)
 *     and every engine the init tests use (`setUpFixtures`, test/env/openbao.ts): KV v2 at
 *     `secret/`, KV v1 at `kv/`, transit (key `app`), PKI (role `app`), password policy `app`,
 *     policy `app` over all of them, jwt and approle auth (role `app`);
 *   the BUILT webhook, `node dist/webhook/vault-inject.js webhook --self-signed`, on 127.0.0.1,
 *     with a kubeconfig of its own user (RBAC: the chart's gets), registered through the
 *     MutatingWebhookConfiguration the Helm chart renders, with `clientConfig.url` its loopback
 *     address and `caBundle` the certificate it serves.
 *
 * Everything binds to 127.0.0.1; every process is in its own group and is stopped by `stop()`
 * (and killed when this Node process exits, unless `persistent`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { existsSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import { chartWebhookConfiguration, startKube, type Kube, type KubeOptions } from './kube.ts';
import { startNode, type Node } from './node.ts';
import { retryOnAddressInUse } from './ports.ts';
import { FIXTURES_POLICY, setUpFixtures, type Fixtures } from './openbao.ts';
import {
  forgetDir,
  freePort,
  removeDirOnExit,
  startProcess,
  tail,
  waitUntil,
  type ServerProcess,
} from './processes.ts';
import {
  configureKubernetesAuth,
  createKubernetesRole,
  startBao,
  writePolicy,
  type Bao,
} from './vault-kubernetes.ts';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const WEBHOOK_BUILT = path.join(repoRoot, 'dist/webhook/vault-inject.js');
/** The chart's namespace opt-out: namespaces labelled `vault-inject.dev/inject=false` are skipped. */
export const OPT_OUT_LABEL = 'vault-inject.dev/inject';
/** The policy every test role gets: read any KV v2 secret under `secret/`. */
export const READ_POLICY = 'vault-inject-read';

export interface WebhookProcess {
  /** https://127.0.0.1:PORT/mutate */
  readonly url: string;
  /** The certificate it serves (self-signed), PEM: the registration's caBundle. */
  readonly caPem: string;
  /** http://127.0.0.1:PORT (healthz, readyz, metrics) */
  readonly telemetryUrl: string;
  readonly logPath: string;
  readonly process: ServerProcess;
  stop(): Promise<void>;
}

export interface StackOptions extends KubeOptions {
  /** Extra flags for `vault-inject webhook`. */
  readonly webhookArgs?: readonly string[];
  /**
   * Start the real node too (test/env/node.ts): the webhook's --vault-addr is then OpenBao as
   * the pods reach it, and the node's registry is spoken to over plain HTTP.
   */
  readonly node?: boolean;
}

export interface Stack {
  readonly dir: string;
  readonly kube: Kube;
  readonly bao: Bao;
  readonly webhook: WebhookProcess;
  /** What `setUpFixtures` made: the approle role's ids, the transit key. */
  readonly fixtures: Fixtures;
  /** The webhook's --vault-addr: the OpenBao dev server (with a node: as the pods reach it). */
  readonly vaultAddr: string;
  /** The real node, when started with `node: true`. */
  readonly node: Node | undefined;
  /**
   * A namespace (Pod Security `restricted`) with service account `sa` (and `default`), and a Vault
   * role `role` (default: `sa`) bound to that account with audience `vault`, the read policy and
   * the fixtures' policy (KV v1, transit, PKI, the password policy).
   */
  appNamespace(prefix: string, sa?: string, role?: string): Promise<string>;
  /**
   * Stops the webhook and starts it again with `args` (besides the stack's own flags), registered
   * anew: e.g. `--delivery=image` for the pods that follow. Call `waitForWebhook` afterwards.
   */
  restartWebhook(args: readonly string[]): Promise<void>;
  /** Creates `pod` with `dryRun=All` until the webhook mutates it (configuration changes are async). */
  waitForWebhook(namespace: string): Promise<void>;
  logs(lines?: number): string;
  stop(): Promise<void>;
}

function pemOf(raw: Buffer): string {
  const b64 = raw.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

/** The certificate a TLS server on 127.0.0.1:port presents (trust on first use, loopback only). */
export function servedCertificate(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' },
      () => {
        const cert = socket.getPeerCertificate();
        socket.end();
        if (!cert.raw) reject(new Error('no certificate presented'));
        else resolve(pemOf(cert.raw));
      },
    );
    socket.once('error', reject);
  });
}

interface WebhookStart {
  dir: string;
  kubeconfig: string;
  vaultAddr: string;
  args?: readonly string[];
  persistent?: boolean;
}

/** The built webhook on two free ports; started again on others when one was taken meanwhile. */
export function startWebhookProcess(options: WebhookStart): Promise<WebhookProcess> {
  return retryOnAddressInUse('webhook', () => startWebhookOnce(options));
}

async function startWebhookOnce(options: WebhookStart): Promise<WebhookProcess> {
  if (!existsSync(WEBHOOK_BUILT)) {
    throw new Error(`${WEBHOOK_BUILT} is missing: run make build`);
  }
  const port = await freePort();
  const telemetryPort = await freePort();
  const logPath = path.join(options.dir, 'webhook.log');
  const proc = startProcess({
    name: 'webhook',
    command: process.execPath,
    args: [
      WEBHOOK_BUILT,
      'webhook',
      '--self-signed',
      `--listen=127.0.0.1:${port}`,
      `--telemetry-listen=127.0.0.1:${telemetryPort}`,
      `--vault-addr=${options.vaultAddr}`,
      '--shutdown-delay=0s',
      // Below the chart's timeoutSeconds (5).
      '--request-deadline=4s',
      ...(options.args ?? []),
    ],
    logPath,
    // A clean environment: nothing of the caller's VAULT_* or KUBECONFIG reaches the webhook.
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', KUBECONFIG: options.kubeconfig },
    persistent: options.persistent ?? false,
  });
  const telemetryUrl = `http://127.0.0.1:${telemetryPort}`;
  try {
    await waitUntil('webhook /readyz', async () => (await fetch(`${telemetryUrl}/readyz`)).ok, {
      process: proc,
    });
    await waitUntil('webhook HTTPS', async () => (await servedCertificate(port)).length > 0, {
      process: proc,
    });
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return {
    url: `https://127.0.0.1:${port}/mutate`,
    caPem: await servedCertificate(port),
    telemetryUrl,
    logPath,
    process: proc,
    stop: () => proc.stop(),
  };
}

/** A pod that passes Pod Security `restricted`: the shape every test pod starts from. */
export function restrictedPod(
  name: string,
  container: Partial<NonNullable<V1Pod['spec']>['containers'][number]>,
  extra: { serviceAccountName?: string; annotations?: Record<string, string> } = {},
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      serviceAccountName: extra.serviceAccountName ?? 'default',
      automountServiceAccountToken: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'app',
          image: 'registry.example/app:1.0',
          ...container,
          securityContext: {
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            readOnlyRootFilesystem: true,
          },
        },
      ],
    },
  };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dir = await mkdtemp(path.join(options.baseDir ?? tmpdir(), 'vault-inject-stack-'));
  if (!options.persistent) removeDirOnExit(dir);
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of [...started].reverse()) await s.stop();
  };
  try {
    const kube = await startKube({ ...options, baseDir: dir });
    started.push(kube);
    const bao = await startBao({ ...options, baseDir: dir });
    started.push(bao);
    await configureKubernetesAuth(bao, {
      server: kube.server,
      caPem: kube.caPem,
      reviewerToken: kube.adminToken,
    });
    const fixtures = await setUpFixtures(bao);
    await writePolicy(
      bao,
      READ_POLICY,
      'path "secret/data/*" { capabilities = ["read"] }\npath "secret/metadata/*" { capabilities = ["read"] }\n',
    );
    const kubeconfig = await kube.writeKubeconfig(
      path.join(dir, 'webhook.kubeconfig'),
      kube.webhookToken,
    );
    const node = options.node
      ? await startNode({
          kube,
          baoAddr: bao.addr,
          // Test files that each start a node take turns; a person's `dev-env up` is told at once
          // (unless VAULT_INJECT_NODE_LOCK_WAIT gives it seconds to wait: its own test).
          lockWaitMs: options.persistent
            ? Number(process.env['VAULT_INJECT_NODE_LOCK_WAIT'] ?? '0') * 1000
            : 600_000,
          ...(options.persistent ? { persistent: true } : {}),
        })
      : undefined;
    if (node) started.push(node);
    const startWebhook = (args: readonly string[]): Promise<WebhookProcess> =>
      startWebhookProcess({
        dir,
        kubeconfig,
        vaultAddr: node?.podVaultAddr ?? bao.addr,
        args: [...(node ? [`--registry-plain-http=${node.registry}`] : []), ...args],
        ...(options.persistent ? { persistent: true } : {}),
      });
    const current = { webhook: await startWebhook(options.webhookArgs ?? []) };
    started.push({ stop: () => current.webhook.stop() });
    const configName = await registerChartWebhook(kube, current.webhook);
    const restartWebhook = async (args: readonly string[]): Promise<void> => {
      await current.webhook.stop();
      current.webhook = await startWebhook(args);
      await kube.admission.deleteMutatingWebhookConfiguration({ name: configName });
      await registerChartWebhook(kube, current.webhook);
    };
    return makeStack({ dir, kube, bao, current, fixtures, node, restartWebhook }, stopAll);
  } catch (err) {
    await stopAll();
    if (process.env['VAULT_INJECT_KEEP_TEST_DIRS'] === undefined) {
      await rm(dir, { recursive: true, force: true });
    }
    throw err;
  }
}

/**
 * Registers the MutatingWebhookConfiguration exactly as the Helm chart (deploy/chart) renders it
 * (rules, namespaceSelector, objectSelector, matchConditions, failurePolicy, timeout), pointed at
 * the local webhook with `webhook.clientConfig.url` and `webhook.caBundle`.
 */
export async function registerChartWebhook(kube: Kube, webhook: WebhookProcess): Promise<string> {
  const config = await chartWebhookConfiguration({
    'webhook.clientConfig.url': webhook.url,
    'webhook.caBundle': Buffer.from(webhook.caPem).toString('base64'),
  });
  await kube.admission.createMutatingWebhookConfiguration({ body: config });
  return config.metadata?.name ?? '';
}

interface StackParts {
  readonly dir: string;
  readonly kube: Kube;
  readonly bao: Bao;
  readonly current: { webhook: WebhookProcess };
  readonly fixtures: Fixtures;
  readonly node: Node | undefined;
  readonly restartWebhook: (args: readonly string[]) => Promise<void>;
}

function makeStack(parts: StackParts, stopAll: () => Promise<void>): Stack {
  const { dir, kube, bao, current, fixtures, node, restartWebhook } = parts;
  let stopped = false;
  return {
    dir,
    kube,
    bao,
    fixtures,
    node,
    restartWebhook,
    get webhook() {
      return current.webhook;
    },
    vaultAddr: node?.podVaultAddr ?? bao.addr,
    async appNamespace(prefix, sa = 'app', role = sa) {
      const ns = await kube.createNamespace(prefix);
      await kube.createServiceAccount(ns, sa);
      await createKubernetesRole(bao, {
        name: role,
        serviceAccounts: [sa],
        namespaces: [ns],
        policies: [READ_POLICY, FIXTURES_POLICY],
      });
      return ns;
    },
    async waitForWebhook(namespace) {
      const probe = restrictedPod('probe', {
        command: ['/bin/true'],
        env: [{ name: 'PROBE', value: 'vault:secret/data/probe#key' }],
      });
      await waitUntil(
        'the webhook registration in effect',
        async () => {
          const pod = await kube.core.createNamespacedPod({
            namespace,
            body: probe,
            dryRun: 'All',
          });
          return pod.metadata?.annotations?.['vault-inject.dev/status'] === 'injected';
        },
        { timeoutMs: 20_000 },
      );
    },
    logs(lines = 40) {
      return [
        kube.logs(lines),
        bao.logs(lines),
        `--- webhook (${current.webhook.logPath}) ---\n${tail(current.webhook.logPath, lines)}`,
        ...(node ? [node.logs(lines)] : []),
      ].join('\n');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopAll();
      if (process.env['VAULT_INJECT_KEEP_TEST_DIRS'] === undefined) {
        await rm(dir, { recursive: true, force: true });
      }
      forgetDir(dir);
    },
  };
}
