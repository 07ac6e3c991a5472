// The Helm chart against the real helm and the real kube-apiserver: lint, the values schema,
// every value set rendered and sent to the API server (strict field validation, server-side dry
// run; the webhook pod template created as a Pod in a namespace that enforces Pod Security
// `restricted`), the certificate modes, and the checked-in plain manifests kept in step.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { FLAGS, injectionConfig, readFlags } from '../../../webhook/src/config.ts';
import { startKube, WEBHOOK_RBAC_RULES, type Kube } from '../../env/kube.ts';
import {
  CHART,
  create,
  find,
  helm,
  helmPath,
  installCrds,
  kubeRequest,
  only,
  render,
  renderError,
  repoRoot,
  type KubeObject,
} from './helpers.ts';

const run = promisify(execFile);

type Values = Record<string, unknown>;
const CA_B64 = Buffer.from(
  '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
).toString('base64');

const PRIVILEGED = {
  'pod-security.kubernetes.io/enforce': 'privileged',
  'pod-security.kubernetes.io/warn': 'privileged',
  'pod-security.kubernetes.io/audit': 'privileged',
};

/**
 * Every value set a test sends to the API server; each certificate mode, both policies, both
 * deliveries, the network and scheduling options. `namespaceLabels` replace the `restricted` Pod
 * Security labels of the release namespace (host networking is never `restricted`).
 */
const VALUE_SETS: { name: string; values: Values; namespaceLabels?: Record<string, string> }[] = [
  { name: 'defaults (auto certificates, Fail, guard on, emptyDir)', values: {} },
  {
    name: 'cert-manager, Ignore, guard off',
    values: {
      certificates: { mode: 'cert-manager' },
      webhook: { failurePolicy: 'Ignore', bankVaultsSkipLabel: false },
      guard: { enabled: false },
    },
  },
  {
    name: 'cert-manager with a ClusterIssuer, ServiceMonitor',
    values: {
      certificates: {
        mode: 'cert-manager',
        certManager: { issuerRef: { name: 'corp', kind: 'ClusterIssuer' } },
      },
      serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
    },
  },
  {
    name: 'existing Secret, image volumes, guard warn-only',
    values: {
      certificates: { mode: 'secret', secret: { name: 'my-tls', caBundle: CA_B64 } },
      injection: { delivery: 'image', emptyDirMedium: 'memory' },
      guard: { validationActions: ['Warn', 'Audit'] },
      vault: {
        addr: 'https://bao.example:8200',
        allowedAddrs: ['https://vault.other:8200'],
        role: '{{.namespace}}-{{.serviceaccount}}',
        tlsSecret: 'vault-ca',
        ignoreMissing: true,
      },
    },
  },
  {
    name: 'dev URL client config, no matchConditions, one replica',
    values: {
      replicaCount: 1,
      webhook: {
        clientConfig: { url: 'https://127.0.0.1:8443/mutate' },
        caBundle: CA_B64,
        matchConditions: false,
        excludeNamespaces: ['legacy'],
        namespaceSelector: { matchLabels: { 'vault-inject.dev/enabled': 'true' } },
      },
    },
  },
  {
    name: 'NetworkPolicy, PDB minAvailable, numeric cpu, probes, strategy, an existing priority class',
    values: {
      replicaCount: 3,
      networkPolicy: {
        enabled: true,
        webhookFrom: [{ ipBlock: { cidr: '172.16.0.0/28' } }],
        telemetryFrom: [{ namespaceSelector: { matchLabels: { name: 'monitoring' } } }],
        egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }, { ports: [{ port: 443 }] }],
      },
      podDisruptionBudget: { maxUnavailable: '', minAvailable: 2 },
      resources: { requests: { cpu: 0.5, memory: '96Mi' }, limits: { cpu: 1, memory: '256Mi' } },
      injection: { copyContainer: { cpuRequest: 0.01, cpuLimit: 1 } },
      probes: { startup: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 120 } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      priorityClassName: 'system-cluster-critical',
    },
  },
  {
    name: 'hostNetwork on node ports 10443/10080 (custom CNI), Recreate',
    values: {
      hostNetwork: true,
      containerPorts: { https: 10443, telemetry: 10080 },
      updateStrategy: { type: 'Recreate' },
      priorityClass: { create: false },
    },
    namespaceLabels: PRIVILEGED,
  },
];

let kube: Kube;

before(async () => {
  kube = await startKube();
  await installCrds(kube);
});

after(async () => {
  await kube?.stop();
});

describe('helm lint and the values schema', () => {
  it('lints clean, strict', async () => {
    const out = await helm(['lint', CHART, '--strict']);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  const refused: [string, Values, RegExp][] = [
    ['a misspelt key', { webhook: { failurPolicy: 'Ignore' } }, /failurPolicy.*not allowed/],
    ['an unknown top-level key', { replicas: 3 }, /replicas.*not allowed/],
    ['an unknown failure policy', { webhook: { failurePolicy: 'Maybe' } }, /failurePolicy/],
    ['an unknown certificate mode', { certificates: { mode: 'self' } }, /mode/],
    ['an unknown delivery', { injection: { delivery: 'copy' } }, /delivery/],
    ['a timeout over 30 s', { webhook: { timeoutSeconds: 31 } }, /timeoutSeconds/],
    [
      'a deadline not below the timeout',
      { server: { requestDeadline: '5s' } },
      /must be below webhook.timeoutSeconds/,
    ],
    [
      'a grace period shorter than the drain',
      { terminationGracePeriodSeconds: 5 },
      /must exceed server.shutdownDelay/,
    ],
    [
      'secret mode without a CA',
      { certificates: { mode: 'secret', secret: { name: 'x' } } },
      /caBundle.*required/,
    ],
    [
      'secret mode without a name',
      { certificates: { mode: 'secret', secret: { caBundle: CA_B64 } } },
      /secret.name is required/,
    ],
    [
      'an auto-mode IP that is not one',
      { certificates: { auto: { ipAddresses: ['10.0.0'] } } },
      /ipAddresses/,
    ],
    [
      'an auto-mode DNS name that is not one',
      { certificates: { auto: { extraDnsNames: ['webhook_example'] } } },
      /extraDnsNames/,
    ],
    [
      'a non-https dev URL',
      { webhook: { clientConfig: { url: 'http://127.0.0.1/mutate' } } },
      /url/,
    ],
    [
      'a PDB minAvailable not below replicaCount',
      { replicaCount: 2, podDisruptionBudget: { maxUnavailable: '', minAvailable: 2 } },
      /podDisruptionBudget.minAvailable \(2\) must be below replicaCount \(2\).*node drains hang/,
    ],
    [
      'a PDB minAvailable of 100%',
      { podDisruptionBudget: { maxUnavailable: '', minAvailable: '100%' } },
      /minAvailable 100%/,
    ],
    [
      'a PDB maxUnavailable of 0',
      { podDisruptionBudget: { maxUnavailable: 0 } },
      /maxUnavailable 0/,
    ],
    [
      'a PDB with both minAvailable and maxUnavailable',
      { podDisruptionBudget: { maxUnavailable: 1, minAvailable: 1 } },
      /exactly one of maxUnavailable and minAvailable/,
    ],
    [
      'the same port for HTTPS and telemetry',
      { containerPorts: { https: 9000, telemetry: 9000 } },
      /containerPorts.https and containerPorts.telemetry must differ/,
    ],
    ['a cpu that is no quantity', { resources: { requests: { cpu: '1 core' } } }, /cpu/],
    ['an unknown DNS policy', { dnsPolicy: 'Host' }, /dnsPolicy/],
    [
      'a skip-verify default the operator does not allow',
      { vault: { skipVerify: true } },
      /vault.skipVerify needs vault.allowSkipVerify/,
    ],
    ['a CA Secret name that is not one', { vault: { tlsSecret: 'Vault_CA' } }, /tlsSecret/],
    ['a client timeout that is no duration', { vault: { clientTimeout: 'soon' } }, /clientTimeout/],
    ['a transit path with a space', { vault: { transitPath: 'my transit' } }, /transitPath/],
  ];
  for (const [what, values, message] of refused) {
    it(`refuses ${what}`, async () => {
      assert.match(await renderError(values), message);
    });
  }
});

describe('every value set is accepted by the API server', () => {
  for (const [i, set] of VALUE_SETS.entries()) {
    it(set.name, async () => {
      const release = `set${i}`;
      const namespace = await kube.createNamespace(`vi-sys${i}`, set.namespaceLabels);
      const objects = await render(release, namespace, set.values);
      assert.ok(objects.length > 5, 'renders the webhook');
      for (const obj of objects) {
        assert.equal(
          obj.metadata.namespace ?? namespace,
          namespace,
          `${obj.kind} in the release namespace`,
        );
        // The pod below needs its priority class to exist (admission plugin Priority).
        const answer = await create(kube, obj, { persist: obj.kind === 'PriorityClass' });
        if (obj.kind === 'Deployment')
          assert.deepEqual(answer.warnings, [], 'no Pod Security warnings');
      }
      // The pod the Deployment would create, in a namespace enforcing `restricted`.
      const deployment = only(objects, 'Deployment');
      const template = (deployment['spec'] as { template: { metadata: object; spec: object } })
        .template;
      await kube.createServiceAccount(namespace, `${release}-vault-inject`);
      await create(kube, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { ...template.metadata, name: `${release}-webhook`, namespace },
        spec: template.spec,
      });
    });
  }

  it('the plain manifests (a Namespace and the default install) are accepted too', async () => {
    const text = await readFile(path.join(repoRoot, 'deploy/manifests/vault-inject.yaml'), 'utf8');
    const { parseObjects } = await import('./helpers.ts');
    const objects = parseObjects(text);
    const ns = only(objects, 'Namespace');
    await create(kube, ns, { persist: true });
    for (const obj of objects.filter((o) => o.kind !== 'Namespace')) await create(kube, obj);
  });
});

describe('what the default install looks like', () => {
  let objects: KubeObject[];
  before(async () => {
    objects = await render('vault-inject', 'vault-inject');
  });

  it('registers for Pod CREATE only, v1 reviews, no side effects, 5 s, reinvoked if needed', () => {
    const mwc = only(objects, 'MutatingWebhookConfiguration');
    const [hook, ...rest] = mwc['webhooks'] as Record<string, unknown>[];
    assert.equal(rest.length, 0);
    assert.deepEqual(hook?.['rules'], [
      {
        apiGroups: [''],
        apiVersions: ['v1'],
        operations: ['CREATE'],
        resources: ['pods'],
        scope: 'Namespaced',
      },
    ]);
    assert.deepEqual(hook?.['admissionReviewVersions'], ['v1']);
    assert.equal(hook?.['sideEffects'], 'None');
    assert.equal(hook?.['reinvocationPolicy'], 'IfNeeded');
    assert.equal(hook?.['timeoutSeconds'], 5);
    assert.equal(hook?.['failurePolicy'], 'Fail');
    const selector = hook?.['namespaceSelector'] as {
      matchExpressions: { key: string; operator: string; values: string[] }[];
    };
    assert.deepEqual(selector.matchExpressions[0], {
      key: 'kubernetes.io/metadata.name',
      operator: 'NotIn',
      values: ['kube-system', 'kube-public', 'kube-node-lease', 'vault-inject'],
    });
    const deployment = only(objects, 'Deployment');
    const podLabels = (
      deployment['spec'] as { template: { metadata: { labels: Record<string, string> } } }
    ).template.metadata.labels;
    const objectSelector = hook?.['objectSelector'] as {
      matchExpressions: { key: string; values: string[] }[];
    };
    const own = objectSelector.matchExpressions[0];
    assert.ok(
      own && own.values.includes(podLabels[own.key] ?? ''),
      'the objectSelector excludes our own pods',
    );
    assert.ok(
      objectSelector.matchExpressions.some(
        (e) => e.key === 'security.banzaicloud.io/mutate' && e.values.includes('skip'),
      ),
      "the objectSelector leaves out Bank-Vaults' opt-out label security.banzaicloud.io/mutate=skip",
    );
  });

  it('the webhook container gets only documented variables, and the deadline below the timeout', () => {
    const deployment = only(objects, 'Deployment');
    const spec = deployment['spec'] as {
      replicas: number;
      template: { spec: Record<string, unknown> };
    };
    assert.equal(spec.replicas, 2);
    const pod = spec.template.spec as {
      terminationGracePeriodSeconds: number;
      containers: {
        env: { name: string; value: string }[];
        securityContext: Record<string, unknown>;
        readinessProbe: { httpGet: { path: string; port: string } };
        livenessProbe: { httpGet: { path: string; port: string } };
        ports: { name: string; containerPort: number }[];
      }[];
      topologySpreadConstraints: unknown[];
    };
    const [container] = pod.containers;
    assert.ok(container);
    const documented = new Set<string>(FLAGS.map((f) => f.env));
    for (const { name } of container.env)
      assert.ok(documented.has(name), `${name} is a documented variable`);
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
    assert.equal(env['VAULT_INJECT_REQUEST_DEADLINE'], '4s');
    assert.equal(env['VAULT_INJECT_INIT_IMAGE'], 'ghcr.io/vault-inject/vault-inject-init:0.1.0');
    assert.equal(container.securityContext['readOnlyRootFilesystem'], true);
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'telemetry' });
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'telemetry' });
    assert.equal(container.ports.find((p) => p.name === 'telemetry')?.containerPort, 8080);
    assert.ok(
      pod.terminationGracePeriodSeconds > 3 + 4,
      'grace outlasts shutdown delay + deadline',
    );
    assert.equal(pod.topologySpreadConstraints.length, 2);
    assert.equal(find(objects, 'PodDisruptionBudget').length, 1);
  });

  it('labels every object with its app.kubernetes.io/component, outside the selector', () => {
    const components = new Map<string, string>();
    for (const o of objects) {
      const labels = o.metadata['labels'] as Record<string, string>;
      components.set(`${o.kind}/${o.metadata.name}`, labels['app.kubernetes.io/component'] ?? '');
    }
    assert.deepEqual(
      [...components].filter(([, c]) => c === ''),
      [],
    );
    assert.equal(components.get('ValidatingAdmissionPolicy/vault-inject-guard'), 'guard');
    assert.equal(components.get('Deployment/vault-inject'), 'webhook');
    const spec = only(objects, 'Deployment')['spec'] as {
      selector: { matchLabels: Record<string, string> };
      template: { metadata: { labels: Record<string, string> } };
    };
    assert.equal(spec.template.metadata.labels['app.kubernetes.io/component'], 'webhook');
    assert.equal(spec.selector.matchLabels['app.kubernetes.io/component'], undefined);
  });

  it('schedules on Linux nodes, with its own priority class, a PDB by maxUnavailable', () => {
    const pod = (only(objects, 'Deployment')['spec'] as { template: { spec: Values } }).template
      .spec;
    assert.deepEqual(pod['nodeSelector'], { 'kubernetes.io/os': 'linux' });
    assert.equal(pod['priorityClassName'], 'vault-inject');
    assert.equal(pod['hostNetwork'], undefined);
    const pc = only(objects, 'PriorityClass');
    assert.equal(pc.metadata.name, 'vault-inject');
    assert.equal(pc['value'], 1_000_000_000);
    assert.equal(pc['globalDefault'], false);
    assert.deepEqual(only(objects, 'PodDisruptionBudget')['spec'], {
      maxUnavailable: 1,
      selector: {
        matchLabels: {
          'app.kubernetes.io/name': 'vault-inject',
          'app.kubernetes.io/instance': 'vault-inject',
        },
      },
    });
    assert.equal(find(objects, 'NetworkPolicy').length, 0, 'no NetworkPolicy unless asked');
  });

  it('hostNetwork: the webhook listens on the chosen node ports, Service names still resolve', async () => {
    const set = await render('vault-inject', 'vault-inject', {
      hostNetwork: true,
      containerPorts: { https: 10443, telemetry: 10080 },
      service: { telemetryPort: 9090 },
      probes: { liveness: { periodSeconds: 20, timeoutSeconds: 3, failureThreshold: 5 } },
    });
    const pod = (only(set, 'Deployment')['spec'] as { template: { spec: Values } }).template
      .spec as {
      hostNetwork: boolean;
      dnsPolicy: string;
      containers: {
        env: { name: string; value: string }[];
        ports: { name: string; containerPort: number }[];
        livenessProbe: Values;
      }[];
    };
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    const [c] = pod.containers;
    const env = Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env['VAULT_INJECT_LISTEN'], '0.0.0.0:10443');
    assert.equal(env['VAULT_INJECT_TELEMETRY_LISTEN'], '0.0.0.0:10080');
    assert.deepEqual(
      c?.ports.map((p) => [p.name, p.containerPort]),
      [
        ['https', 10443],
        ['telemetry', 10080],
      ],
    );
    assert.deepEqual(c?.livenessProbe, {
      httpGet: { path: '/healthz', port: 'telemetry' },
      periodSeconds: 20,
      timeoutSeconds: 3,
      failureThreshold: 5,
    });
    const svc = only(set, 'Service')['spec'] as { ports: Values[] };
    assert.deepEqual(svc.ports, [
      { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' },
      { name: 'telemetry', port: 9090, targetPort: 'telemetry', protocol: 'TCP' },
    ]);
  });

  it('a NetworkPolicy admits only the two ports, from the peers given', async () => {
    const set = await render('vault-inject', 'vault-inject', {
      networkPolicy: { enabled: true, webhookFrom: [{ ipBlock: { cidr: '10.0.0.0/28' } }] },
    });
    const spec = only(set, 'NetworkPolicy')['spec'] as Values;
    assert.deepEqual(spec['policyTypes'], ['Ingress']);
    assert.deepEqual(spec['ingress'], [
      { ports: [{ port: 'https', protocol: 'TCP' }], from: [{ ipBlock: { cidr: '10.0.0.0/28' } }] },
      { ports: [{ port: 'telemetry', protocol: 'TCP' }] },
    ]);
  });

  it('image delivery reaches the webhook as --delivery=image', async () => {
    const set = await render('x', 'x', { injection: { delivery: 'image' } });
    const env =
      (
        only(set, 'Deployment')['spec'] as {
          template: { spec: { containers: { env: { name: string; value: string }[] }[] } };
        }
      ).template.spec.containers[0]?.env ?? [];
    assert.equal(env.find((e) => e.name === 'VAULT_INJECT_DELIVERY')?.value, 'image');
  });

  it('pod defaults reach the webhook as its variables, only those set', async () => {
    const envOf = async (values: Values): Promise<Record<string, string>> => {
      const set = await render('x', 'x', values);
      const containers = (
        only(set, 'Deployment')['spec'] as {
          template: { spec: { containers: { env: { name: string; value?: string }[] }[] } };
        }
      ).template.spec.containers;
      return Object.fromEntries(
        (containers[0]?.env ?? []).flatMap((e) =>
          e.value === undefined ? [] : [[e.name, e.value]],
        ),
      );
    };
    const vault = {
      role: '{{.namespace}}-{{.serviceaccount}}',
      namespace: 'team-a',
      tlsSecret: 'vault-ca',
      clientTimeout: '1m30s',
      transitKey: 'app-key',
      transitPath: 'transit-apps',
      ignoreMissing: true,
      envPassthrough: 'VAULT_ADDR,VAULT_ROLE',
      allowSkipVerify: true,
      skipVerify: true,
      authPath: 'k8s-apps',
      authMethod: 'jwt',
    };
    // The rendered variables, read by the webhook's own configuration parser.
    const config = injectionConfig(readFlags([], await envOf({ vault })).flags);
    assert.deepEqual(config.defaults, {
      role: '{{.namespace}}-{{.serviceaccount}}',
      namespace: 'team-a',
      tlsSecret: 'vault-ca',
      clientTimeout: '1m30s',
      transitKey: 'app-key',
      transitPath: 'transit-apps',
      ignoreMissing: true,
      envPassthrough: 'VAULT_ADDR,VAULT_ROLE',
      skipVerify: true,
    });
    assert.deepEqual([config.authPath, config.authMethod], ['k8s-apps', 'jwt']);
    // Unset values are not passed: a Bank-Vaults variable given through extraEnv still counts.
    const plain = await envOf({ extraEnv: [{ name: 'VAULT_TLS_SECRET', value: 'bv-ca' }] });
    assert.deepEqual(
      Object.keys(plain).filter((n) => n.startsWith('VAULT_INJECT_DEFAULT_')),
      [],
    );
    const fromBv = injectionConfig(readFlags([], plain).flags);
    assert.deepEqual(fromBv.defaults, {
      tlsSecret: 'bv-ca',
      ignoreMissing: false,
      skipVerify: false,
    });
  });

  it('RBAC: read-only gets for detection, certificate management only in auto mode', async () => {
    const rulesOf = (objs: KubeObject[], kind: string): unknown =>
      find(objs, kind).map((o) => o['rules']);
    assert.deepEqual(rulesOf(objects, 'ClusterRole'), [
      [
        { apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['get'] },
        { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get'] },
        {
          apiGroups: ['admissionregistration.k8s.io'],
          resources: ['mutatingwebhookconfigurations'],
          resourceNames: ['vault-inject'],
          verbs: ['get', 'patch'],
        },
      ],
    ]);
    assert.deepEqual(rulesOf(objects, 'Role'), [
      [
        {
          apiGroups: [''],
          resources: ['secrets'],
          resourceNames: ['vault-inject-tls'],
          verbs: ['get', 'update'],
        },
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: ['vault-inject-certificates'],
          verbs: ['get', 'update'],
        },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      ],
    ]);
    const cm = await render('vault-inject', 'vault-inject', {
      certificates: { mode: 'cert-manager' },
    });
    assert.equal(find(cm, 'Role').length, 0, 'no certificate management rights with cert-manager');
    const verbs = (find(cm, 'ClusterRole')[0]?.['rules'] as { verbs: string[] }[]).flatMap(
      (r) => r.verbs,
    );
    assert.deepEqual([...new Set(verbs)], ['get']);
    // The test stack's webhook user (test/env/kube.ts) gets exactly the chart's detection rules.
    assert.deepEqual(find(cm, 'ClusterRole')[0]?.['rules'], WEBHOOK_RBAC_RULES);
  });

  it('auto: two renders are byte-identical and hold no key, no certificate and no caBundle', async () => {
    const args = ['template', 'vault-inject', CHART, '--namespace', 'vault-inject'];
    const [first, second] = [await helm(args), await helm(args)];
    assert.ok(first === second, 'helm template renders the same bytes twice');
    assert.doesNotMatch(first, /-----BEGIN|caBundle:|tls\.key|ca\.key|LS0tLS1CRUdJTi/);
    const secret = only(objects, 'Secret');
    assert.deepEqual(Object.keys(secret).sort(), ['apiVersion', 'kind', 'metadata']);
    const mwc = only(objects, 'MutatingWebhookConfiguration');
    const hook = (mwc['webhooks'] as { clientConfig: Record<string, unknown> }[])[0];
    assert.deepEqual(hook?.clientConfig, {
      service: { name: 'vault-inject', namespace: 'vault-inject', path: '/mutate', port: 443 },
    });
  });

  it('cert-manager: Issuer chain, Certificate for the Service, CA injected by annotation', async () => {
    const cm = await render('vault-inject', 'vault-inject', {
      certificates: { mode: 'cert-manager' },
    });
    assert.equal(find(cm, 'Secret').length, 0, 'no key material rendered');
    const cert = find(cm, 'Certificate').find((c) => c.metadata.name === 'vault-inject-tls');
    assert.deepEqual((cert?.['spec'] as { dnsNames: string[] }).dnsNames, [
      'vault-inject',
      'vault-inject.vault-inject',
      'vault-inject.vault-inject.svc',
      'vault-inject.vault-inject.svc.cluster.local',
    ]);
    const mwc = only(cm, 'MutatingWebhookConfiguration');
    assert.equal(
      (mwc.metadata['annotations'] as Record<string, string>)['cert-manager.io/inject-ca-from'],
      'vault-inject/vault-inject-tls',
    );
    assert.equal(find(cm, 'Issuer').length, 2);
  });
});

describe('the default priority class where system-cluster-critical is restricted (as on GKE)', () => {
  // GKE refuses pods of system-node-critical and system-cluster-critical outside kube-system
  // through its ResourceQuota admission: a namespace must have a quota that covers those classes.
  // Here the same admission plugin does it with a quota allowing no such pod in the namespace.
  it("admits the webhook's pod with the chart's own class, refuses system-cluster-critical", async () => {
    const namespace = await kube.createNamespace('vi-gke');
    await create(
      kube,
      {
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        metadata: { name: 'critical-pods', namespace },
        spec: {
          hard: { pods: '0' },
          scopeSelector: {
            matchExpressions: [
              {
                scopeName: 'PriorityClass',
                operator: 'In',
                values: ['system-node-critical', 'system-cluster-critical'],
              },
            ],
          },
        },
      },
      { persist: true },
    );
    // Its status, as the controller manager (not run here) would write it: admission enforces
    // status.hard.
    const quotaPath = `/api/v1/namespaces/${namespace}/resourcequotas/critical-pods/status`;
    const quota = (await kubeRequest(kube, 'GET', quotaPath.replace(/\/status$/, ''))).body;
    const status = await kubeRequest(kube, 'PUT', quotaPath, {
      ...quota,
      status: { hard: { pods: '0' }, used: { pods: '0' } },
    });
    assert.equal(status.status, 200);
    const podOf = async (values: Values): Promise<KubeObject> => {
      const objects = await render('gke', namespace, values);
      for (const pc of find(objects, 'PriorityClass')) await create(kube, pc, { persist: true });
      const template = (
        only(objects, 'Deployment')['spec'] as { template: { metadata: object; spec: object } }
      ).template;
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { ...template.metadata, name: 'gke-webhook', namespace },
        spec: template.spec,
      };
    };
    await kube.createServiceAccount(namespace, 'gke-vault-inject');
    await create(kube, await podOf({}));
    await assert.rejects(
      create(kube, await podOf({ priorityClassName: 'system-cluster-critical' })),
      /exceeded quota: critical-pods/,
    );
  });
});

describe('installed with helm into the real API server', () => {
  it('auto mode: helm upgrade leaves what the webhook wrote (Secret and caBundle) alone', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-helm-'));
    try {
      const kubeconfig = await kube.writeKubeconfig(path.join(dir, 'kubeconfig'));
      const ns = await kube.createNamespace('vi-helm');
      const common = ['--kubeconfig', kubeconfig, '--namespace', ns];
      const helmBin = await helmPath();
      const env = {
        ...process.env,
        HELM_CACHE_HOME: dir,
        HELM_CONFIG_HOME: dir,
        HELM_DATA_HOME: dir,
      };
      await run(helmBin, ['install', 'vi', CHART, ...common], { env });
      const secretPath = `/api/v1/namespaces/${ns}/secrets/vi-vault-inject-tls`;
      const mwcPath =
        '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/vi-vault-inject';
      const dataOf = async (): Promise<unknown> =>
        (await kubeRequest(kube, 'GET', secretPath)).body['data'];
      const bundleOf = async (): Promise<string | undefined> =>
        (
          (await kubeRequest(kube, 'GET', mwcPath)).body['webhooks'] as {
            clientConfig: { caBundle?: string };
          }[]
        )[0]?.clientConfig.caBundle;
      assert.equal(await dataOf(), undefined, 'installed empty');
      assert.equal(await bundleOf(), undefined, 'no caBundle installed');
      // What the webhook's leader writes (tls/auto/kube.ts): the Secret replaced with its data,
      // the caBundle added by a JSON patch.
      const data = { 'ca.crt': CA_B64, 'ca.key': 'a2V5', 'tls.crt': CA_B64, 'tls.key': 'a2V5' };
      const live = (await kubeRequest(kube, 'GET', secretPath)).body;
      const put = await kubeRequest(kube, 'PUT', secretPath, { ...live, data });
      assert.equal(put.status, 200);
      const patch = await kubeRequest(
        kube,
        'PATCH',
        mwcPath,
        [{ op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: CA_B64 }],
        'application/json-patch+json',
      );
      assert.equal(patch.status, 200);
      await run(
        helmBin,
        ['upgrade', 'vi', CHART, ...common, '--set', 'webhook.failurePolicy=Ignore'],
        { env },
      );
      assert.deepEqual(await dataOf(), data, 'the Secret survives the upgrade');
      assert.equal(await bundleOf(), CA_B64, 'and so does the caBundle');
      const upgraded = (await kubeRequest(kube, 'GET', mwcPath)).body['webhooks'] as {
        failurePolicy: string;
      }[];
      assert.equal(upgraded[0]?.failurePolicy, 'Ignore', 'while the upgrade did apply');
      await run(helmBin, ['uninstall', 'vi', ...common], { env });
      assert.equal(
        (await kubeRequest(kube, 'GET', secretPath)).status,
        404,
        'uninstall removes it',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy/manifests', () => {
  it('is what the chart renders today (make manifests)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-manifests-'));
    try {
      await run(path.join(repoRoot, 'scripts/render-manifests.sh'), [dir], {
        env: { ...process.env, VAULT_INJECT_HELM: await helmPath() },
      });
      const fresh = await readFile(path.join(dir, 'vault-inject.yaml'), 'utf8');
      const checkedIn = await readFile(
        path.join(repoRoot, 'deploy/manifests/vault-inject.yaml'),
        'utf8',
      );
      assert.ok(fresh === checkedIn, 'deploy/manifests is out of date: run make manifests');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
