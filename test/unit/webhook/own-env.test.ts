// The settings the webhook polices by annotation are policed the same way when a container sets
// the variable itself (env value, valueFrom, envFrom): the init program reads the container's
// value, so without this a pod could send its service account token to any address, or skip TLS
// verification, whatever the webhook's flags say.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { INIT_PROGRAM } from '../../../init-binary/src/contract/index.ts';
import type { Container, EnvVar, Pod } from '../../../webhook/src/mutation/types.ts';
import {
  decodePatch,
  fakeReader,
  harness,
  podReview,
  postReview,
  type Cluster,
} from './helpers.ts';

const EVIL = 'https://evil.example:8200';
const CLUSTER: Cluster = {
  secrets: {
    'apps/addr': { addr: EVIL, ok: 'https://vault.vault:8200' },
    'apps/settings': { VAULT_SKIP_VERIFY: 'true', VAULT_ADDR: EVIL },
  },
  configmaps: {
    'apps/addr': { addr: EVIL },
    'apps/settings': { VAULT_SKIP_VERIFY: 'true', VAULT_ADDR: EVIL, VAULT_CLIENT_TIMEOUT: 'soon' },
    'apps/prefixed': { SKIP_VERIFY: 'TRUE' },
  },
};

function podWith(app: Partial<Container>): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'apps' },
    spec: {
      serviceAccountName: 'app',
      containers: [
        {
          name: 'app',
          image: 'registry.example/app:1',
          command: ['/app'],
          ...app,
          env: [{ name: 'DB', value: 'vault:secret/data/app#db' }, ...(app.env ?? [])],
        },
      ],
    },
  };
}

async function review(pod: Pod, flags: Record<string, string> = {}, forbidden: string[] = []) {
  const h = harness(flags, fakeReader(CLUSTER, forbidden));
  const res = await postReview(h, podReview(pod, { namespace: 'apps' }));
  assert.equal(res.statusCode, 200, res.body);
  const { response } = res.json();
  const ops = decodePatch(response.patch) as fjp.Operation[];
  const after = fjp.applyPatch(structuredClone(pod), ops, true, false).newDocument;
  const line = JSON.parse(h.logs.at(-1) ?? '{}') as { code?: string };
  return {
    allowed: response.allowed as boolean,
    message: response.status?.message as string | undefined,
    warnings: (response.warnings ?? []) as string[],
    code: line.code,
    env: after.spec.containers[0]?.env ?? [],
    after,
    logs: h.logs.join('\n'),
  };
}

const named = (env: readonly EnvVar[], name: string) => env.filter((e) => e.name === name);

describe("a container's own VAULT_ADDR is held to the allowlist", () => {
  it('a literal value outside the allowlist denies the pod naming container and variable', async () => {
    const r = await review(podWith({ env: [{ name: 'VAULT_ADDR', value: EVIL }] }));
    assert.equal(r.allowed, false);
    assert.equal(r.code, 'E_ADDR_NOT_ALLOWED');
    assert.equal(
      r.message,
      `container "app", env VAULT_ADDR: "${EVIL}" is not an allowed Vault address (allowed: https://vault.vault:8200)`,
    );
  });

  it('an allowed value is kept as the container wrote it', async () => {
    const flags = { 'allowed-vault-addrs': 'https://other.example:8200' };
    const r = await review(
      podWith({ env: [{ name: 'VAULT_ADDR', value: 'https://other.example:8200/' }] }),
      flags,
    );
    assert.equal(r.allowed, true, r.message);
    assert.deepEqual(named(r.env, 'VAULT_ADDR'), [
      { name: 'VAULT_ADDR', value: 'https://other.example:8200/' },
    ]);
  });

  it('from a Secret: denied without echoing the value', async () => {
    const env = [
      { name: 'VAULT_ADDR', valueFrom: { secretKeyRef: { name: 'addr', key: 'addr' } } },
    ];
    const r = await review(podWith({ env }));
    assert.equal(r.allowed, false);
    assert.equal(
      r.message,
      'container "app", env VAULT_ADDR (secret "addr" key addr): holds a value that is not an allowed Vault address (details withheld: it is a Secret value)',
    );
    assert.ok(!r.logs.includes('evil'), 'the Secret value is in no log line');
    const ok = [{ name: 'VAULT_ADDR', valueFrom: { secretKeyRef: { name: 'addr', key: 'ok' } } }];
    assert.equal((await review(podWith({ env: ok }))).allowed, true);
  });

  it('from a ConfigMap: denied naming the value', async () => {
    const env = [
      { name: 'VAULT_ADDR', valueFrom: { configMapKeyRef: { name: 'addr', key: 'addr' } } },
    ];
    const r = await review(podWith({ env }));
    assert.equal(r.allowed, false);
    assert.match(
      r.message ?? '',
      /^container "app", env VAULT_ADDR \(configmap "addr" key addr\): "https:\/\/evil/,
    );
  });

  it('a value the webhook cannot read (fieldRef, unreadable Secret) denies the pod', async () => {
    const field = [{ name: 'VAULT_ADDR', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }];
    const r = await review(podWith({ env: field }));
    assert.equal(r.allowed, false);
    assert.equal(
      r.message,
      'container "app", env VAULT_ADDR: it comes from fieldRef, so the webhook cannot check it',
    );
    const secret = [
      { name: 'VAULT_ADDR', valueFrom: { secretKeyRef: { name: 'addr', key: 'ok' } } },
    ];
    const hidden = await review(podWith({ env: secret }), {}, ['apps/addr']);
    assert.equal(hidden.allowed, false);
    assert.match(
      hidden.message ?? '',
      /secret "addr" could not be read, so the webhook cannot check it/,
    );
  });

  it('through envFrom: the webhook writes its own VAULT_ADDR, which env makes win', async () => {
    const r = await review(podWith({ envFrom: [{ configMapRef: { name: 'settings' } }] }));
    assert.equal(r.allowed, false, 'the ConfigMap also sets an invalid VAULT_CLIENT_TIMEOUT');
    const only = await review(podWith({ envFrom: [{ secretRef: { name: 'addr' } }] }));
    assert.equal(only.allowed, true, only.message);
    assert.deepEqual(named(only.env, 'VAULT_ADDR'), [
      { name: 'VAULT_ADDR', value: 'https://vault.vault:8200' },
    ]);
  });

  it('a container already running the init program is held to it too (a copied manifest)', async () => {
    const pod = podWith({});
    pod.spec.containers.push({
      name: 'copied',
      image: 'registry.example/app:1',
      command: [INIT_PROGRAM],
      args: ['/app'],
      env: [{ name: 'VAULT_ADDR', value: EVIL }],
    });
    const r = await review(pod);
    assert.equal(r.allowed, false);
    assert.match(r.message ?? '', /^container "copied", env VAULT_ADDR: "https:\/\/evil/);
  });
});

describe("a container's own VAULT_SKIP_VERIFY needs --allow-skip-verify", () => {
  const warning = (where: string) =>
    `container "app", env VAULT_SKIP_VERIFY${where} ignored: this webhook does not allow skipping TLS verification`;

  it('a literal true is written over with false, with a warning; re-applying changes nothing', async () => {
    const r = await review(podWith({ env: [{ name: 'VAULT_SKIP_VERIFY', value: 'True' }] }));
    assert.equal(r.allowed, true, r.message);
    assert.deepEqual(named(r.env, 'VAULT_SKIP_VERIFY'), [
      { name: 'VAULT_SKIP_VERIFY', value: 'false' },
    ]);
    assert.deepEqual(r.warnings, [warning('')]);
    const again = await review(r.after);
    assert.deepEqual(again.after, r.after);
    assert.deepEqual(again.warnings, []);
  });

  it('with --allow-skip-verify the container keeps it', async () => {
    const r = await review(podWith({ env: [{ name: 'VAULT_SKIP_VERIFY', value: 'true' }] }), {
      'allow-skip-verify': 'true',
    });
    assert.deepEqual(named(r.env, 'VAULT_SKIP_VERIFY'), [
      { name: 'VAULT_SKIP_VERIFY', value: 'true' },
    ]);
    assert.deepEqual(r.warnings, []);
  });

  it('false is kept without a warning', async () => {
    const r = await review(podWith({ env: [{ name: 'VAULT_SKIP_VERIFY', value: 'false' }] }));
    assert.deepEqual(named(r.env, 'VAULT_SKIP_VERIFY'), [
      { name: 'VAULT_SKIP_VERIFY', value: 'false' },
    ]);
    assert.deepEqual(r.warnings, []);
  });

  it('from a Secret the webhook cannot read: written over with false', async () => {
    const env = [
      { name: 'VAULT_SKIP_VERIFY', valueFrom: { secretKeyRef: { name: 'settings', key: 'x' } } },
    ];
    const r = await review(podWith({ env }), {}, ['apps/settings']);
    assert.equal(r.allowed, true, r.message);
    assert.deepEqual(named(r.env, 'VAULT_SKIP_VERIFY'), [
      { name: 'VAULT_SKIP_VERIFY', value: 'false' },
    ]);
    assert.deepEqual(r.warnings.at(-1), warning(' (secret "settings" key x)'));
  });

  it('through envFrom (with a prefix): an env entry with false is added', async () => {
    const r = await review(
      podWith({ envFrom: [{ configMapRef: { name: 'prefixed' }, prefix: 'VAULT_' }] }),
    );
    assert.equal(r.allowed, true, r.message);
    assert.deepEqual(named(r.env, 'VAULT_SKIP_VERIFY'), [
      { name: 'VAULT_SKIP_VERIFY', value: 'false' },
    ]);
    assert.deepEqual(r.warnings, [warning(' (envFrom configmap "prefixed")')]);
  });

  it('in a container already running the init program: denied, it is not rewritten', async () => {
    const pod = podWith({});
    pod.spec.volumes = [{ name: 'vault-inject', image: { reference: 'init:1' } }];
    pod.spec.containers.push({
      name: 'copied',
      image: 'registry.example/app:1',
      command: [INIT_PROGRAM],
      args: ['/app'],
      env: [{ name: 'VAULT_SKIP_VERIFY', value: 'true' }],
      volumeMounts: [{ name: 'vault-inject', mountPath: '/vault-inject', subPath: 'vault-inject' }],
    });
    const r = await review(pod);
    assert.equal(r.allowed, false);
    assert.equal(
      r.message,
      'container "copied", env VAULT_SKIP_VERIFY: set it to false or remove it',
    );
  });
});

describe("a container's own settings follow the annotations' rules", () => {
  it('an invalid VAULT_CLIENT_TIMEOUT denies the pod naming container and variable', async () => {
    const r = await review(podWith({ env: [{ name: 'VAULT_CLIENT_TIMEOUT', value: '1d' }] }));
    assert.equal(r.allowed, false);
    assert.equal(r.code, 'E_ANNOTATION');
    assert.equal(
      r.message,
      'container "app", env VAULT_CLIENT_TIMEOUT: "1d" is not a positive duration such as 10s, 500ms or 1m',
    );
  });

  it('through envFrom too', async () => {
    const r = await review(podWith({ envFrom: [{ configMapRef: { name: 'settings' } }] }));
    assert.equal(r.allowed, false);
    assert.match(
      r.message ?? '',
      /container "app", env VAULT_CLIENT_TIMEOUT \(envFrom configmap "settings"\): "soon" is not a positive duration/,
    );
  });
});

describe('envFrom into a container the webhook does not rewrite', () => {
  it("a copied container's envFrom VAULT_ADDR is checked: no env entry of the webhook shadows it", async () => {
    const pod = podWith({});
    pod.spec.volumes = [{ name: 'vault-inject', image: { reference: 'init:1' } }];
    pod.spec.containers.push({
      name: 'copied',
      image: 'registry.example/app:1',
      command: [INIT_PROGRAM],
      args: ['/app'],
      envFrom: [{ secretRef: { name: 'addr' } }],
      env: [{ name: 'ADDR_UNUSED', value: 'x' }],
      volumeMounts: [{ name: 'vault-inject', mountPath: '/vault-inject', subPath: 'vault-inject' }],
    });
    pod.spec.containers[1]?.envFrom?.push({ configMapRef: { name: 'settings' }, prefix: 'X_' });
    const r = await review(pod);
    assert.equal(r.allowed, true, 'secret "addr" has no VAULT_ADDR key');
    const evil = structuredClone(pod);
    evil.spec.containers[1]?.envFrom?.push({ secretRef: { name: 'settings' } });
    const denied = await review(evil);
    assert.equal(denied.allowed, false);
    assert.match(
      denied.message ?? '',
      /container "copied", env VAULT_ADDR \(envFrom secret "settings"\): holds a value that is not an allowed Vault address/,
    );
  });
});
