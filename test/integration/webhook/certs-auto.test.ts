// Certificates against the real kube-apiserver: `vault-inject certs` writes the Secret and the
// caBundle (and is idempotent); two BUILT webhook processes in `--tls-auto` mode share one CA
// through the Secret and a Lease, the leader keeps the MutatingWebhookConfiguration's caBundle,
// and pods created through the API server during serving and CA rotations (lifetimes of seconds)
// are all mutated: not one admission fails. The configuration holds one webhook per replica (each
// selecting a namespace of its own), so each replica answers a stream of its own through the
// rotations, the leader's and the follower's alike; each replica's log shows it did.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { RbacAuthorizationV1Api, CoordinationV1Api } from '@kubernetes/client-node';
import { startKube, WEBHOOK_USER, type Kube } from '../../env/kube.ts';
import { freePort, startProcess, waitUntil, type ServerProcess } from '../../env/processes.ts';
import { WEBHOOK_BUILT, restrictedPod, servedCertificate } from '../../env/stack.ts';

const run = promisify(execFile);
const MWC = 'vault-inject-certs-test';
const SECRET = 'vault-inject-tls';
const LEASE = 'vault-inject-certificates';
const SERVICE = 'vault-inject';

function certsOf(bundle: string): X509Certificate[] {
  return (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (p) => new X509Certificate(p),
  );
}

async function secretData(kube: Kube, ns: string): Promise<Record<string, string>> {
  const s = await kube.core.readNamespacedSecret({ name: SECRET, namespace: ns });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString();
  return out;
}

async function caBundles(kube: Kube): Promise<string[]> {
  const mwc = await kube.admission.readMutatingWebhookConfiguration({ name: MWC });
  return (mwc.webhooks ?? []).map((w) =>
    Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString(),
  );
}

/** The chart's certificate RBAC (deploy/chart/templates/rbac.yaml, mode auto), for the webhook user. */
async function grantCertificateRbac(kube: Kube, ns: string): Promise<void> {
  const rbac = kube.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
  const subjects = [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: WEBHOOK_USER }];
  await rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name: 'certificates' },
      rules: [
        {
          apiGroups: [''],
          resources: ['secrets'],
          resourceNames: [SECRET],
          verbs: ['get', 'update'],
        },
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: [LEASE],
          verbs: ['get', 'update'],
        },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: 'certificates' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'certificates' },
      subjects,
    },
  });
  await rbac.createClusterRole({
    body: {
      metadata: { name: 'certificates-webhook-config' },
      rules: [
        {
          apiGroups: ['admissionregistration.k8s.io'],
          resources: ['mutatingwebhookconfigurations'],
          resourceNames: [MWC],
          verbs: ['get', 'patch'],
        },
      ],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'certificates-webhook-config' },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'certificates-webhook-config',
      },
      subjects,
    },
  });
}

interface Replica {
  readonly name: string;
  readonly port: number;
  readonly telemetry: string;
  readonly process: ServerProcess;
  log(): Record<string, unknown>[];
}

async function startReplica(
  dir: string,
  name: string,
  kubeconfig: string,
  ns: string,
  port: number,
): Promise<Replica> {
  const telemetryPort = await freePort();
  const logPath = path.join(dir, `${name}.log`);
  const proc = startProcess({
    name,
    command: process.execPath,
    args: [
      WEBHOOK_BUILT,
      'webhook',
      `--listen=127.0.0.1:${port}`,
      `--telemetry-listen=127.0.0.1:${telemetryPort}`,
      '--vault-addr=https://vault.example:8200',
      '--read-sources=false',
      '--shutdown-delay=0s',
      '--request-deadline=4s',
      '--tls-auto',
      `--tls-auto-namespace=${ns}`,
      `--tls-auto-secret=${SECRET}`,
      `--tls-auto-lease=${LEASE}`,
      `--tls-auto-webhook-config=${MWC}`,
      `--tls-auto-service=${SERVICE}`,
      '--tls-auto-ip=127.0.0.1',
      `--tls-auto-identity=${name}`,
      // A serving certificate every ~4 s, a new CA every ~12 s: several of each during the stream.
      '--tls-auto-serving-validity=6s',
      '--tls-auto-ca-validity=18s',
      '--tls-auto-overlap=1500ms',
      '--tls-reload-interval=250ms',
    ],
    logPath,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', KUBECONFIG: kubeconfig },
  });
  const telemetry = `http://127.0.0.1:${telemetryPort}`;
  await waitUntil('webhook /healthz', async () => (await fetch(`${telemetry}/healthz`)).ok, {
    process: proc,
    timeoutMs: 60_000,
  });
  return {
    name,
    port,
    telemetry,
    process: proc,
    log: () =>
      readFileSync(logPath, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/**
 * One webhook per replica in the configuration `certs` registered (its first webhook copied, the
 * caBundle with it): pods of namespace `namespaces[i]` go to the replica on `ports[i]` alone.
 */
async function webhookPerReplica(kube: Kube, ports: number[], namespaces: string[]): Promise<void> {
  const mwc = await kube.admission.readMutatingWebhookConfiguration({ name: MWC });
  const [first] = mwc.webhooks ?? [];
  assert.ok(first, `${MWC} has a webhook`);
  await kube.admission.replaceMutatingWebhookConfiguration({
    name: MWC,
    body: {
      ...mwc,
      webhooks: ports.map((port, i) => ({
        ...first,
        name: `replica-${i}.${first.name}`,
        clientConfig: { ...first.clientConfig, url: `https://127.0.0.1:${port}/mutate` },
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespaces[i] ?? '' } },
      })),
    },
  });
}

/** A pod with a reference, as the stream creates them. */
const appPod = (name: string) =>
  restrictedPod(name, {
    command: ['/bin/app'],
    env: [{ name: 'A', value: 'vault:secret/data/a#b' }],
  });

describe('certificates against the real kube-apiserver', { timeout: 240_000 }, () => {
  let kube: Kube;
  let sys: string;
  let adminConfig: string;
  const replicas: Replica[] = [];

  before(async () => {
    assert.ok(existsSync(WEBHOOK_BUILT), `${WEBHOOK_BUILT} is missing: run make build`);
    kube = await startKube();
    sys = await kube.createNamespace('vault-inject');
    adminConfig = await kube.writeKubeconfig(path.join(kube.dir, 'admin.kubeconfig'));
    await grantCertificateRbac(kube, sys);
  });
  after(async () => {
    for (const r of replicas) await r.process.stop();
    await kube?.stop();
  });

  it('vault-inject certs writes the Secret and the caBundle, and a second run changes nothing', async () => {
    const port = await freePort();
    await kube.registerWebhook({
      name: MWC,
      url: `https://127.0.0.1:${port}/mutate`,
      caBundlePem: kube.caPem,
    });
    const certs = (): Promise<{ stdout: string }> =>
      run(
        process.execPath,
        [
          WEBHOOK_BUILT,
          'certs',
          `--service=${SERVICE}`,
          `--namespace=${sys}`,
          '--ip=127.0.0.1',
          `--secret=${SECRET}`,
          `--webhook-config=${MWC}`,
        ],
        { env: { PATH: process.env['PATH'] ?? '', KUBECONFIG: adminConfig } },
      );
    const first = await certs();
    assert.match(first.stdout, /CA created/);
    assert.match(first.stdout, /caBundle of MutatingWebhookConfiguration .*: updated/);
    assert.match(first.stdout, /Secret .*: created/);
    const data = await secretData(kube, sys);
    const secret = await kube.core.readNamespacedSecret({ name: SECRET, namespace: sys });
    assert.equal(secret.type, 'kubernetes.io/tls');
    const [ca] = certsOf(data['ca.crt'] ?? '');
    const cert = new X509Certificate(data['tls.crt'] ?? '');
    assert.ok(ca && cert.checkIssued(ca) && cert.verify(ca.publicKey));
    for (const n of [SERVICE, `${SERVICE}.${sys}`, `${SERVICE}.${sys}.svc`]) {
      assert.ok(cert.checkHost(n), `the certificate names ${n}`);
    }
    assert.ok(cert.checkIP('127.0.0.1'));
    assert.deepEqual(await caBundles(kube), [data['ca.crt']]);

    const second = await certs();
    assert.match(second.stdout, /CA kept/);
    assert.match(second.stdout, /serving certificate kept/);
    assert.match(second.stdout, /: unchanged\n.*: unchanged/);
    for (const out of [first.stdout, second.stdout]) assert.doesNotMatch(out, /PRIVATE KEY/);
    assert.deepEqual(await secretData(kube, sys), data);
  });

  it('two replicas share one CA through the Secret and the Lease; rotations lose no admission', async () => {
    const mwc = await kube.admission.readMutatingWebhookConfiguration({ name: MWC });
    const ports = [
      Number(new URL(mwc.webhooks?.[0]?.clientConfig.url ?? '').port),
      await freePort(),
    ];
    // A namespace per replica: the stream to each goes through the API server to that one alone.
    const namespaces = [await kube.createNamespace('apps-a'), await kube.createNamespace('apps-b')];
    await webhookPerReplica(kube, ports, namespaces);
    const kubeconfig = await kube.writeKubeconfig(
      path.join(kube.dir, 'webhook.kubeconfig'),
      kube.webhookToken,
    );
    replicas.push(await startReplica(kube.dir, 'replica-a', kubeconfig, sys, ports[0] ?? 0));
    replicas.push(await startReplica(kube.dir, 'replica-b', kubeconfig, sys, ports[1] ?? 0));

    // One leader, named in the Lease.
    const lease = await kube
      .kubeConfig()
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: LEASE, namespace: sys });
    assert.ok(['replica-a', 'replica-b'].includes(lease.spec?.holderIdentity ?? ''));

    // The short validities make the leader take over from what `certs` wrote: a new CA (18 s
    // lifetime) into the caBundle, then serving certificates from it.
    const streams = replicas.map((replica, i) => ({
      replica,
      namespace: namespaces[i] ?? '',
      created: [] as string[],
      failed: 0,
      notMutated: 0,
      errors: [] as string[],
      /** Fingerprints of the certificates this replica served, and of the CAs that issued them. */
      served: new Set<string>(),
      issuers: new Set<string>(),
    }));
    const caSeen = new Set<string>();
    const servingSeen = new Set<string>();
    const watchSecret = async (): Promise<void> => {
      const data = await secretData(kube, sys);
      for (const ca of certsOf(data['ca.crt'] ?? '')) caSeen.add(ca.fingerprint256);
      servingSeen.add(new X509Certificate(data['tls.crt'] ?? '').fingerprint256);
      // Each replica serves a certificate of a CA in the caBundle the API server has for it (the
      // leader patches every webhook's caBundle at once: they are always the same).
      const bundles = await caBundles(kube);
      assert.equal(bundles.length, replicas.length);
      assert.equal(new Set(bundles).size, 1, 'one caBundle for every webhook');
      for (const stream of streams) {
        const served = new X509Certificate(await servedCertificate(stream.replica.port));
        const issuer =
          certsOf(bundles[0] ?? '').find(
            (ca) => served.checkIssued(ca) && served.verify(ca.publicKey),
          ) ??
          // The caBundle was read a moment before the replica swapped: re-check once.
          certsOf((await caBundles(kube))[0] ?? '').find((ca) => served.checkIssued(ca));
        assert.ok(
          issuer,
          `${stream.replica.name} serves a certificate the API server does not trust`,
        );
        stream.served.add(served.fingerprint256);
        stream.issuers.add(issuer.fingerprint256);
      }
    };

    await waitUntil(
      'the webhook registration answering, for each replica',
      async () => {
        for (const namespace of namespaces) {
          const pod = await kube.core.createNamespacedPod({
            namespace,
            dryRun: 'All',
            body: appPod('probe'),
          });
          if (pod.metadata?.annotations?.['vault-inject.dev/status'] !== 'injected') return false;
        }
        return true;
      },
      { timeoutMs: 30_000 },
    );

    const end = Date.now() + 30_000;
    const worker = async (stream: (typeof streams)[number]): Promise<void> => {
      for (let i = 0; Date.now() < end; i++) {
        const name = `app-${i}`;
        try {
          const pod = await kube.core.createNamespacedPod({
            namespace: stream.namespace,
            body: appPod(name),
          });
          stream.created.push(name);
          if (pod.metadata?.annotations?.['vault-inject.dev/status'] !== 'injected')
            stream.notMutated++;
        } catch (err) {
          stream.failed++;
          const body = (err as { body?: unknown }).body;
          stream.errors.push(`${name}: ${typeof body === 'string' ? body.slice(0, 300) : err}`);
        }
      }
    };
    const watcher = async (): Promise<void> => {
      while (Date.now() < end) {
        await watchSecret();
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    await Promise.all([...streams.map(worker), watcher()]);
    const leader = (
      await kube
        .kubeConfig()
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: LEASE, namespace: sys })
    ).spec?.holderIdentity;
    for (const s of streams) {
      console.log(
        `admissions through ${s.replica.name} (${s.replica.name === leader ? 'leader' : 'follower'}): ` +
          `${s.created.length} created, ${s.failed} failed; it served ${s.served.size} certificates from ${s.issuers.size} CAs`,
      );
    }
    console.log(`CAs seen ${caSeen.size}, serving certificates seen ${servingSeen.size}`);

    for (const s of streams) {
      const who = s.replica.name;
      assert.deepEqual(s.errors, [], `no admission through ${who} failed`);
      assert.equal(s.failed, 0, who);
      assert.equal(s.notMutated, 0, who);
      assert.ok(
        s.created.length > 20,
        `a stream of admissions through ${who} (${s.created.length})`,
      );
      // Rotations happened under this replica's stream: serving certificates, and a CA change.
      assert.ok(s.served.size >= 5, `${who} served ${s.served.size} certificates`);
      assert.ok(s.issuers.size >= 3, `${who} served certificates of ${s.issuers.size} CAs`);
      // Its own log holds a mutation of each pod of its stream, and nothing of the other stream.
      const reviews = s.replica
        .log()
        .filter((l) => l['msg'] === 'admission review' && l['dryRun'] === false);
      const mutated = new Set(
        reviews
          .filter((l) => l['namespace'] === s.namespace && l['result'] === 'mutated')
          .map((l) => l['pod']),
      );
      assert.deepEqual(
        s.created.filter((name) => !mutated.has(name)),
        [],
        `every pod of the stream through ${who} is in its log`,
      );
      assert.ok(
        reviews.every((l) => l['namespace'] === s.namespace),
        `${who} reviewed only its own namespace's pods`,
      );
    }
    // `certs`'s CA, the leader's first, and at least one rotation after it.
    assert.ok(caSeen.size >= 3, `CAs seen: ${caSeen.size}`);
    assert.ok(servingSeen.size >= 5, `serving certificates seen: ${servingSeen.size}`);

    // Both replicas serve what the Secret holds (the follower swapped too), and the metric is
    // the served certificate's expiry.
    await waitUntil('both replicas on the current certificate', async () => {
      const now = new X509Certificate((await secretData(kube, sys))['tls.crt'] ?? '');
      for (const r of replicas) {
        const served = new X509Certificate(await servedCertificate(r.port));
        if (served.fingerprint256 !== now.fingerprint256) return false;
      }
      return true;
    });
    const metrics = await (await fetch(`${replicas[1]?.telemetry}/metrics`)).text();
    const gauge = /vault_inject_tls_certificate_expiry_timestamp_seconds (\d+)/.exec(metrics);
    const served = new X509Certificate(await servedCertificate(replicas[1]?.port ?? 0));
    assert.ok(gauge);
    assert.ok(
      Math.abs(Number(gauge[1]) - new Date(served.validTo).getTime() / 1000) <= 1,
      'the expiry metric is that of the served certificate',
    );

    // Exactly one replica led the rotations; nothing secret reached a log.
    const leaders = replicas.filter((r) =>
      r.log().some((l) => l.msg === 'certificate Secret updated'),
    );
    assert.equal(leaders.length, 1, 'one leader wrote the Secret');
    for (const r of replicas) {
      assert.doesNotMatch(readFileSync(r.process.logPath, 'utf8'), /PRIVATE KEY|BEGIN CERT/);
    }
  });
});
