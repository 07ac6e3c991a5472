// The chart's default certificate mode `auto` drives the webhook's own --tls-auto mode, as the
// Vault Agent Injector does: helm renders no key, no certificate and no caBundle (an empty Secret
// the webhook fills), and the BUILT webhook, started with exactly the environment the Deployment's
// container gets (plus loopback listen addresses and a kubeconfig holding a TokenRequest token of
// the chart's ServiceAccount, so the chart's RBAC is what is exercised; the IP it is dialled at is
// the chart value certificates.auto.ipAddresses), fills the Secret, takes the Lease, writes the
// caBundle of the chart's webhook configuration and mutates a pod the API server sends. A GitOps
// sync that applies the chart again leaves all of it alone; one that replaces the objects with
// the chart's (caBundle unset, Secret empty) is repaired with the same CA. Also: the registry
// values render to the variables the webhook documents and accepts.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { FLAGS, readFlags, registryConfig, serverConfig } from '../../../webhook/src/config.ts';
import { SA_ISSUER, startKube, type Kube } from '../../env/kube.ts';
import { freePort, startProcess, waitUntil, type ServerProcess } from '../../env/processes.ts';
import { WEBHOOK_BUILT, restrictedPod, servedCertificate } from '../../env/stack.ts';
import {
  apply,
  create,
  kubeRequest,
  only,
  render,
  renderError,
  resourcePath,
  type KubeObject,
} from './helpers.ts';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Volume {
  name: string;
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  configMap?: { name: string; items?: { key: string; path: string }[] };
  hostPath?: { path: string; type?: string };
}
interface Container {
  env: EnvVar[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}

function podSpec(objects: readonly KubeObject[]): { containers: Container[]; volumes: Volume[] } {
  return (
    only(objects, 'Deployment')['spec'] as {
      template: { spec: { containers: Container[]; volumes: Volume[] } };
    }
  ).template.spec;
}

function webhookContainer(objects: readonly KubeObject[]): Container {
  const [container] = podSpec(objects).containers;
  assert.ok(container, 'the Deployment has a container');
  return container;
}

/** The container's environment as the kubelet would give it, for a pod named `podName`. */
function containerEnv(objects: readonly KubeObject[], podName: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of webhookContainer(objects).env) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
    else assert.fail(`${e.name}: a source this test cannot provide`);
  }
  return env;
}

const pem = (b64: string | undefined): string => Buffer.from(b64 ?? '', 'base64').toString();

describe('chart certificates.mode=auto with the built webhook', { timeout: 180_000 }, () => {
  const RELEASE = 'vi';
  const FULLNAME = 'vi-vault-inject';
  const POD_NAME = `${FULLNAME}-7d9f8c6b5-x2x4k`;
  let kube: Kube;
  let dir: string;
  let ns: string;
  let appNs: string;
  let port: number;
  let objects: KubeObject[];
  /** What the webhook first wrote into the Secret. */
  let filled: Record<string, string>;
  let webhook: ServerProcess | undefined;
  let telemetry: string;

  before(async () => {
    assert.ok(existsSync(WEBHOOK_BUILT), `${WEBHOOK_BUILT} is missing: run make build`);
    kube = await startKube();
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-chart-auto-'));
    ns = await kube.createNamespace('vi-release');
    appNs = await kube.createNamespace('vi-app');
    await kube.createServiceAccount(appNs, 'default');
    port = await freePort();
    objects = await render(RELEASE, ns, {
      vault: { addr: 'https://vault.example:8200' },
      // Dev value: the API server calls the process on loopback; the caBundle is the mode's CA.
      webhook: { clientConfig: { url: `https://127.0.0.1:${port}/mutate` } },
      server: { tlsReloadInterval: '250ms', shutdownDelay: '0s' },
      // The API server dials 127.0.0.1 here, not the Service name.
      certificates: { auto: { ipAddresses: ['127.0.0.1'], extraDnsNames: ['webhook.example'] } },
    });
    for (const obj of objects) await apply(kube, obj);
  });

  after(async () => {
    await webhook?.stop();
    await kube?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /**
   * The BUILT webhook as the Deployment's container runs it (POD_NAME's environment), listening on
   * the loopback port the chart's clientConfig names; `env` adds the kubeconfig, the telemetry
   * address and any other variable.
   */
  const startChartWebhook = (name: string, log: string, env: Record<string, string>) =>
    startProcess({
      name,
      command: process.execPath,
      args: [WEBHOOK_BUILT, 'webhook'],
      logPath: path.join(dir, log),
      env: {
        ...containerEnv(objects, POD_NAME),
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        VAULT_INJECT_LISTEN: `127.0.0.1:${port}`,
        ...env,
      },
    });

  it('renders the --tls-auto variables, with no certificate files and no tls volume', () => {
    const container = webhookContainer(objects);
    const env = containerEnv(objects, POD_NAME);
    assert.deepEqual(
      Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('VAULT_INJECT_TLS'))),
      {
        VAULT_INJECT_TLS_AUTO: 'true',
        VAULT_INJECT_TLS_AUTO_NAMESPACE: ns,
        VAULT_INJECT_TLS_AUTO_SECRET: `${FULLNAME}-tls`,
        VAULT_INJECT_TLS_AUTO_LEASE: `${FULLNAME}-certificates`,
        VAULT_INJECT_TLS_AUTO_WEBHOOK_CONFIG: FULLNAME,
        VAULT_INJECT_TLS_AUTO_SERVICE: FULLNAME,
        VAULT_INJECT_TLS_AUTO_DNS: 'webhook.example',
        VAULT_INJECT_TLS_AUTO_IP: '127.0.0.1',
        VAULT_INJECT_TLS_AUTO_SERVING_VALIDITY: '2160h',
        VAULT_INJECT_TLS_AUTO_CA_VALIDITY: '26280h',
        VAULT_INJECT_TLS_AUTO_OVERLAP: '1m',
        VAULT_INJECT_TLS_AUTO_IDENTITY: POD_NAME,
        VAULT_INJECT_TLS_RELOAD_INTERVAL: '250ms',
      },
    );
    const documented = new Set<string>(FLAGS.map((f) => f.env));
    for (const { name } of container.env) assert.ok(documented.has(name), `${name} is documented`);
    assert.equal(
      container.volumeMounts.some((m) => m.name === 'tls'),
      false,
    );
    assert.equal(
      podSpec(objects).volumes.some((v) => v.name === 'tls'),
      false,
    );
    // The webhook's own parser accepts it (it exits 2 on a file flag beside --tls-auto).
    const server = serverConfig(readFlags([], env).flags);
    assert.equal(server.auto?.leaseName, `${FULLNAME}-certificates`);
  });

  const readSecret = async (): Promise<Record<string, string>> =>
    (await kube.core.readNamespacedSecret({ name: `${FULLNAME}-tls`, namespace: ns })).data ?? {};
  const readCaBundles = async (): Promise<string[]> =>
    (
      (await kube.admission.readMutatingWebhookConfiguration({ name: FULLNAME })).webhooks ?? []
    ).map((w) => w.clientConfig.caBundle ?? '');

  /** Creates a pod with a reference in the app namespace; the stored pod (mutated or not). */
  const createAppPod = async (name: string): Promise<KubeObject> => {
    const pod = restrictedPod(name, {
      command: ['/app/server'],
      env: [{ name: 'DB_PASSWORD', value: 'vault:secret/data/app#password' }],
    }) as unknown as KubeObject;
    const answer = await create(
      kube,
      { ...pod, metadata: { ...pod.metadata, namespace: appNs } },
      { persist: true },
    );
    return answer.body as unknown as KubeObject;
  };

  it('renders no key, no certificate and no caBundle: an empty Secret for the webhook to fill', () => {
    const secret = only(objects, 'Secret');
    assert.equal(secret.metadata.name, `${FULLNAME}-tls`);
    assert.equal(secret['data'], undefined);
    assert.equal(secret['type'], undefined, 'Opaque: a kubernetes.io/tls Secret cannot be empty');
    const mwc = only(objects, 'MutatingWebhookConfiguration') as unknown as {
      webhooks: { clientConfig: Record<string, unknown> }[];
    };
    assert.equal(mwc.webhooks[0]?.clientConfig['caBundle'], undefined);
  });

  it('the webhook, with the chart ServiceAccount, fills the Secret, takes the Lease and writes the caBundle', async () => {
    assert.deepEqual(await readSecret(), {}, 'installed empty');
    const token = await kube.serviceAccountToken(ns, FULLNAME, SA_ISSUER, 3600);
    const kubeconfig = await kube.writeKubeconfig(path.join(dir, 'sa.kubeconfig'), token);
    const telemetryPort = await freePort();
    telemetry = `http://127.0.0.1:${telemetryPort}`;
    webhook = startChartWebhook('webhook (chart env)', 'webhook.log', {
      KUBECONFIG: kubeconfig,
      VAULT_INJECT_TELEMETRY_LISTEN: `127.0.0.1:${telemetryPort}`,
    });
    const leases = kube.kubeConfig().makeApiClient(CoordinationV1Api);
    await waitUntil(
      'this replica holds the Lease',
      async () =>
        (await leases.readNamespacedLease({ name: `${FULLNAME}-certificates`, namespace: ns })).spec
          ?.holderIdentity === POD_NAME,
      { process: webhook, timeoutMs: 60_000 },
    );
    await waitUntil(
      'the Secret is filled and the caBundle written',
      async () => {
        filled = await readSecret();
        const bundles = await readCaBundles();
        return bundles.length > 0 && bundles.every((b) => b !== '' && b === filled['ca.crt']);
      },
      { process: webhook, timeoutMs: 30_000 },
    );
    assert.deepEqual(Object.keys(filled).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const ca = new X509Certificate(pem(filled['ca.crt']));
    const serving = new X509Certificate(pem(filled['tls.crt']));
    assert.equal(ca.publicKey.asymmetricKeyType, 'ec');
    assert.ok(serving.checkIssued(ca) && serving.verify(ca.publicKey));
    assert.ok(serving.checkIP('127.0.0.1'), 'the serving certificate names the IP value');
    assert.ok(serving.checkHost('webhook.example'), 'and the extra DNS name');
    assert.ok(serving.checkHost(`${FULLNAME}.${ns}.svc`), 'and the Service');
    await waitUntil('webhook /healthz', async () => (await fetch(`${telemetry}/healthz`)).ok, {
      process: webhook,
    });
    await waitUntil(
      'it serves the certificate of the Secret',
      async () =>
        new X509Certificate(await servedCertificate(port)).fingerprint256 ===
        serving.fingerprint256,
      { process: webhook },
    );
    assert.doesNotMatch(readFileSync(webhook.logPath, 'utf8'), /PRIVATE KEY|BEGIN CERT/);
  });

  it("a name added later is reissued by the leader through the chart's RBAC (update on the Secret)", async () => {
    await webhook?.stop();
    // The same replica restarted with one more DNS name, as a `helm upgrade` adding one would do.
    webhook = startChartWebhook('webhook (chart env, one more name)', 'webhook-renamed.log', {
      KUBECONFIG: path.join(dir, 'sa.kubeconfig'),
      VAULT_INJECT_TELEMETRY_LISTEN: new URL(telemetry).host,
      VAULT_INJECT_TLS_AUTO_DNS: 'webhook.example,renamed.example',
    });
    let data: Record<string, string> = {};
    await waitUntil(
      'the serving certificate names renamed.example',
      async () => {
        const secret = await kube.core.readNamespacedSecret({
          name: `${FULLNAME}-tls`,
          namespace: ns,
        });
        data = secret.data ?? {};
        return new X509Certificate(pem(data['tls.crt'])).checkHost('renamed.example') !== undefined;
      },
      { process: webhook, timeoutMs: 60_000 },
    );
    const serving = new X509Certificate(pem(data['tls.crt']));
    assert.ok(serving.checkIP('127.0.0.1'), 'the IP value is kept');
    assert.equal(data['ca.crt'], filled['ca.crt'], 'the same CA signs it');
    assert.ok(serving.checkIssued(new X509Certificate(pem(filled['ca.crt']))));
    await waitUntil(
      'it serves the new certificate',
      async () =>
        new X509Certificate(await servedCertificate(port)).fingerprint256 ===
        serving.fingerprint256,
      { process: webhook },
    );
  });

  it('a pod with a reference, sent by the API server through the chart configuration, is mutated', async () => {
    let stored: KubeObject | undefined;
    await waitUntil(
      'the API server sends the pod to the webhook and trusts its certificate',
      async () => {
        stored = await createAppPod('with-ref');
        return true;
      },
      { ...(webhook ? { process: webhook } : {}), timeoutMs: 30_000 },
    );
    assert.ok(stored);
    const annotations = stored.metadata['annotations'] as Record<string, string> | undefined;
    assert.equal(annotations?.['vault-inject.dev/status'], 'injected');
    const [app] = (stored['spec'] as { containers: { command: string[]; args: string[] }[] })
      .containers;
    assert.deepEqual(app?.command, ['/vault-inject/bin/vault-inject-env']);
    assert.deepEqual(app?.args, ['/app/server']);
  });

  it('a GitOps sync applying the chart again (server-side apply) leaves the Secret and caBundle alone', async () => {
    const before = { secret: await readSecret(), bundles: await readCaBundles() };
    for (const obj of objects) await apply(kube, obj);
    assert.deepEqual(await readSecret(), before.secret);
    assert.deepEqual(await readCaBundles(), before.bundles);
  });

  it("a sync that replaces them with the chart's objects is repaired, with the same CA", async () => {
    const before = await readSecret();
    // As `kubectl replace` or a sync with Replace=true: the chart's object, live resourceVersion.
    const replace = async (kind: string): Promise<void> => {
      const obj = only(objects, kind);
      const live = await kubeRequest(kube, 'GET', resourcePath(obj, true));
      const { resourceVersion } = live.body['metadata'] as { resourceVersion: string };
      const answer = await kubeRequest(kube, 'PUT', resourcePath(obj, true), {
        ...obj,
        metadata: { ...obj.metadata, resourceVersion },
      });
      assert.ok(
        answer.status < 300,
        `PUT ${kind}: ${answer.status} ${String(answer.body['message'])}`,
      );
    };
    // The caBundle back to the chart's value (none): the API server cannot trust the webhook.
    await replace('MutatingWebhookConfiguration');
    assert.deepEqual(await readCaBundles(), ['']);
    await waitUntil(
      'the leader writes the caBundle again',
      async () => (await readCaBundles()).every((b) => b === before['ca.crt']),
      { ...(webhook ? { process: webhook } : {}), timeoutMs: 15_000 },
    );
    // The Secret back to the chart's (empty): the pair every replica serves is put back.
    await replace('Secret');
    await waitUntil(
      'the leader fills the Secret again',
      async () => (await readSecret())['tls.crt'] !== undefined,
      { ...(webhook ? { process: webhook } : {}), timeoutMs: 15_000 },
    );
    assert.deepEqual(await readSecret(), before, 'the same CA, key and serving pair');
    assert.deepEqual(await readCaBundles(), [before['ca.crt']]);
    const log = readFileSync(webhook?.logPath ?? '', 'utf8');
    assert.match(log, /"step":"restore"/);
    let stored: KubeObject | undefined;
    await waitUntil(
      'a pod is mutated again',
      async () => {
        stored = await createAppPod('after-sync');
        return true;
      },
      { ...(webhook ? { process: webhook } : {}), timeoutMs: 15_000 },
    );
    const annotations = stored?.metadata['annotations'] as Record<string, string> | undefined;
    assert.equal(annotations?.['vault-inject.dev/status'], 'injected');
  });
});

describe('chart registry values', () => {
  const values = {
    certificates: { mode: 'cert-manager' },
    registry: {
      timeout: '1500ms',
      platform: 'linux/arm64',
      tagTtl: '5m',
      ca: [
        { host: 'registry.example:5000', configMap: 'registry-ca' },
        { host: 'mirror.example', secret: 'mirror-tls', key: 'bundle.pem' },
      ],
      insecureSkipVerify: ['lab.example'],
      plainHttp: ['localhost:5000', 'kind-registry:5000'],
      defaultDockerConfig: { secretName: 'mirror-pull', key: '.dockerconfigjson' },
      credentialProviders: {
        configMap: 'node-credential-providers',
        key: 'config.yaml',
        binHostPath: '/etc/eks/image-credential-provider',
      },
      failurePolicy: 'admit',
    },
  };

  it('each value renders to the documented variable, and the webhook accepts them', async () => {
    const objects = await render('vi', 'vault-inject', values);
    const container = webhookContainer(objects);
    const documented = new Set<string>(FLAGS.map((f) => f.env));
    for (const { name } of container.env) assert.ok(documented.has(name), `${name} is documented`);
    const env = containerEnv(objects, 'p');
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(env).filter(([k]) => k.startsWith('VAULT_INJECT_REGISTRY_')),
      ),
      {
        VAULT_INJECT_REGISTRY_TIMEOUT: '1500ms',
        VAULT_INJECT_REGISTRY_PLATFORM: 'linux/arm64',
        VAULT_INJECT_REGISTRY_TAG_TTL: '5m',
        VAULT_INJECT_REGISTRY_CA:
          'registry.example:5000=/etc/vault-inject/registry/ca/0/ca.crt,' +
          'mirror.example=/etc/vault-inject/registry/ca/1/ca.crt',
        VAULT_INJECT_REGISTRY_INSECURE_SKIP_VERIFY: 'lab.example',
        VAULT_INJECT_REGISTRY_PLAIN_HTTP: 'localhost:5000,kind-registry:5000',
        VAULT_INJECT_REGISTRY_DEFAULT_DOCKER_CONFIG:
          '/etc/vault-inject/registry/docker-config/config.json',
        VAULT_INJECT_REGISTRY_CREDENTIAL_PROVIDER_CONFIG:
          '/etc/vault-inject/registry/credential-provider/config.yaml',
        VAULT_INJECT_REGISTRY_CREDENTIAL_PROVIDER_BIN_DIR:
          '/etc/vault-inject/registry/credential-provider-bin',
        VAULT_INJECT_REGISTRY_FAILURE_POLICY: 'admit',
      },
    );
    const registry = registryConfig(readFlags([], env).flags);
    assert.deepEqual(registry.caFiles, [
      { host: 'registry.example:5000', file: '/etc/vault-inject/registry/ca/0/ca.crt' },
      { host: 'mirror.example', file: '/etc/vault-inject/registry/ca/1/ca.crt' },
    ]);
    assert.equal(registry.timeoutMs, 1500);
    assert.equal(registry.failurePolicy, 'admit');

    // Every file a variable names is where a volume puts it.
    const spec = podSpec(objects);
    const mounted = (file: string): Volume | undefined => {
      const mount = container.volumeMounts.find((m) => file.startsWith(`${m.mountPath}/`));
      const volume = spec.volumes.find((v) => v.name === mount?.name);
      const item = (volume?.secret ?? volume?.configMap)?.items?.find(
        (i) => `${mount?.mountPath}/${i.path}` === file,
      );
      return item ? volume : undefined;
    };
    assert.deepEqual(mounted(registry.caFiles[0]?.file ?? '')?.configMap, {
      name: 'registry-ca',
      defaultMode: 0o444,
      items: [{ key: 'ca.crt', path: 'ca.crt' }],
    });
    assert.equal(mounted(registry.caFiles[1]?.file ?? '')?.secret?.secretName, 'mirror-tls');
    assert.deepEqual(mounted(registry.defaultDockerConfigFile)?.secret?.items, [
      { key: '.dockerconfigjson', path: 'config.json' },
    ]);
    assert.equal(
      mounted(registry.credentialProviderConfigFile)?.configMap?.name,
      'node-credential-providers',
    );
    const binMount = container.volumeMounts.find(
      (m) => m.mountPath === registry.credentialProviderBinDir,
    );
    assert.equal(binMount?.readOnly, true);
    const binVolume = spec.volumes.find((v) => v.name === binMount?.name);
    assert.deepEqual(binVolume?.hostPath, {
      path: '/etc/eks/image-credential-provider',
      type: 'Directory',
    });
  });

  it('the defaults render empty registry lists and no registry volume', async () => {
    const objects = await render('vi', 'vault-inject', {});
    const env = containerEnv(objects, 'p');
    assert.equal(env['VAULT_INJECT_REGISTRY_CA'], '');
    assert.equal(env['VAULT_INJECT_REGISTRY_DEFAULT_DOCKER_CONFIG'], '');
    assert.equal(
      podSpec(objects).volumes.some((v) => v.name.startsWith('registry-')),
      false,
    );
  });

  it('refuses a CA entry with both or neither source, and a malformed host', async () => {
    assert.match(
      await renderError({ registry: { ca: [{ host: 'r.example', configMap: 'a', secret: 'b' }] } }),
      /registry\.ca\[0\] \(r\.example\): set exactly one of configMap and secret/,
    );
    assert.match(
      await renderError({ registry: { ca: [{ host: 'r.example' }] } }),
      /set exactly one of configMap and secret/,
    );
    assert.match(await renderError({ registry: { plainHttp: ['http://r.example'] } }), /plainHttp/);
  });
});

describe('chart certificates.auto values', () => {
  it('refuse lifetimes the webhook would refuse to start with', async () => {
    assert.match(
      await renderError({
        certificates: { auto: { servingValidity: '2160h', caValidity: '4000h' } },
      }),
      /caValidity must be at least three times/,
    );
    assert.match(
      await renderError({ certificates: { auto: { overlap: '5s' } } }),
      /overlap must be at least twice server\.tlsReloadInterval/,
    );
    assert.match(
      await renderError({ certificates: { auto: { validityDays: 10 } } }),
      /validityDays/,
    );
  });

  it('other modes keep the certificate files and the tls volume', async () => {
    const objects = await render('vi', 'vault-inject', { certificates: { mode: 'cert-manager' } });
    const env = containerEnv(objects, 'p');
    assert.equal(env['VAULT_INJECT_TLS_AUTO'], undefined);
    assert.equal(env['VAULT_INJECT_TLS_CERT_FILE'], '/etc/vault-inject/tls/tls.crt');
    assert.ok(podSpec(objects).volumes.some((v) => v.name === 'tls'));
  });
});
