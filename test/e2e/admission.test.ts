/**
 * End-to-end, admission side: pods created through a real kube-apiserver that calls the BUILT
 * webhook (registered by URL + caBundle, matchConditions, namespaceSelector) in a Pod Security
 * `restricted` namespace. Steps 1 and 3 of issue 4; the webhook is stopped in the last test.
 */
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { waitUntil } from '../env/processes.ts';
import { OPT_OUT_LABEL, restrictedPod } from '../env/stack.ts';
import {
  APP_ENV,
  APP_ENV_FROM,
  APP_SECRET,
  REF,
  apiMessage,
  previewCli,
  useStack,
} from './harness.ts';

const h = useStack({ auditLog: true });

const INIT = '/vault-inject/bin/vault-inject-env';

function appPod(name: string): V1Pod {
  return restrictedPod(
    name,
    {
      command: ['/bin/sh', '-c'],
      args: ['echo started; env'],
      env: APP_ENV,
      envFrom: APP_ENV_FROM,
    },
    { serviceAccountName: 'app', annotations: { 'vault-inject.dev/token-audience': 'vault' } },
  );
}

/** client-node returns class instances; compare plain JSON. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function envOf(c: V1Container): Map<string, string | undefined> {
  return new Map((c.env ?? []).map((e) => [e.name, e.value]));
}

function assertCopyContainer(copy: V1Container | undefined): void {
  assert.equal(copy?.name, 'vault-inject-copy', 'the copy init container comes first');
  assert.deepEqual(copy.command, [INIT, '--copy-bundle', '/vault-inject-volume']);
  assert.deepEqual(copy.volumeMounts, [
    { name: 'vault-inject', mountPath: '/vault-inject-volume' },
  ]);
  const sc = copy.securityContext;
  assert.equal(sc?.runAsNonRoot, true);
  assert.equal(sc?.allowPrivilegeEscalation, false);
  assert.equal(sc?.readOnlyRootFilesystem, true);
  assert.deepEqual(sc?.capabilities?.drop, ['ALL']);
  assert.equal(sc?.seccompProfile?.type, 'RuntimeDefault');
}

/** The mutation docs/webhook.md describes, checked field by field on a stored pod. */
function assertInjected(stored: V1Pod, original: V1Pod, vaultAddr: string): void {
  const pod = plain(stored);
  const spec = pod.spec;
  assert.ok(spec);
  assert.equal(pod.metadata?.annotations?.['vault-inject.dev/status'], 'injected');
  const volume = spec.volumes?.find((v) => v.name === 'vault-inject');
  assert.deepEqual(volume, { name: 'vault-inject', emptyDir: {} });

  assertCopyContainer(spec.initContainers?.[0]);
  const before = original.spec?.containers[0];
  const app = spec.containers[0];
  assert.ok(before && app);
  assert.deepEqual(app.command, [INIT]);
  assert.deepEqual(app.args, [...(before.command ?? []), ...(before.args ?? [])]);
  assert.ok(
    app.volumeMounts?.some(
      (m) => m.name === 'vault-inject' && m.mountPath === '/vault-inject' && m.readOnly === true,
    ),
    'the bundle is mounted read-only at /vault-inject',
  );
  // The user's env first, unchanged and in order; then the VAULT_* settings.
  const userEnv = before.env ?? [];
  assert.deepEqual(app.env?.slice(0, userEnv.length), userEnv);
  const added = app.env?.slice(userEnv.length) ?? [];
  assert.ok(added.length > 0);
  for (const e of added) {
    assert.match(e.name, /^(VAULT_|KUBERNETES_SERVICE_ACCOUNT_TOKEN$)/, `added env ${e.name}`);
  }
  const env = envOf(app);
  assert.equal(env.get('VAULT_ADDR'), vaultAddr);
  assert.equal(env.get('VAULT_ROLE'), 'app');
  assert.deepEqual(app.envFrom, before.envFrom);
  // Never a value in the pod.
  const text = JSON.stringify(pod);
  for (const value of Object.values(APP_SECRET))
    assert.ok(!text.includes(value), 'no secret value in the pod');
}

/** An init container with a reference, as a user writes it (Pod Security `restricted`). */
const MIGRATE: V1Container = {
  name: 'migrate',
  image: 'registry.example/migrate:1',
  command: ['/migrate'],
  args: ['--up'],
  env: [
    { name: 'DB_PASSWORD', value: REF.password },
    { name: 'MODE', value: 'up' },
  ],
  securityContext: {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    readOnlyRootFilesystem: true,
  },
};

/** The stored pod: copy container first and unchanged, MIGRATE injected (docs/webhook.md). */
function assertMoved(stored: V1Pod, copy: V1Container, volume: V1Volume, vaultAddr: string): void {
  const spec = stored.spec;
  assert.ok(spec);
  assert.equal(stored.metadata?.annotations?.['vault-inject.dev/status'], 'injected');
  assert.deepEqual(
    spec.initContainers?.map((c) => c.name),
    ['vault-inject-copy', 'migrate'],
    'the copy init container runs first',
  );
  assert.deepEqual(spec.initContainers[0], copy, 'the copy container is moved as it was');
  assert.deepEqual(
    spec.volumes?.filter((v) => v.name === 'vault-inject'),
    [volume],
    'the volume is reused, not added twice',
  );
  const injected = spec.initContainers[1];
  assert.ok(injected);
  assert.deepEqual(injected.command, [INIT]);
  assert.deepEqual(injected.args, ['/migrate', '--up']);
  assert.deepEqual(injected.volumeMounts, [
    { name: 'vault-inject', mountPath: '/vault-inject', readOnly: true },
  ]);
  const userEnv = MIGRATE.env ?? [];
  assert.deepEqual(injected.env?.slice(0, userEnv.length), userEnv);
  const added = injected.env?.slice(userEnv.length) ?? [];
  assert.ok(added.length > 0);
  for (const e of added)
    assert.match(e.name, /^(VAULT_|KUBERNETES_SERVICE_ACCOUNT_TOKEN$)/, `added env ${e.name}`);
  assert.equal(envOf(injected).get('VAULT_ADDR'), vaultAddr);
  assert.equal(envOf(injected).get('VAULT_ROLE'), 'app');
  // The app container holds no reference: untouched.
  const app = spec.containers[0];
  assert.deepEqual(app?.command, ['/bin/app']);
  assert.equal(app?.args, undefined);
  assert.equal(app?.volumeMounts, undefined);
}

/**
 * The webhook's patch as the apiserver recorded it: first one `move` of the copy container to the
 * front, then edits inside the init container behind it and the annotations only; a removal and
 * re-add of a container, or a rewrite of index 0, fails here.
 */
function assertOneMove(event: AuditEvent): void {
  const patches = Object.entries(event.annotations ?? {}).filter(([key]) =>
    key.startsWith('patch.webhook.admission.k8s.io/'),
  );
  assert.equal(patches.length, 1, 'one webhook call patched the pod');
  const recorded = JSON.parse(patches[0]?.[1] ?? '{}') as {
    patchType?: string;
    patch?: { op: string; path: string; from?: string }[];
  };
  assert.equal(recorded.patchType, 'JSONPatch');
  const ops = recorded.patch ?? [];
  assert.deepEqual(ops[0], {
    op: 'move',
    from: '/spec/initContainers/1',
    path: '/spec/initContainers/0',
  });
  for (const op of ops.slice(1))
    assert.match(
      op.path,
      /^\/(spec\/initContainers\/1\/|metadata\/annotations)/,
      `${op.op} ${op.path}`,
    );
  const text = JSON.stringify(event);
  for (const value of Object.values(APP_SECRET))
    assert.ok(!text.includes(value), 'no secret value in the audited request or patch');
}

/** The audited create of one pod (ResponseComplete), once the apiserver has written it. */
async function auditedCreate(namespace: string, name: string): Promise<AuditEvent> {
  const auditPath = h.stack.kube.auditLogPath;
  assert.ok(auditPath);
  let found: AuditEvent | undefined;
  await waitUntil('the audit event of the pod create', async () => {
    found = (await readFile(auditPath, 'utf8'))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as AuditEvent)
      .find(
        (e) =>
          e.verb === 'create' &&
          e.objectRef?.resource === 'pods' &&
          e.objectRef.namespace === namespace &&
          e.objectRef.name === name &&
          e.stage === 'ResponseComplete' &&
          e.responseStatus?.code === 201,
      );
    return found !== undefined;
  });
  assert.ok(found);
  return found;
}

describe('pods through the kube-apiserver and the built webhook', () => {
  it('stores a pod with references in env, valueFrom, envFrom and inline forms exactly as docs/webhook.md says', async () => {
    const { stack, ns } = h;
    const original = appPod('app');
    const stored = await stack.kube.core.createNamespacedPod({ namespace: ns, body: original });
    assertInjected(stored, original, stack.vaultAddr);
    // token-audience: a projected token for Vault, mounted in the injected container only.
    const app = stored.spec?.containers[0];
    const tokenPath = envOf(app as V1Container).get('KUBERNETES_SERVICE_ACCOUNT_TOKEN');
    assert.ok(tokenPath?.startsWith('/vault-inject-token'), `token path ${tokenPath}`);
    const projected = stored.spec?.volumes?.find((v) =>
      v.projected?.sources?.some((s) => s.serviceAccountToken?.audience === 'vault'),
    );
    assert.ok(projected, 'a projected service-account token with audience vault');
    assert.ok(
      !stored.spec?.initContainers?.[0]?.volumeMounts?.some((m) => m.name === projected.name),
    );
  });

  it('is admitted by Pod Security "restricted" (enforced here: a pod adding a capability is refused)', async () => {
    const { stack, ns } = h;
    const bad = restrictedPod('privileged', {
      command: ['/bin/true'],
      env: [{ name: 'X', value: REF.user }],
    });
    const c = bad.spec?.containers[0];
    assert.ok(c);
    c.securityContext = { capabilities: { add: ['NET_ADMIN'] } };
    await assert.rejects(
      stack.kube.core.createNamespacedPod({ namespace: ns, body: bad }),
      (err) => {
        assert.match(apiMessage(err), /violates PodSecurity "restricted:latest"/);
        return true;
      },
    );
    // The audit log records Pod Security's decision on the mutated pod: enforced, no violation.
    const auditPath = stack.kube.auditLogPath;
    assert.ok(auditPath);
    const events = (await readFile(auditPath, 'utf8'))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter(
        (e) =>
          e.verb === 'create' &&
          e.objectRef?.resource === 'pods' &&
          e.objectRef.namespace === ns &&
          e.objectRef.name === 'app' &&
          e.stage === 'ResponseComplete',
      );
    assert.equal(events.length, 1, 'one audited create of pod app');
    const event = events[0] as AuditEvent;
    assert.equal(event.responseStatus?.code, 201);
    assert.equal(
      event.annotations?.['pod-security.kubernetes.io/enforce-policy'],
      'restricted:latest',
    );
    assert.equal(event.annotations?.['pod-security.kubernetes.io/audit-violations'], undefined);
    assert.equal(
      event.annotations?.['mutation.webhook.admission.k8s.io/round_0_index_0'] !== undefined,
      true,
    );
  });

  it('goes through the ServiceAccount admission plugin: a missing account is refused, the token volume added', async () => {
    const { stack, ns } = h;
    const orphan = restrictedPod(
      'orphan',
      { command: ['/bin/true'], env: [{ name: 'X', value: REF.user }] },
      { serviceAccountName: 'nobody' },
    );
    await assert.rejects(
      stack.kube.core.createNamespacedPod({ namespace: ns, body: orphan }),
      (err) => {
        assert.match(apiMessage(err), /service account .*nobody/);
        return true;
      },
    );
    const automounted = restrictedPod(
      'automounted',
      { command: ['/bin/true'], env: [{ name: 'X', value: REF.user }] },
      { serviceAccountName: 'app' },
    );
    delete automounted.spec?.automountServiceAccountToken;
    const stored = await stack.kube.core.createNamespacedPod({ namespace: ns, body: automounted });
    assert.equal(stored.metadata?.annotations?.['vault-inject.dev/status'], 'injected');
    assert.ok(
      stored.spec?.volumes?.some((v) => v.name.startsWith('kube-api-access-')),
      'the plugin added the kube-api-access volume',
    );
  });

  it('runs a Deployment template through the preview CLI; the apiserver stores its pod unchanged (idempotent)', async () => {
    const { stack, ns } = h;
    const template = appPod('unused');
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: ns },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' }, annotations: template.metadata?.annotations },
          spec: template.spec,
        },
      },
    };
    const sources = await Promise.all([
      stack.kube.core.readNamespacedSecret({ namespace: ns, name: 'app-refs' }),
      stack.kube.core.readNamespacedConfigMap({ namespace: ns, name: 'app-config' }),
      stack.kube.core.readNamespacedSecret({ namespace: ns, name: 'app-env' }),
    ]);
    const docs = [
      ...sources.map((s, i) => ({
        apiVersion: 'v1',
        kind: i === 1 ? 'ConfigMap' : 'Secret',
        metadata: { name: s.metadata?.name, namespace: ns },
        data: s.data,
      })),
      deployment,
    ];
    const preview = await previewCli(docs.map((d) => stringify(d)).join('---\n'), [
      `--vault-addr=${stack.vaultAddr}`,
    ]);
    assert.equal(preview.code, 0, preview.stderr);
    const mutated = preview.items.at(-1) as typeof deployment;
    assert.equal(mutated.kind, 'Deployment');
    await stack.kube.apps.createNamespacedDeployment({ namespace: ns, body: mutated as never });
    // No controller-manager here: create the pod its ReplicaSet would, from the mutated template.
    const podFromTemplate: V1Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-1',
        labels: mutated.spec.template.metadata.labels,
        annotations: mutated.spec.template.metadata.annotations,
      },
      spec: mutated.spec.template.spec,
    };
    const stored = await stack.kube.core.createNamespacedPod({
      namespace: ns,
      body: podFromTemplate,
    });
    assertInjected(stored, appPod('web-1'), stack.vaultAddr);
    const want = mutated.spec.template.spec;
    assert.ok(want);
    assert.deepEqual(stored.spec?.containers[0]?.command, want.containers[0]?.command);
    assert.deepEqual(stored.spec?.containers[0]?.args, want.containers[0]?.args);
    assert.deepEqual(
      plain(stored.spec?.containers[0]?.env),
      want.containers[0]?.env,
      'the webhook added nothing: the preview already did it all',
    );
    assert.equal(stored.spec?.initContainers?.length, want.initContainers?.length);
  });

  it('leaves pods without references alone (matchConditions: the webhook is not even called)', async () => {
    const { stack, ns } = h;
    const plain = restrictedPod('plain', {
      command: ['/bin/true'],
      env: [{ name: 'A', value: 'b' }],
    });
    const stored = await stack.kube.core.createNamespacedPod({ namespace: ns, body: plain });
    assert.equal(stored.metadata?.annotations?.['vault-inject.dev/status'], undefined);
    assert.deepEqual(stored.spec?.containers[0]?.command, ['/bin/true']);
    assert.equal(stored.spec?.initContainers, undefined);
    // The webhook logs one line per review: it saw pod "app", never pod "plain".
    const reviewed = (await readFile(stack.webhook.logPath, 'utf8'))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { pod?: string; namespace?: string })
      .filter((l) => l.namespace === ns)
      .map((l) => l.pod);
    assert.ok(reviewed.includes('app'), `reviewed: ${reviewed.join(', ')}`);
    assert.ok(!reviewed.includes('plain'));
  });

  it('denies an invalid reference, naming the container and the variable', async () => {
    const { stack, ns } = h;
    const pod = restrictedPod('invalid', {
      name: 'worker',
      command: ['/bin/true'],
      env: [{ name: 'DB_PASSWORD', value: 'vault:secret/data/e2e/app' }],
    });
    await assert.rejects(
      stack.kube.core.createNamespacedPod({ namespace: ns, body: pod }),
      (err) => {
        const message = apiMessage(err);
        assert.match(message, /denied the request/);
        assert.match(message, /container "worker"/);
        assert.match(message, /DB_PASSWORD/);
        return true;
      },
    );
  });

  it('denies a vault-addr that is not allowed', async () => {
    const { stack, ns } = h;
    const pod = restrictedPod(
      'elsewhere',
      { command: ['/bin/true'], env: [{ name: 'X', value: REF.user }] },
      { annotations: { 'vault-inject.dev/vault-addr': 'https://vault.attacker.example:8200' } },
    );
    await assert.rejects(
      stack.kube.core.createNamespacedPod({ namespace: ns, body: pod }),
      (err) => {
        const message = apiMessage(err);
        assert.match(message, /denied the request/);
        assert.match(message, /vault\.attacker\.example/);
        return true;
      },
    );
  });

  it('moves vault-inject-copy in front of an init container with a reference: one JSONPatch move, applied by the apiserver', async () => {
    const { stack, ns } = h;
    // What the running webhook writes for the copy container and the volume: its own output for a
    // plain pod with a reference, from a dry run through the apiserver.
    const probe = plain(
      await stack.kube.core.createNamespacedPod({
        namespace: ns,
        dryRun: 'All',
        body: restrictedPod('move-probe', {
          command: ['/bin/true'],
          env: [{ name: 'X', value: REF.user }],
        }),
      }),
    );
    const copy = probe.spec?.initContainers?.[0];
    assertCopyContainer(copy);
    assert.ok(copy);
    const volume = probe.spec?.volumes?.find((v) => v.name === 'vault-inject');
    assert.ok(volume);
    // A copied manifest (or another webhook) put an init container with a reference in front of
    // the copy container, and the status annotation is gone: the webhook must inject "migrate"
    // and move the copy first, or "migrate" starts before the bundle is in the volume.
    const original = restrictedPod(
      'moved',
      { command: ['/bin/app'], env: [{ name: 'A', value: 'b' }] },
      { serviceAccountName: 'app' },
    );
    assert.ok(original.spec);
    original.spec.initContainers = [MIGRATE, copy];
    original.spec.volumes = [volume];
    const stored = plain(
      await stack.kube.core.createNamespacedPod({ namespace: ns, body: original }),
    );
    assertMoved(stored, copy, volume, stack.vaultAddr);
    // The patch the apiserver applied, from its audit log (level RequestResponse records it).
    assertOneMove(await auditedCreate(ns, 'moved'));
  });

  it('with the webhook stopped: failurePolicy Fail refuses the pod, Ignore admits it unmutated', async () => {
    const { stack } = h;
    const kube = stack.kube;
    const made: Record<'Fail' | 'Ignore', string> = { Fail: '', Ignore: '' };
    for (const policy of ['Fail', 'Ignore'] as const) {
      const ns = await kube.createNamespace(`policy-${policy.toLowerCase()}`, {
        [OPT_OUT_LABEL]: 'false',
      });
      await kube.registerWebhook({
        name: `e2e-${policy.toLowerCase()}`,
        url: stack.webhook.url,
        caBundlePem: stack.webhook.caPem,
        failurePolicy: policy,
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
      });
      await stack.waitForWebhook(ns);
      made[policy] = ns;
    }
    await stack.webhook.stop();
    const pod = restrictedPod('when-down', {
      command: ['/bin/app'],
      env: [{ name: 'X', value: REF.user }],
    });
    await assert.rejects(
      kube.core.createNamespacedPod({ namespace: made.Fail, body: pod }),
      (err) => {
        assert.match(apiMessage(err), /failed calling webhook "e2e-fail\.vault-inject\.dev"/);
        return true;
      },
    );
    const admitted = await kube.core.createNamespacedPod({ namespace: made.Ignore, body: pod });
    assert.equal(admitted.metadata?.annotations?.['vault-inject.dev/status'], undefined);
    assert.deepEqual(admitted.spec?.containers[0]?.command, ['/bin/app']);
    assert.equal(admitted.spec?.initContainers, undefined);
  });
});

interface AuditEvent {
  verb?: string;
  stage?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  annotations?: Record<string, string>;
}
