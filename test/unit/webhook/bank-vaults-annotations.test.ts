// Every one of Bank-Vaults' 54 pod annotations (vault.security.banzaicloud.io/*, the list of issue
// 11, from vault-secrets-webhook 1.23.1 pkg/common/common.go) is honoured or warned about, never
// dropped silently: honoured means the pod's patch differs from the patch without it, warned means
// an admission warning names it. Then the cases of Bank-Vaults' own pod tests that concern
// annotations (pkg/webhook/pod_test.go, each named), ported as data.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { INIT_PROGRAM } from '../../../init-binary/src/contract/names.ts';
import { HONOURED, MET, WARNED } from '../../../webhook/src/mutation/bank-vaults.ts';
import { MAX_ITEMS } from '../../../webhook/src/mutation/bounds.ts';
import type { Container, Pod } from '../../../webhook/src/mutation/types.ts';
import type { ImageCommandLookup } from '../../../webhook/src/registry/image-command.ts';
import { decodePatch, harness, podReview, postReview } from './helpers.ts';

const BV = 'vault.security.banzaicloud.io/';

/** The 54 of issue 11, as Bank-Vaults 1.23.1 names them. */
const ALL = [
  'mutate', 'vault-addr', 'vault-role', 'vault-path', 'vault-auth-method', 'vault-skip-verify',
  'vault-tls-secret', 'vault-client-timeout', 'vault-namespace', 'vault-ignore-missing-secrets',
  'vault-env-passthrough', 'vault-env-from-path', 'vault-env-daemon', 'transit-key-id',
  'transit-path', 'transit-batch-size', 'vault-env-delay', 'token-auth-mount',
  'vault-serviceaccount', 'service-account-token-volume-name', 'log-level', 'enable-json-log',
  'mutate-probes', 'registry-skip-verify', 'vault-env-image', 'vault-env-image-pull-policy',
  'psp-allow-privilege-escalation', 'run-as-non-root', 'run-as-user', 'run-as-group',
  'readonly-root-fs', 'vault-image', 'vault-image-pull-policy', 'vault-agent',
  'vault-agent-configmap', 'vault-agent-once', 'vault-agent-share-process-namespace',
  'vault-agent-cpu', 'vault-agent-cpu-limit', 'vault-agent-cpu-request', 'vault-agent-memory',
  'vault-agent-memory-limit', 'vault-agent-memory-request', 'vault-agent-env-variables',
  'vault-configfile-path', 'vault-ct-configmap', 'vault-ct-image', 'vault-ct-once',
  'vault-ct-pull-policy', 'vault-ct-share-process-namespace', 'vault-ct-cpu', 'vault-ct-memory',
  'vault-ct-secrets-mount-path', 'vault-ct-inject-in-initcontainers',
]; // prettier-ignore

const FLAGS = {
  'vault-addr': 'https://vault.vault:8200',
  'allowed-vault-addrs': 'https://other.example:8200',
  'allow-skip-verify': 'true',
};

const APP: Container = {
  name: 'app',
  image: 'registry.example/app:1',
  command: ['/app'],
  env: [{ name: 'DB', value: 'vault:secret/data/app#db' }],
  livenessProbe: { exec: { command: ['/healthy'] } },
};

function podWith(annotations: Record<string, string>, spec?: Partial<Pod['spec']>): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'apps', annotations },
    spec: {
      serviceAccountName: 'app',
      containers: [structuredClone(APP)],
      volumes: [{ name: 'tok', secret: { secretName: 'vault-token' } }],
      ...spec,
    },
  };
}

interface Reviewed {
  allowed: boolean;
  warnings: string[];
  message?: string;
  patch: unknown[];
  after: Pod;
}

async function review(pod: Pod, flags: Record<string, string> = FLAGS): Promise<Reviewed> {
  const res = await postReview(harness(flags), podReview(pod, { namespace: 'apps' }));
  assert.equal(res.statusCode, 200, res.body);
  const { response } = res.json();
  const patch = decodePatch(response.patch);
  const after = fjp.applyPatch(structuredClone(pod), patch as fjp.Operation[], true, false);
  return {
    allowed: response.allowed,
    warnings: response.warnings ?? [],
    message: response.status?.message,
    patch,
    after: after.newDocument,
  };
}

/** A value that asks for something, per annotation (Bank-Vaults' spelling of it). */
const VALUE: Record<string, string> = {
  mutate: 'skip',
  'vault-addr': 'https://other.example:8200',
  'vault-role': 'r-{{.namespace}}',
  'vault-path': 'k8s-b',
  'vault-auth-method': 'jwt',
  'vault-skip-verify': 'true',
  'vault-tls-secret': 'vault-ca',
  'vault-client-timeout': '20s',
  'vault-namespace': 'team-b',
  'vault-ignore-missing-secrets': 'true',
  'vault-env-passthrough': 'VAULT_ADDR',
  'vault-env-from-path': 'secret/data/common',
  'vault-env-daemon': 'true',
  'transit-key-id': 'key',
  'transit-path': 'transit-b',
  'transit-batch-size': '5',
  'vault-env-delay': '3s',
  'token-auth-mount': 'tok:vault-token',
  'vault-serviceaccount': 'vault-reader',
  'log-level': 'debug',
  'enable-json-log': 'false',
  'mutate-probes': 'true',
  'run-as-user': '1000',
  'run-as-group': '1000',
  'psp-allow-privilege-escalation': 'true',
  'run-as-non-root': 'false',
  'readonly-root-fs': 'false',
  'registry-skip-verify': 'true',
  'vault-agent': 'true',
  'vault-agent-once': 'true',
  'vault-ct-once': 'true',
  'vault-agent-env-variables': '[{"name":"SKIP_SETCAP","value":"1"}]',
};

describe("Bank-Vaults' 54 pod annotations: each honoured or warned, never silent", () => {
  it('the code classifies exactly these 54, each once', () => {
    const classes = [[...HONOURED], Object.keys(WARNED), Object.keys(MET)];
    const all = classes.flat();
    assert.equal(new Set(all).size, all.length, 'no annotation in two classes');
    assert.deepEqual([...all].sort(), [...ALL].sort());
    assert.equal(ALL.length, 54);
  });

  for (const name of ALL) {
    const key = BV + name;
    it(key, async () => {
      const extra: Record<string, string> =
        name === 'vault-serviceaccount' ? { [`${BV}vault-role`]: 'r-{{.serviceaccount}}' } : {};
      const base = await review(podWith(extra));
      const r = await review(podWith({ ...extra, [key]: VALUE[name] ?? 'x' }));
      const named = r.warnings.filter((w) => w.includes(key));
      // registry-skip-verify is honoured only with --allow-registry-skip-verify (tested below).
      if (HONOURED.has(name) && name !== 'registry-skip-verify') {
        assert.equal(r.allowed, true, r.message);
        assert.notDeepEqual(r.patch, base.patch, `${key} changes nothing`);
        assert.deepEqual(named, [], `${key} is honoured, so not warned about`);
      } else {
        assert.equal(named.length, 1, `${key} is told: ${JSON.stringify(r.warnings)}`);
        assert.deepEqual(r.patch, base.patch, `${key} is ignored, so changes nothing`);
      }
    });
  }

  it('a warned annotation is told even when no container holds a reference (an Agent-only pod)', async () => {
    const pod = podWith(
      { [`${BV}vault-agent-configmap`]: 'agent-config', [`${BV}vault-ct-configmap`]: 'ct' },
      { containers: [{ name: 'app', image: 'app:1', command: ['/app'] }] },
    );
    const r = await review(pod);
    assert.equal(r.allowed, true);
    assert.deepEqual(r.patch, []);
    assert.equal(r.warnings.length, 2);
    assert.match(
      r.warnings[0] ?? '',
      /vault-agent-configmap ignored: Vault Agent is not supported/,
    );
    assert.match(
      r.warnings[1] ?? '',
      /vault-ct-configmap ignored: consul-template is not supported/,
    );
  });

  it('the security settings the copy container already has are honoured without a word', async () => {
    const r = await review(
      podWith({
        [`${BV}run-as-non-root`]: 'true',
        [`${BV}readonly-root-fs`]: 'TRUE',
        [`${BV}psp-allow-privilege-escalation`]: 'false',
        [`${BV}registry-skip-verify`]: '0',
      }),
    );
    assert.deepEqual(r.warnings, []);
    const copy = r.after.spec.initContainers?.[0]?.securityContext;
    assert.equal(copy?.runAsNonRoot, true);
    assert.equal(copy?.readOnlyRootFilesystem, true);
    assert.equal(copy?.allowPrivilegeEscalation, false);
  });

  it('registry-skip-verify: the image lookups of that pod skip verification, only when allowed', async () => {
    const asked: (boolean | undefined)[] = [];
    const lookups = async (
      flags: Record<string, string>,
      value?: string,
      ours?: string,
    ): Promise<Reviewed> => {
      const h = harness(flags);
      const images: ImageCommandLookup = {
        lookup: (request) => {
          asked.push(request.insecureSkipVerify);
          return Promise.resolve({ entrypoint: ['/entry'], cmd: [] });
        },
      };
      const an: Record<string, string> =
        value === undefined ? {} : { [`${BV}registry-skip-verify`]: value };
      if (ours !== undefined) an['vault-inject.dev/registry-skip-verify'] = ours;
      const pod = podWith(an, { containers: [{ ...structuredClone(APP), command: undefined }] });
      const res = await postReview(
        { ...h, deps: { ...h.deps, images } },
        podReview(pod, { namespace: 'apps' }),
      );
      const { response } = res.json();
      return { ...response, warnings: response.warnings ?? [] } as Reviewed;
    };
    const allowed = { ...FLAGS, 'allow-registry-skip-verify': 'true' };
    assert.deepEqual((await lookups(allowed, 'true')).warnings, []);
    assert.deepEqual((await lookups(allowed, 'false')).warnings, []);
    assert.deepEqual((await lookups(allowed)).warnings, []);
    assert.deepEqual((await lookups(allowed, 'false', 'true')).warnings, []);
    assert.deepEqual((await lookups(allowed, 'true', 'false')).warnings, []);
    const refused = await lookups(FLAGS, 'true');
    assert.deepEqual(refused.warnings, [
      `${BV}registry-skip-verify ignored: this webhook does not allow skipping registry TLS verification (--allow-registry-skip-verify); its operator can list the host in --registry-insecure-skip-verify`,
    ]);
    assert.deepEqual(asked, [true, undefined, undefined, true, undefined, undefined]);
  });

  it('an unknown vault.security.banzaicloud.io/ or vault-inject.dev/ annotation is told', async () => {
    const r = await review(
      podWith({ [`${BV}vault-rol`]: 'x', 'vault-inject.dev/rol': 'y', 'example.com/other': 'z' }),
    );
    assert.equal(r.allowed, true);
    assert.deepEqual(r.warnings, [
      'annotation "vault.security.banzaicloud.io/vault-rol" is not a Bank-Vaults pod annotation this webhook knows: ignored (check its spelling)',
      'annotation "vault-inject.dev/rol" is not one this webhook knows: ignored (see docs/configuration.md#annotations)',
    ]);
  });

  it('many unknown annotations: the warnings are capped, the rest counted', async () => {
    const many = Object.fromEntries(
      Array.from({ length: 300 }, (_, i) => [`vault-inject.dev/x${i}-${'y'.repeat(600)}`, 'v']),
    );
    const r = await review(podWith(many));
    assert.equal(r.allowed, true);
    assert.equal(r.warnings.length, MAX_ITEMS + 1);
    assert.match(r.warnings.at(-1) ?? '', /^… and \d+ more warnings$/);
    for (const w of r.warnings) assert.ok(w.length < 700, 'each warning is capped');
  });

  it('an opted-out pod (the mutate: skip annotation or label) gets no warnings', async () => {
    const agent = { [`${BV}vault-agent`]: 'true' };
    const byAnnotation = await review(podWith({ ...agent, [`${BV}mutate`]: 'skip' }));
    assert.deepEqual([byAnnotation.warnings, byAnnotation.patch], [[], []]);
    const labelled = podWith(agent);
    labelled.metadata = {
      ...labelled.metadata,
      labels: { 'security.banzaicloud.io/mutate': 'skip' },
    };
    const byLabel = await review(labelled);
    assert.deepEqual([byLabel.warnings, byLabel.patch], [[], []]);
  });
});

/** Bank-Vaults pkg/webhook/pod_test.go, Test_mutatingWebhook_mutateContainers, by case name. */
const PROBE_CASES = [
  { upstream: 'Will mutate container with liveness probe', probe: 'livenessProbe' },
  { upstream: 'Will mutate container with readiness probe', probe: 'readinessProbe' },
  { upstream: 'Will mutate container with startup probe', probe: 'startupProbe' },
] as const;

describe('Bank-Vaults pod_test.go cases concerning annotations', () => {
  for (const c of PROBE_CASES) {
    it(`pod_test.go "${c.upstream}" (mutate-probes)`, async () => {
      const container: Container = {
        name: 'MyContainer',
        image: 'myimage',
        command: ['/bin/bash'],
        env: [{ name: 'myvar', value: 'vault:secret/data/s#k' }],
        [c.probe]: { exec: { command: ['/bin/bash'] } },
      };
      const r = await review(
        podWith({ [`${BV}mutate-probes`]: 'true' }, { containers: [container] }),
      );
      const out = r.after.spec.containers[0] as Container;
      assert.deepEqual([out.command, out.args], [[INIT_PROGRAM], ['/bin/bash']]);
      const probe = out[c.probe] as { exec: { command: string[] } };
      assert.deepEqual(probe.exec.command, [INIT_PROGRAM, '/bin/bash']);
      // Without the annotation the probe is left alone, and a second review changes nothing.
      const off = await review(podWith({}, { containers: [container] }));
      const plain = (off.after.spec.containers[0] as Container)[c.probe] as typeof probe;
      assert.deepEqual(plain.exec.command, ['/bin/bash']);
      const again = await review({
        ...r.after,
        metadata: { ...r.after.metadata, annotations: { [`${BV}mutate-probes`]: 'true' } },
      });
      assert.deepEqual(
        again.patch.filter((op) => JSON.stringify(op).includes('Probe')),
        [],
      );
    });
  }

  it('pod_test.go "Will mutate container with env-from-path annotation"', async () => {
    const container: Container = { name: 'MyContainer', image: 'myimage', command: ['/bin/bash'] };
    const r = await review(
      podWith({ [`${BV}vault-env-from-path`]: 'secret/data/app' }, { containers: [container] }),
    );
    const out = r.after.spec.containers[0] as Container;
    assert.deepEqual(out.command, [INIT_PROGRAM]);
    const env = out.env?.find((e) => e.name === 'VAULT_ENV_FROM_PATH');
    assert.equal(env?.value, 'secret/data/app');
  });

  it('pod_test.go "Mutate will not change the containers log level if it was already set"', async () => {
    const container: Container = {
      name: 'MyContainer',
      image: 'myimage',
      command: ['/bin/bash'],
      env: [
        { name: 'myvar', value: 'vault:secret/data/s#k' },
        { name: 'VAULT_LOG_LEVEL', value: 'info' },
      ],
    };
    const r = await review(podWith({ [`${BV}log-level`]: 'debug' }, { containers: [container] }));
    const levels = (r.after.spec.containers[0] as Container).env?.filter(
      (e) => e.name === 'VAULT_LOG_LEVEL',
    );
    assert.deepEqual(levels, [{ name: 'VAULT_LOG_LEVEL', value: 'info' }]);
  });

  // Test_mutatingWebhook_mutatePod: the Vault Agent and consul-template cases, as annotations.
  const AGENT_CASES = [
    {
      upstream: 'Will mutate pod with ct-configmap annotations',
      annotations: { 'vault-ct-configmap': 'config-map-test' },
    },
    {
      upstream: 'Will mutate pod with ct-once annotations',
      annotations: { 'vault-ct-configmap': 'config-map-test', 'vault-ct-once': 'true' },
    },
    {
      upstream: 'Will mutate pod with agent-configmap annotations and envVariables',
      annotations: {
        'vault-agent-configmap': 'config-map-test',
        'vault-agent-env-variables': '[{"Name": "SKIP_SETCAP","Value": "1"}]',
      },
    },
    {
      upstream: 'Will mutate pod with vault-ct-inject-in-initcontainers and ct-once annotations',
      annotations: {
        'vault-ct-configmap': 'config-map-test',
        'vault-ct-once': 'true',
        'vault-ct-inject-in-initcontainers': 'true',
      },
    },
    {
      upstream:
        'Will mutate pod and add agent-secrets volume when running vault agent as initcontainer',
      annotations: { 'vault-agent-configmap': 'config-map-test', 'vault-agent': 'true' },
    },
  ];
  for (const c of AGENT_CASES) {
    it(`pod_test.go "${c.upstream}": each annotation warned, the pod admitted unchanged`, async () => {
      const an = Object.fromEntries(Object.entries(c.annotations).map(([k, v]) => [BV + k, v]));
      const container: Container = {
        name: 'MyContainer',
        image: 'myimage',
        command: ['/bin/bash'],
      };
      const r = await review(podWith(an, { containers: [container] }));
      assert.equal(r.allowed, true);
      assert.deepEqual(r.patch, []);
      for (const key of Object.keys(an)) {
        assert.equal(
          r.warnings.filter((w) => w.startsWith(`annotation ${key} ignored:`)).length,
          1,
        );
      }
    });
  }
});

/**
 * The pod templates of Bank-Vaults' own e2e manifests (vault-secrets-webhook 1.23.1 e2e/test/, by
 * file), as data: their annotations and containers as written there (resources left out). Each
 * is admitted; each annotation is acted on or named in a warning.
 */
const ALPINE: Container = {
  name: 'alpine',
  image: 'alpine',
  command: ['sh', '-c', 'echo $AWS_SECRET_ACCESS_KEY && echo going to sleep... && sleep 10000'],
  env: [
    {
      name: 'AWS_SECRET_ACCESS_KEY',
      value: 'vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY',
    },
  ],
};
const INIT_UBUNTU: Container = {
  name: 'init-ubuntu',
  image: 'ubuntu',
  command: ['sh', '-c', 'echo $AWS_SECRET_ACCESS_KEY && echo initContainers ready'],
  env: [
    {
      name: 'AWS_SECRET_ACCESS_KEY',
      value: 'vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY',
    },
  ],
};
const E2E_ADDR = 'https://vault.default.svc.cluster.local:8200';
const COMMON = {
  'vault-addr': E2E_ADDR,
  'vault-role': 'default',
  'vault-tls-secret': 'vault-tls',
  'vault-path': 'kubernetes',
};
const SECCONTEXT = { 'run-as-non-root': 'true', 'run-as-user': '1000', 'run-as-group': '1000' };

interface E2eCase {
  upstream: string;
  annotations: Record<string, string>;
  spec: Partial<Pod['spec']>;
  /** The annotations (Bank-Vaults names) the webhook warns about. */
  warned: string[];
  /** Containers injected, by name. */
  injected: string[];
  copyUser?: number;
}

const E2E_CASES: E2eCase[] = [
  {
    upstream: 'e2e/test/deployment.yaml',
    annotations: COMMON,
    spec: {
      initContainers: [
        {
          ...INIT_UBUNTU,
          env: [
            {
              name: 'AWS_SECRET_ACCESS_KEY',
              value: 'vault:secret/data/accounts/aws#${.AWS_SECRET_ACCESS_KEY}',
            },
          ],
        },
      ],
      containers: [ALPINE, { name: 'redis', image: 'redis', env: ALPINE.env ?? [] }],
    },
    warned: [],
    injected: ['init-ubuntu', 'alpine', 'redis'],
  },
  {
    upstream: 'e2e/test/deployment-seccontext.yaml',
    annotations: COMMON,
    spec: {
      securityContext: { runAsUser: 1000 },
      initContainers: [INIT_UBUNTU],
      containers: [ALPINE],
    },
    warned: [],
    injected: ['init-ubuntu', 'alpine'],
    copyUser: 1000,
  },
  {
    upstream: 'e2e/test/deployment-init-seccontext.yaml',
    annotations: { ...COMMON, ...SECCONTEXT },
    spec: { containers: [ALPINE] },
    warned: [],
    injected: ['alpine'],
    copyUser: 1000,
  },
  {
    upstream: 'e2e/test/deployment-init-useagent-seccontext.yaml',
    annotations: {
      'vault-addr': E2E_ADDR,
      'vault-tls-secret': 'vault-tls',
      'vault-agent': 'true',
      'vault-agent-configmap': 'test-deployment-init-useagent-seccontext-config',
      ...SECCONTEXT,
    },
    spec: { containers: [ALPINE] },
    warned: ['vault-agent', 'vault-agent-configmap'],
    injected: ['alpine'],
    copyUser: 1000,
  },
  {
    upstream: 'e2e/test/deployment-template.yaml',
    annotations: {
      'vault-addr': 'https://vault:8200',
      'vault-role': 'default',
      'vault-skip-verify': 'false',
      'vault-tls-secret': 'vault-tls',
      'vault-agent': 'false',
      'vault-path': 'kubernetes',
      'vault-agent-configmap': 'my-app-vault-agent',
    },
    spec: {
      serviceAccountName: 'default',
      containers: [
        {
          name: 'alpine',
          image: 'alpine',
          command: [
            'sh',
            '-c',
            'cat /vault/secrets/config.yaml && echo going to sleep... && sleep 10000',
          ],
        },
      ],
    },
    warned: ['vault-agent', 'vault-agent-configmap'],
    injected: [],
  },
];

describe("Bank-Vaults' e2e manifests (pod templates)", () => {
  const flags = { 'vault-addr': E2E_ADDR, 'allowed-vault-addrs': 'https://vault:8200' };
  // What the redis image runs (its ENTRYPOINT and CMD).
  const images: ImageCommandLookup = {
    lookup: (request) =>
      request.image === 'redis'
        ? Promise.resolve({ entrypoint: ['docker-entrypoint.sh'], cmd: ['redis-server'] })
        : Promise.reject(new Error(`no image ${request.image}`)),
  };
  for (const c of E2E_CASES) {
    it(c.upstream, async () => {
      const an = Object.fromEntries(Object.entries(c.annotations).map(([k, v]) => [BV + k, v]));
      const pod = podWith(an, { volumes: [], ...c.spec });
      const h = harness(flags);
      const res = await postReview(
        { ...h, deps: { ...h.deps, images } },
        podReview(pod, { namespace: 'default' }),
      );
      const { response } = res.json();
      assert.equal(response.allowed, true, response.status?.message);
      const warnings: string[] = response.warnings ?? [];
      assert.deepEqual(
        warnings.map((w) => /^annotation (\S+)/.exec(w)?.[1]),
        c.warned.map((n) => BV + n),
        warnings.join('\n'),
      );
      const after = fjp.applyPatch(
        structuredClone(pod),
        decodePatch(response.patch) as fjp.Operation[],
        true,
        false,
      ).newDocument;
      const all = [...(after.spec.initContainers ?? []), ...after.spec.containers];
      const injected = all
        .filter((x) => x.name !== 'vault-inject-copy' && x.command?.[0] === INIT_PROGRAM)
        .map((x) => x.name);
      assert.deepEqual(injected, c.injected);
      for (const x of all.filter((y) => c.injected.includes(y.name))) {
        const env = Object.fromEntries((x.env ?? []).map((e) => [e.name, e.value]));
        assert.equal(env['VAULT_ADDR'], c.annotations['vault-addr']);
        assert.equal(env['VAULT_ROLE'], c.annotations['vault-role'] ?? 'app');
        assert.equal(env['VAULT_CACERT'], '/vault-inject-tls/ca.crt');
      }
      if (c.copyUser !== undefined) {
        const copy = after.spec.initContainers?.find((x) => x.name === 'vault-inject-copy');
        assert.equal(copy?.securityContext?.runAsUser, c.copyUser);
        assert.equal(copy?.securityContext?.runAsNonRoot, true);
      }
    });
  }
});
