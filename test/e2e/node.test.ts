/**
 * End-to-end on the real node: pods stored through the apiserver and the built webhook, then run
 * by the kubelet, containerd and runc of the stack's node (test/env/node.ts), pulling the init
 * image and the test images from the node's local registry. Exit codes come from the pod status,
 * output from the kubelet (its log endpoint and CRI log files). The apps print hashes of what they
 * see, never values, so no secret reaches the node's log files.
 */
import type { V1Pod } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { GATEWAY } from '../env/node.ts';
import { initImageName, PRINTENV_IMAGE, repositoryPath } from '../env/node-images.ts';
import { restrictedPod } from '../env/stack.ts';
import { createKubernetesRole, kvPut } from '../env/vault-kubernetes.ts';
import {
  apiMessage,
  APP_ENV,
  APP_ENV_FROM,
  APP_SECRET,
  CANARY,
  RESOLVED,
  useStack,
} from './harness.ts';
import {
  containerStatus,
  HASH_ENV_SCRIPT,
  onNode,
  parseHashes,
  nodeFiles,
  nodeOf,
  readIfThere,
  runOnNode,
  specOf,
  waitForPod,
  type NodeRun,
} from './on-node.ts';

/** An address in the pods' network where nothing listens: Vault unreachable (exit 69). */
const UNREACHABLE = `http://${GATEWAY}:9`;
const WEBHOOK_ARGS = [`--allowed-vault-addrs=${UNREACHABLE}`];
const h = useStack({ node: true, auditLog: true, webhookArgs: WEBHOOK_ARGS });
/** A value the printenv image may print (it prints what it is given). */
const GREETING = `hello-${randomBytes(6).toString('hex')}`;
const ROTATED = {
  first: `rot1-${randomBytes(6).toString('hex')}`,
  second: `rot2-${randomBytes(6).toString('hex')}`,
};
const timings: string[] = [];

const sha = (v: string): string => createHash('sha256').update(v).digest('hex');

after(() => {
  if (timings.length) console.log(`# node timings: ${timings.join('; ')}`);
});

function appPod(name: string, script: string, annotations: Record<string, string> = {}): V1Pod {
  return restrictedPod(
    name,
    {
      image: 'docker.io/library/busybox:1.35',
      command: ['/bin/sh', '-c', script],
      env: APP_ENV,
      envFrom: APP_ENV_FROM,
    },
    {
      serviceAccountName: 'app',
      annotations: { 'vault-inject.dev/token-audience': 'vault', ...annotations },
    },
  );
}

function assertResolved(run: NodeRun): void {
  assert.equal(run.exitCode, 0, run.log);
  assert.match(
    run.stdout,
    /^pid=1 uid=1000$/m,
    'the app is PID 1 of its container, as the pod user',
  );
  const vars = parseHashes(run.stdout);
  for (const [name, value] of Object.entries(RESOLVED)) {
    assert.equal(vars.get(name), sha(value), `${name} resolved`);
  }
  const leaked = [...vars.keys()].filter((n) => n.startsWith('VAULT_'));
  assert.deepEqual(leaked, [], 'the app sees none of the init program settings');
}

/** One line on stderr naming the problem, nothing from the app, the exit code in the status. */
function assertFailed(run: NodeRun, code: number, line: RegExp): void {
  assert.equal(run.exitCode, code, run.log);
  assert.equal(run.reason, 'Error');
  assert.doesNotMatch(run.log, /app-started/);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${run.stderr}`);
  assert.match(lines[0] ?? '', line);
  assert.match(run.log, line, 'the kubelet log endpoint shows it');
}

/** Seconds from creation to the pod's Ready condition (a long-running app). */
async function createToReady(name: string): Promise<number> {
  const { stack, ns } = h;
  const started = performance.now();
  await stack.kube.core.createNamespacedPod({
    namespace: ns,
    body: onNode(stack, appPod(name, 'sleep 3600'), 'Always'),
  });
  await waitForPod(stack, ns, name, 'Ready', (p) =>
    (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
  );
  const seconds = (performance.now() - started) / 1000;
  await stack.kube.core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
  return seconds;
}

describe('pods on the real node', () => {
  it('emptyDir delivery: the copy init container fills the volume, the app gets every resolved value', async () => {
    const { stack, ns } = h;
    const run = await runOnNode(stack, ns, appPod('empty-dir', HASH_ENV_SCRIPT));
    const copy = run.stored.spec?.initContainers?.find((c) => c.name === 'vault-inject-copy');
    assert.equal(
      copy?.image,
      await initImageName(),
      'the default init image, pulled via the mirror',
    );
    assert.ok(run.stored.spec?.volumes?.some((v) => v.name === 'vault-inject' && v.emptyDir));
    const copied = containerStatus(run.pod, 'vault-inject-copy')?.state?.terminated;
    assert.equal(copied?.exitCode, 0);
    if (copied?.startedAt && copied.finishedAt) {
      const s =
        (new Date(copied.finishedAt).getTime() - new Date(copied.startedAt).getTime()) / 1000;
      timings.push(`copy container ${s} s (status, 1 s resolution)`);
    }
    assertResolved(run);
    timings.push(`emptyDir create->Ready ${(await createToReady('ready-empty-dir')).toFixed(2)} s`);
  });

  it('image delivery: the init image mounted as an image volume, no copy container', async () => {
    const { stack, ns } = h;
    await stack.restartWebhook([...WEBHOOK_ARGS, '--delivery=image']);
    try {
      await stack.waitForWebhook(ns);
      const run = await runOnNode(stack, ns, appPod('image-volume', HASH_ENV_SCRIPT));
      const volume = run.stored.spec?.volumes?.find((v) => v.name === 'vault-inject');
      assert.equal(volume?.image?.reference, await initImageName(), JSON.stringify(volume));
      assert.equal(
        run.stored.spec?.initContainers?.some((c) => c.name === 'vault-inject-copy') ?? false,
        false,
      );
      assertResolved(run);
      timings.push(`image create->Ready ${(await createToReady('ready-image')).toFixed(2)} s`);
      // The per-pod annotation overrides --delivery: this one gets the copy container.
      const copied = await runOnNode(
        stack,
        ns,
        appPod('annotated-empty-dir', HASH_ENV_SCRIPT, { 'vault-inject.dev/delivery': 'emptyDir' }),
      );
      assert.ok(copied.stored.spec?.initContainers?.some((c) => c.name === 'vault-inject-copy'));
      assert.ok(copied.stored.spec?.volumes?.some((v) => v.name === 'vault-inject' && v.emptyDir));
      assertResolved(copied);
    } finally {
      await stack.restartWebhook(WEBHOOK_ARGS);
      await stack.waitForWebhook(ns);
    }
  });

  it('the vault-inject.dev/delivery annotation: image volume under an emptyDir webhook; a bad value denied', async () => {
    const { stack, ns } = h;
    const run = await runOnNode(
      stack,
      ns,
      appPod('annotated-image', HASH_ENV_SCRIPT, { 'vault-inject.dev/delivery': 'image' }),
    );
    const volume = run.stored.spec?.volumes?.find((v) => v.name === 'vault-inject');
    assert.equal(volume?.image?.reference, await initImageName(), JSON.stringify(volume));
    assert.equal(
      run.stored.spec?.initContainers?.some((c) => c.name === 'vault-inject-copy') ?? false,
      false,
    );
    assertResolved(run);
    const denied = await stack.kube.core
      .createNamespacedPod({
        namespace: ns,
        body: onNode(
          stack,
          appPod('bad-delivery', 'true', { 'vault-inject.dev/delivery': 'floppy' }),
        ),
      })
      .then(
        () => '',
        (err: unknown) => apiMessage(err),
      );
    assert.match(denied, /vault-inject\.dev\/delivery/);
    assert.match(denied, /"floppy" is not image or emptyDir/);
  });

  it('a container without command runs its image’s ENTRYPOINT + CMD from the local registry; a scratch image', async () => {
    const { stack, ns } = h;
    await kvPut(stack.bao, 'e2e/public', { greeting: GREETING });
    const image = `${nodeOf(stack).registry}/${repositoryPath(PRINTENV_IMAGE)}`;
    const pod = restrictedPod(
      'entrypoint',
      { image, env: [{ name: 'APP_PASSWORD', value: 'vault:secret/data/e2e/public#greeting' }] },
      { serviceAccountName: 'app', annotations: { 'vault-inject.dev/token-audience': 'vault' } },
    );
    const run = await runOnNode(stack, ns, pod);
    const app = run.stored.spec?.containers[0];
    assert.deepEqual(
      app?.args,
      ['/printenv', 'APP_PASSWORD'],
      'ENTRYPOINT + CMD from the registry',
    );
    assert.equal(run.exitCode, 0, run.log);
    assert.equal(run.stdout, `${GREETING}\n`, 'a static binary alone in a scratch image, no shell');
  });

  it('an init container with references is injected and resolves before the app', async () => {
    const { stack, ns } = h;
    const pod = appPod('with-init', HASH_ENV_SCRIPT);
    const spec = specOf(pod);
    spec.initContainers = [
      { ...spec.containers[0], name: 'setup', command: ['/bin/sh', '-c', HASH_ENV_SCRIPT] },
    ];
    const run = await runOnNode(stack, ns, pod);
    const names = run.stored.spec?.initContainers?.map((c) => c.name);
    assert.deepEqual(names, ['vault-inject-copy', 'setup']);
    assertResolved(run);
    const setupLog = await stack.kube.core.readNamespacedPodLog({
      namespace: ns,
      name: 'with-init',
      container: 'setup',
    });
    assert.equal(parseHashes(setupLog).get('DIRECT'), sha(APP_SECRET.password));
  });

  it('Pod Security restricted: enforced by the apiserver, and by runc in the running container', async () => {
    const { stack, ns } = h;
    const status =
      'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; touch /x 2>/dev/null || echo read-only-root';
    const run = await runOnNode(stack, ns, appPod('restricted', status));
    assert.equal(run.exitCode, 0, run.log);
    assert.match(run.stdout, /^CapEff:\s+0000000000000000$/m);
    assert.match(run.stdout, /^NoNewPrivs:\s+1$/m);
    assert.match(run.stdout, /^Seccomp:\s+2$/m);
    assert.match(run.stdout, /^read-only-root$/m);
    const host = appPod('host-network', 'true');
    specOf(host).hostNetwork = true;
    const refused = await stack.kube.core
      .createNamespacedPod({ namespace: ns, body: onNode(stack, host) })
      .then(
        () => '',
        (err: unknown) => apiMessage(err),
      );
    assert.match(refused, /violates PodSecurity "restricted:latest": host namespaces/);
  });

  it('exit 77 (role not bound), 78 (missing key), 69 (Vault unreachable) in the pod status, one line each', async () => {
    const { stack, ns } = h;
    await createKubernetesRole(stack.bao, {
      name: 'not-app',
      serviceAccounts: ['someone-else'],
      namespaces: [ns],
      policies: ['default'],
    });
    const [r77, r78, r69] = await Promise.all([
      runOnNode(
        stack,
        ns,
        appPod('exit-77', 'echo app-started', { 'vault-inject.dev/role': 'not-app' }),
      ),
      runOnNode(
        stack,
        ns,
        restrictedPod(
          'exit-78',
          {
            image: 'docker.io/library/busybox:1.35',
            command: ['/bin/sh', '-c', 'echo app-started'],
            env: [{ name: 'MISSING', value: 'vault:secret/data/e2e/app#nope' }],
          },
          {
            serviceAccountName: 'app',
            annotations: { 'vault-inject.dev/token-audience': 'vault' },
          },
        ),
      ),
      runOnNode(
        stack,
        ns,
        appPod('exit-69', 'echo app-started', {
          'vault-inject.dev/vault-addr': UNREACHABLE,
          'vault-inject.dev/client-timeout': '2s',
        }),
      ),
    ]);
    assertFailed(r77, 77, /^vault-inject-env: .*denied.*"not-app"/);
    assertFailed(r78, 78, /^vault-inject-env: MISSING: key "nope" not found in secret\/.*e2e\/app/);
    assertFailed(r69, 69, /^vault-inject-env: Vault at http:\/\/10\.89\.0\.1:9 unreachable/);
  });

  it('daemon mode: deleting the pod sends SIGTERM through the init program; the app’s exit code and the grace period are kept', async () => {
    const { stack, ns } = h;
    const pod = appPod(
      'daemon',
      'trap "echo got-term; exit 43" TERM; echo app-started; while :; do sleep 1 & wait; done',
      { 'vault-inject.dev/daemon': 'true' },
    );
    // Held by a finalizer of the test's own, so the final status can be read after the delete.
    pod.metadata = { ...pod.metadata, finalizers: ['vault-inject.dev/e2e-hold'] };
    specOf(pod).terminationGracePeriodSeconds = 20;
    await stack.kube.core.createNamespacedPod({
      namespace: ns,
      body: onNode(stack, pod, 'Always'),
    });
    try {
      await waitForPod(
        stack,
        ns,
        'daemon',
        'app running',
        (p) => containerStatus(p, 'app')?.state?.running !== undefined,
      );
      await waitUntilLog(ns, 'daemon', /app-started/);
      const deleted = performance.now();
      await stack.kube.core.deleteNamespacedPod({ namespace: ns, name: 'daemon' });
      const ended = await waitForPod(
        stack,
        ns,
        'daemon',
        'app terminated',
        (p) => containerStatus(p, 'app')?.state?.terminated !== undefined,
      );
      const seconds = (performance.now() - deleted) / 1000;
      assert.equal(containerStatus(ended, 'app')?.state?.terminated?.exitCode, 43);
      assert.ok(seconds < 15, `stopped on SIGTERM in ${seconds} s, not killed at the 20 s grace`);
    } finally {
      await stack.kube.core
        .patchNamespacedPod({
          namespace: ns,
          name: 'daemon',
          body: [{ op: 'remove', path: '/metadata/finalizers' }],
        })
        .catch(() => undefined);
    }
  });

  it('a container the kubelet restarts resolves its references again', async () => {
    const { stack, ns } = h;
    await kvPut(stack.bao, 'e2e/rotating', { value: ROTATED.first });
    const pod = restrictedPod(
      'restarted',
      {
        image: 'docker.io/library/busybox:1.35',
        command: [
          '/bin/sh',
          '-c',
          // The first run waits a little before failing, for the test to change the secret.
          `${HASH_ENV_SCRIPT}; [ -e /state/ran ] && exec sleep 8; touch /state/ran; sleep 6; exit 1`,
        ],
        env: [{ name: 'ROTATING', value: 'vault:secret/data/e2e/rotating#value' }],
        volumeMounts: [{ name: 'state', mountPath: '/state' }],
      },
      { serviceAccountName: 'app', annotations: { 'vault-inject.dev/token-audience': 'vault' } },
    );
    specOf(pod).volumes = [{ name: 'state', emptyDir: {} }];
    await stack.kube.core.createNamespacedPod({
      namespace: ns,
      body: onNode(stack, pod, 'OnFailure'),
    });
    await waitUntilLog(ns, 'restarted', /^ROTATING [0-9a-f]{64}$/m);
    await kvPut(stack.bao, 'e2e/rotating', { value: ROTATED.second });
    // The second run prints, then sleeps 8 s: both runs' logs are read meanwhile (the kubelet
    // removes the dead container once the pod has completed).
    await waitForPod(stack, ns, 'restarted', 'restarted once', (p) => {
      const s = containerStatus(p, 'app');
      return s?.restartCount === 1 && s.state?.running !== undefined;
    });
    await waitUntilLog(ns, 'restarted', /^ROTATING [0-9a-f]{64}$/m);
    const log = await stack.kube.core.readNamespacedPodLog({ namespace: ns, name: 'restarted' });
    const previous = await stack.kube.core.readNamespacedPodLog({
      namespace: ns,
      name: 'restarted',
      previous: true,
    });
    const done = await waitForPod(
      stack,
      ns,
      'restarted',
      'second run succeeded',
      (p) => containerStatus(p, 'app')?.state?.terminated?.exitCode === 0,
    );
    assert.equal(containerStatus(done, 'app')?.restartCount, 1);
    assert.equal(parseHashes(previous).get('ROTATING'), sha(ROTATED.first), previous);
    assert.equal(
      parseHashes(log).get('ROTATING'),
      sha(ROTATED.second),
      `read again at restart: ${log}`,
    );
  });

  it('the canary is nowhere in etcd, the node’s files or any log', async () => {
    const { stack } = h;
    const forms = [
      CANARY,
      Buffer.from(CANARY).toString('base64'),
      APP_SECRET.api_key,
      ROTATED.first,
      ROTATED.second,
    ];
    const dump = await stack.kube.etcdDump();
    const etcd = Buffer.concat(dump.map((kv) => Buffer.concat([Buffer.from(kv.key), kv.value])));
    assert.ok(
      dump.some((kv) => kv.key.endsWith('/empty-dir')),
      'the dump holds the pods',
    );
    const logs = [stack.webhook.logPath, stack.kube.auditLogPath ?? ''];
    const texts = await Promise.all(logs.map((p) => readFile(p)));
    const files = nodeFiles(stack);
    assert.ok(files.some((f) => f.endsWith('kubelet.log')));
    assert.ok(
      files.some((f) => f.includes('pod-logs')),
      'the CRI log files are scanned',
    );
    for (const form of forms) {
      assert.ok(!etcd.includes(form), 'not in etcd');
      for (const [i, t] of texts.entries()) assert.ok(!t.includes(form), `not in ${logs[i]}`);
    }
    for (const file of files) {
      const content = readIfThere(file);
      for (const form of forms) assert.ok(!content.includes(form), `not in ${file}`);
    }
  });
});

async function waitUntilLog(namespace: string, name: string, pattern: RegExp): Promise<void> {
  const { stack } = h;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const log = await stack.kube.core.readNamespacedPodLog({ namespace, name }).catch(() => '');
    if (pattern.test(log)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name}: no log line matching ${pattern}`);
}
