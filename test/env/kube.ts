/**
 * A real Kubernetes control plane for tests: etcd 3.6 + kube-apiserver 1.35 on free loopback ports
 * in one temporary directory (flags from docs/real-stack.md). No controller-manager or scheduler:
 * pods are stored and stay Pending, which is all an admission test needs, unless they name the
 * stack's real node (test/env/node.ts), whose kubelet then runs them.
 *
 * What is set up:
 *   - a CA made for the run, a serving certificate for 127.0.0.1, service-account signing keys
 *     (so the TokenRequest API works), static tokens for `admin` (system:masters) and for the
 *     webhook's own user `vault-inject-webhook` (RBAC: get Secrets, ConfigMaps and
 *     ServiceAccounts, the chart's detection and pull-secret rules);
 *   - RBAC authorization and the admission plugins named on the command line (NamespaceLifecycle,
 *     ServiceAccount, PodSecurity, MutatingAdmissionWebhook, ValidatingAdmissionWebhook,
 *     ValidatingAdmissionPolicy; the rest of the defaults stay on);
 *   - optionally an audit log (level RequestResponse for everything), for the canary check.
 *
 * Binaries: $VAULT_INJECT_ETCD, $VAULT_INJECT_KUBE_APISERVER and $VAULT_INJECT_HELM
 * (`scripts/components.sh --env`), else the paths `scripts/components/NAME.sh path` prints.
 * Set VAULT_INJECT_KEEP_TEST_DIRS=1 to keep the directory (logs, PKI) after `stop()`.
 */
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1LabelSelector,
  type V1MatchCondition,
  type V1MutatingWebhookConfiguration,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { retryOnAddressInUse } from './ports.ts';
import {
  freePort,
  startProcess,
  tail,
  tcpOpen,
  waitUntil,
  type ServerProcess,
} from './processes.ts';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../..');

export const WEBHOOK_USER = 'vault-inject-webhook';
export const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** Where a component's binary is: the env var from `components.sh --env`, else the script's answer. */
export async function componentPath(name: string, envVar: string): Promise<string> {
  const fromEnv = process.env[envVar];
  if (fromEnv) return fromEnv;
  try {
    const { stdout } = await run(path.join(repoRoot, 'scripts/components', `${name}.sh`), ['path']);
    return stdout.trim();
  } catch {
    throw new Error(
      `${name} is not built: run scripts/components.sh (or make components), or set ${envVar}`,
    );
  }
}

export interface KubeOptions {
  /** Write an audit log (RequestResponse for every request) at `auditLogPath`. */
  readonly auditLog?: boolean;
  /** Leave the processes running when this Node process exits (scripts/dev-env.sh). */
  readonly persistent?: boolean;
  /** Parent of the temporary directory (default: the OS temp dir). */
  readonly baseDir?: string;
}

export interface WebhookRegistration {
  /** MutatingWebhookConfiguration name (also the webhook's name, with a `.vault-inject.dev` suffix). */
  readonly name: string;
  readonly url: string;
  readonly caBundlePem: string;
  readonly failurePolicy?: 'Fail' | 'Ignore';
  /** Default: every namespace except kube-system, kube-public and kube-node-lease. */
  readonly namespaceSelector?: V1LabelSelector;
  readonly timeoutSeconds?: number;
}

export interface Kube {
  readonly dir: string;
  /** https://127.0.0.1:PORT */
  readonly server: string;
  readonly caPem: string;
  readonly caPath: string;
  readonly adminToken: string;
  readonly webhookToken: string;
  readonly etcdUrl: string;
  readonly auditLogPath: string | undefined;
  readonly processes: readonly ServerProcess[];
  kubeConfig(token?: string): KubeConfig;
  /** Writes a kubeconfig file for `token` (default: admin) and returns its path. */
  writeKubeconfig(file: string, token?: string): Promise<string>;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly admission: AdmissionregistrationV1Api;
  /** A new namespace `PREFIX-RANDOM` labelled for Pod Security `restricted` (enforce, audit, warn). */
  createNamespace(prefix: string, labels?: Record<string, string>): Promise<string>;
  /** Creates the service account (and `default`, which no controller creates here). */
  createServiceAccount(namespace: string, name: string): Promise<void>;
  /** A TokenRequest token for the service account, audience `vault` by default. */
  serviceAccountToken(
    namespace: string,
    name: string,
    audience?: string,
    seconds?: number,
  ): Promise<string>;
  /**
   * A MutatingWebhookConfiguration of our own making for Pod CREATE (failurePolicy, namespaces
   * and timeout as given), with the chart's matchConditions. The stack registers the chart's
   * whole configuration instead (test/env/stack.ts).
   */
  registerWebhook(registration: WebhookRegistration): Promise<void>;
  deleteWebhook(name: string): Promise<void>;
  /** Every object the apiserver stores, read back raw from etcd (keys and values, decoded). */
  etcdDump(): Promise<{ key: string; value: Buffer }[]>;
  /** The tail of each component's log, for a failed test's output. */
  logs(lines?: number): string;
  stop(): Promise<void>;
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: RequestResponse
`;

/** The chart's release name (and namespace) when the tests render it. */
export const CHART_RELEASE = 'vault-inject';

/**
 * The MutatingWebhookConfiguration the Helm chart (deploy/chart) renders with these `--set`
 * values, for Kubernetes 1.35.4 (helm's offline default would be its client-go's).
 */
export async function chartWebhookConfiguration(
  set: Readonly<Record<string, string>> = {},
): Promise<V1MutatingWebhookConfiguration> {
  const helm = await componentPath('helm', 'VAULT_INJECT_HELM');
  const { stdout } = await run(
    helm,
    [
      'template',
      CHART_RELEASE,
      path.join(repoRoot, 'deploy/chart'),
      '--namespace',
      CHART_RELEASE,
      '--kube-version',
      '1.35.4',
      '--show-only',
      'templates/mutatingwebhook.yaml',
      ...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`]),
    ],
    { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir() } },
  );
  const config = parseAllDocuments(stdout)
    .map((d) => d.toJS() as { kind?: string } | null)
    .find((d) => d?.kind === 'MutatingWebhookConfiguration');
  if (!config) throw new Error('helm template rendered no MutatingWebhookConfiguration');
  return config as V1MutatingWebhookConfiguration;
}

let chartConditions: Promise<V1MatchCondition[]> | undefined;

/**
 * The chart's matchConditions (CEL the apiserver evaluates before calling the webhook: only pods
 * that carry a reference or one of our annotations), rendered once per process.
 */
export function chartMatchConditions(): Promise<V1MatchCondition[]> {
  chartConditions ??= chartWebhookConfiguration().then((config) => {
    const conditions = config.webhooks?.[0]?.matchConditions;
    if (!conditions?.length) throw new Error('the chart rendered no matchConditions');
    return conditions;
  });
  return chartConditions;
}

/**
 * What the chart's ClusterRole grants the webhook for detection (valueFrom/envFrom Secrets and
 * ConfigMaps, pull secrets) and image lookups (a service account's pull secrets); the certificate
 * rules of `certificates.mode=auto` are not part of it. test/integration/deploy/chart.test.ts
 * checks that the two agree.
 */
export const WEBHOOK_RBAC_RULES: readonly V1PolicyRule[] = [
  { apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['get'] },
  { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] },
];

async function makePki(dir: string): Promise<void> {
  const openssl = async (...args: string[]): Promise<void> => {
    try {
      await run('openssl', args, { cwd: dir });
    } catch (err) {
      throw new Error(`openssl ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr}`, {
        cause: err,
      });
    }
  };
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=vault-inject-test-ca',
  );
  await openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'apiserver.key',
    '-out',
    'apiserver.csr',
    '-subj',
    '/CN=kube-apiserver',
  );
  await writeFile(
    path.join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  await openssl(
    'x509',
    '-req',
    '-in',
    'apiserver.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'apiserver.crt',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  await openssl(
    'genpkey',
    '-algorithm',
    'RSA',
    '-pkeyopt',
    'rsa_keygen_bits:2048',
    '-out',
    'sa.key',
  );
  await openssl('pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub');
}

function randomToken(prefix: string): string {
  return `${prefix}-${randomBytes(16).toString('hex')}`;
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
  }
}

/** etcd on two free ports; started again (with a fresh data directory) when one was taken. */
function startEtcd(
  dir: string,
  persistent: boolean,
): Promise<{ proc: ServerProcess; url: string }> {
  return retryOnAddressInUse('etcd', async () => {
    await rm(path.join(dir, 'etcd'), { recursive: true, force: true });
    return startEtcdOnce(dir, persistent);
  });
}

async function startEtcdOnce(
  dir: string,
  persistent: boolean,
): Promise<{ proc: ServerProcess; url: string }> {
  const etcd = await componentPath('etcd', 'VAULT_INJECT_ETCD');
  const client = await freePort();
  const peer = await freePort();
  const url = `http://127.0.0.1:${client}`;
  const proc = startProcess({
    name: 'etcd',
    command: etcd,
    args: [
      '--name=test',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=test=http://127.0.0.1:${peer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    logPath: path.join(dir, 'etcd.log'),
    persistent,
  });
  await waitUntil(
    'etcd',
    async () => {
      const res = await fetch(`${url}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    },
    { process: proc },
  );
  return { proc, url };
}

interface ApiserverStart {
  dir: string;
  etcdUrl: string;
  tokensFile: string;
  auditLogPath: string | undefined;
  persistent: boolean;
}

async function startApiserver(o: ApiserverStart): Promise<{ proc: ServerProcess; server: string }> {
  const binary = await componentPath('kube-apiserver', 'VAULT_INJECT_KUBE_APISERVER');
  const port = await freePort();
  const pki = (f: string): string => path.join(o.dir, 'pki', f);
  const audit: string[] = [];
  if (o.auditLogPath !== undefined) {
    const policy = path.join(o.dir, 'audit-policy.yaml');
    await writeFile(policy, AUDIT_POLICY);
    audit.push(
      `--audit-policy-file=${policy}`,
      `--audit-log-path=${o.auditLogPath}`,
      '--audit-log-format=json',
      '--audit-log-mode=blocking',
    );
  }
  const proc = startProcess({
    name: 'kube-apiserver',
    command: binary,
    args: [
      `--etcd-servers=${o.etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--tls-cert-file=${pki('apiserver.crt')}`,
      `--tls-private-key-file=${pki('apiserver.key')}`,
      `--service-account-issuer=${SA_ISSUER}`,
      `--service-account-signing-key-file=${pki('sa.key')}`,
      `--service-account-key-file=${pki('sa.pub')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      `--token-auth-file=${o.tokensFile}`,
      '--authorization-mode=RBAC',
      // On by default in 1.35; named so that the stack does not depend on the defaults.
      '--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,PodSecurity,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy',
      '--endpoint-reconciler-type=none',
      // The local node (test/env/node.ts) is reached by its host name (which resolves to 127.0.0.1,
      // where the kubelet listens), never by its other addresses.
      '--kubelet-preferred-address-types=Hostname',
      ...audit,
    ],
    logPath: path.join(o.dir, 'kube-apiserver.log'),
    persistent: o.persistent,
  });
  const server = `https://127.0.0.1:${port}`;
  return { proc, server };
}

export async function startKube(options: KubeOptions = {}): Promise<Kube> {
  const dir = await mkdtemp(path.join(options.baseDir ?? tmpdir(), 'vault-inject-kube-'));
  const persistent = options.persistent ?? false;
  const processes: ServerProcess[] = [];
  const stopAll = async (): Promise<void> => {
    // Reverse start order: the apiserver before etcd, or its shutdown waits on a dead store.
    for (const p of [...processes].reverse()) await p.stop();
  };
  try {
    await mkdir(path.join(dir, 'pki'), { recursive: true });
    await makePki(path.join(dir, 'pki'));
    const adminToken = randomToken('admin');
    const webhookToken = randomToken('webhook');
    const tokensFile = path.join(dir, 'pki', 'tokens.csv');
    await writeFile(
      tokensFile,
      `${adminToken},admin,admin,system:masters\n${webhookToken},${WEBHOOK_USER},${WEBHOOK_USER}\n`,
      { mode: 0o600 },
    );
    const etcd = await startEtcd(dir, persistent);
    processes.push(etcd.proc);
    const auditLogPath = options.auditLog ? path.join(dir, 'audit.log') : undefined;
    const api = await retryOnAddressInUse('kube-apiserver', async () => {
      const started = await startApiserver({
        dir,
        etcdUrl: etcd.url,
        tokensFile,
        auditLogPath,
        persistent,
      });
      // Listening (or exited, saying why): a port taken meanwhile is retried on another.
      const port = Number(new URL(started.server).port);
      try {
        await waitUntil('kube-apiserver listening', () => tcpOpen(port), {
          process: started.proc,
          timeoutMs: 60_000,
        });
      } catch (err) {
        await started.proc.stop();
        throw err;
      }
      return started;
    });
    processes.push(api.proc);
    const caPath = path.join(dir, 'pki', 'ca.crt');
    const caPem = await readFile(caPath, 'utf8');
    const kube = makeKube({
      dir,
      server: api.server,
      caPem,
      caPath,
      adminToken,
      webhookToken,
      etcdUrl: etcd.url,
      auditLogPath,
      processes,
      stopAll,
    });
    await waitUntil(
      'kube-apiserver /readyz',
      async () => {
        await kube.core.listNamespace();
        return true;
      },
      { process: api.proc, timeoutMs: 60_000 },
    );
    await grantWebhookRbac(kube);
    return kube;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** What the deployed chart grants the webhook (WEBHOOK_RBAC_RULES), to the webhook's user. */
async function grantWebhookRbac(kube: Kube): Promise<void> {
  const rbac = kube.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  // The RBAC bootstrap post-start hook may still be running right after /readyz; retry briefly.
  await waitUntil('RBAC for the webhook user', async () => {
    await ignoreConflict(
      rbac.createClusterRole({
        body: {
          metadata: { name: WEBHOOK_USER },
          rules: WEBHOOK_RBAC_RULES.map((rule) => ({ ...rule })),
        },
      }),
    );
    await ignoreConflict(
      rbac.createClusterRoleBinding({
        body: {
          metadata: { name: WEBHOOK_USER },
          roleRef: {
            apiGroup: 'rbac.authorization.k8s.io',
            kind: 'ClusterRole',
            name: WEBHOOK_USER,
          },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: WEBHOOK_USER }],
        },
      }),
    );
    return true;
  });
}

interface KubeParts {
  dir: string;
  server: string;
  caPem: string;
  caPath: string;
  adminToken: string;
  webhookToken: string;
  etcdUrl: string;
  auditLogPath: string | undefined;
  processes: ServerProcess[];
  stopAll: () => Promise<void>;
}

function kubeConfigFor(p: KubeParts, token: string, user: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'vault-inject-test',
        server: p.server,
        caData: Buffer.from(p.caPem).toString('base64'),
        skipTLSVerify: false,
      },
    ],
    users: [{ name: user, token }],
    contexts: [{ name: 'vault-inject-test', cluster: 'vault-inject-test', user }],
    currentContext: 'vault-inject-test',
  });
  return kc;
}

function makeKube(p: KubeParts): Kube {
  const admin = kubeConfigFor(p, p.adminToken, 'admin');
  const core = admin.makeApiClient(CoreV1Api);
  const admission = admin.makeApiClient(AdmissionregistrationV1Api);
  const userOf = (token: string): string => (token === p.webhookToken ? WEBHOOK_USER : 'admin');
  let stopped = false;
  return {
    dir: p.dir,
    server: p.server,
    caPem: p.caPem,
    caPath: p.caPath,
    adminToken: p.adminToken,
    webhookToken: p.webhookToken,
    etcdUrl: p.etcdUrl,
    auditLogPath: p.auditLogPath,
    processes: p.processes,
    kubeConfig: (token = p.adminToken) => kubeConfigFor(p, token, userOf(token)),
    async writeKubeconfig(file, token = p.adminToken) {
      await writeFile(file, kubeConfigFor(p, token, userOf(token)).exportConfig(), { mode: 0o600 });
      return file;
    },
    core,
    apps: admin.makeApiClient(AppsV1Api),
    admission,
    async createNamespace(prefix, labels = {}) {
      const name = `${prefix}-${randomBytes(3).toString('hex')}`;
      await core.createNamespace({
        body: {
          metadata: {
            name,
            labels: {
              'pod-security.kubernetes.io/enforce': 'restricted',
              'pod-security.kubernetes.io/enforce-version': 'latest',
              'pod-security.kubernetes.io/warn': 'restricted',
              'pod-security.kubernetes.io/audit': 'restricted',
              ...labels,
            },
          },
        },
      });
      await ignoreConflict(
        core.createNamespacedServiceAccount({
          namespace: name,
          body: { metadata: { name: 'default' } },
        }),
      );
      // What the controller-manager (not run here) publishes in every namespace: the default
      // token volume of a pod on the real node projects it.
      await ignoreConflict(
        core.createNamespacedConfigMap({
          namespace: name,
          body: { metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': p.caPem } },
        }),
      );
      return name;
    },
    async createServiceAccount(namespace, name) {
      for (const n of new Set(['default', name])) {
        await ignoreConflict(
          core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: n } } }),
        );
      }
    },
    async serviceAccountToken(namespace, name, audience = 'vault', seconds = 600) {
      const res = await core.createNamespacedServiceAccountToken({
        namespace,
        name,
        body: { spec: { audiences: [audience], expirationSeconds: seconds } },
      });
      const token = res.status?.token;
      if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
      return token;
    },
    async registerWebhook(r) {
      const body: V1MutatingWebhookConfiguration = {
        metadata: { name: r.name },
        webhooks: [
          {
            name: `${r.name}.vault-inject.dev`,
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: r.failurePolicy ?? 'Fail',
            timeoutSeconds: r.timeoutSeconds ?? 10,
            reinvocationPolicy: 'IfNeeded',
            clientConfig: { url: r.url, caBundle: Buffer.from(r.caBundlePem).toString('base64') },
            rules: [
              {
                apiGroups: [''],
                apiVersions: ['v1'],
                operations: ['CREATE'],
                resources: ['pods'],
                scope: 'Namespaced',
              },
            ],
            namespaceSelector: r.namespaceSelector ?? {
              matchExpressions: [
                {
                  key: 'kubernetes.io/metadata.name',
                  operator: 'NotIn',
                  values: ['kube-system', 'kube-public', 'kube-node-lease'],
                },
              ],
            },
            matchConditions: await chartMatchConditions(),
          },
        ],
      };
      await admission.createMutatingWebhookConfiguration({ body });
    },
    async deleteWebhook(name) {
      try {
        await admission.deleteMutatingWebhookConfiguration({ name });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    },
    async etcdDump() {
      // etcd's JSON gateway: every key from "\0" on; keys and values come base64-encoded.
      const res = await fetch(`${p.etcdUrl}/v3/kv/range`, {
        method: 'POST',
        body: JSON.stringify({ key: 'AA==', range_end: 'AA==' }),
      });
      if (!res.ok) throw new Error(`etcd range: HTTP ${res.status}`);
      const { kvs = [] } = (await res.json()) as { kvs?: { key: string; value?: string }[] };
      return kvs.map((kv) => ({
        key: Buffer.from(kv.key, 'base64').toString('utf8'),
        value: Buffer.from(kv.value ?? '', 'base64'),
      }));
    },
    logs(lines = 40) {
      return p.processes
        .map((proc) => `--- ${proc.name} (${proc.logPath}) ---\n${tail(proc.logPath, lines)}`)
        .join('\n');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await p.stopAll();
      if (process.env['VAULT_INJECT_KEEP_TEST_DIRS'] === undefined) {
        await rm(p.dir, { recursive: true, force: true });
      }
    },
  };
}
