/**
 * `vault-inject.dev/agent: sidecar` on the real node (test/env/node.ts, docs/configuration.md#sidecar):
 * a pod of two busybox apps whose only need is a file; one native sidecar renders both containers'
 * files before either app starts (each app hashes its file as its first act), a write to OpenBao
 * reaches both files within the refresh interval, and deleting the pod stops the apps, then the
 * sidecar (exit 0), and completes. What the test reads back are hashes, never values.
 */
import type { V1Pod } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { restrictedPod, type Stack } from '../env/stack.ts';
import { kvPut } from '../env/vault-kubernetes.ts';
import { CANARY, useStack } from './harness.ts';
import { containerStatus, criLog, onNode, readIfThere, specOf, waitForPod } from './on-node.ts';

const h = useStack({ node: true });
const sha = (v: string | Buffer): string => createHash('sha256').update(v).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const want = (v: string): string => sha(`PASSWORD=${v}\n`);
const NAME = 'sidecar';
const SIDECAR = 'vault-inject-agent';
const APPS = ['web', 'worker'];
/** Each app hashes its file first thing: an app started before the render prints no hash. */
const APP_SCRIPT =
  'trap "exit 0" TERM; echo "START $(sha256sum < /vault/secrets/app.conf)"; while :; do sleep 1 & wait; done';

function sidecarPod(): V1Pod {
  const app = {
    name: 'web',
    image: 'docker.io/library/busybox:1.35',
    command: ['/bin/sh', '-c', APP_SCRIPT],
  };
  const pod = restrictedPod(NAME, app, {
    serviceAccountName: 'app',
    annotations: {
      'vault-inject.dev/agent': 'sidecar',
      'vault-inject.dev/token-audience': 'vault',
      'vault-inject.dev/secret-file-app.conf':
        'PASSWORD=${vault:secret/data/e2e/sidecar#password}\n',
      'vault-inject.dev/refresh-interval': '2s',
    },
  });
  const spec = specOf(pod);
  spec.containers.push({ ...structuredClone(spec.containers[0] ?? app), name: 'worker' });
  spec.terminationGracePeriodSeconds = 20;
  // Held by a finalizer of the test's own, so the final statuses can be read after the delete.
  pod.metadata = { ...pod.metadata, finalizers: ['vault-inject.dev/e2e-hold'] };
  return pod;
}

/** The node's tmpfs mount of volume `volume` of pod `uid`. */
function volumeDir(uid: string, volume: string): string {
  const mount = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .find((m) => m.includes(uid) && m.endsWith(`/${volume}`));
  assert.ok(mount, `volume ${volume} is mounted on the node`);
  return mount;
}

/** Polls `check` every 100 ms for up to `ms`; whether it held. */
async function within(ms: number, check: () => boolean): Promise<boolean> {
  const t0 = performance.now();
  while (!check() && performance.now() - t0 < ms) await sleep(100);
  return check();
}

/** Each app's first line: the hash of its file as it found it when it started. */
async function checkStartHashes(stack: Stack, running: V1Pod, value: string): Promise<void> {
  for (const app of APPS) {
    const out = (): string => criLog(stack, running, app).stdout;
    await within(10_000, () => /^START /m.test(out()));
    assert.match(out(), new RegExp(`^START ${want(value)}  -$`, 'm'), `${app} read its file`);
  }
}

/** Deletes the pod; the apps stop, then the sidecar with 0, well within the grace period. */
async function checkDeletion(stack: Stack, ns: string): Promise<void> {
  const deleted = performance.now();
  await stack.kube.core.deleteNamespacedPod({ namespace: ns, name: NAME });
  const ended = await waitForPod(stack, ns, NAME, 'all terminated', (p) =>
    [...APPS, SIDECAR].every((c) => containerStatus(p, c)?.state?.terminated !== undefined),
  );
  const seconds = (performance.now() - deleted) / 1000;
  assert.ok(seconds < 15, `stopped in ${seconds} s, not killed at the 20 s grace`);
  const side = containerStatus(ended, SIDECAR)?.state?.terminated;
  assert.equal(side?.exitCode, 0, 'the sidecar exits 0 on SIGTERM');
  for (const app of APPS) {
    const t = containerStatus(ended, app)?.state?.terminated;
    assert.equal(t?.exitCode, 0);
    const [sideEnd, appEnd] = [side?.finishedAt, t?.finishedAt].map((d) => new Date(String(d)));
    assert.ok(Number(sideEnd) >= Number(appEnd), 'the sidecar outlives the apps');
  }
}

async function gone(stack: Stack, ns: string): Promise<boolean> {
  return stack.kube.core.readNamespacedPod({ namespace: ns, name: NAME }).then(
    () => false,
    (err: { code?: number }) => err.code === 404,
  );
}

describe('agent: sidecar on the real node', () => {
  it('renders two containers’ files before they start, refreshes them, stops after the apps', async () => {
    const { stack, ns } = h;
    const first = `${CANARY}-${randomBytes(4).toString('hex')}`;
    const second = `${CANARY}-${randomBytes(4).toString('hex')}`;
    await kvPut(stack.bao, 'e2e/sidecar', { password: first });
    const stored = await stack.kube.core.createNamespacedPod({
      namespace: ns,
      body: onNode(stack, sidecarPod()),
    });
    try {
      const sidecar = stored.spec?.initContainers?.find((c) => c.name === SIDECAR);
      assert.equal(sidecar?.restartPolicy, 'Always');
      for (const app of APPS) {
        const c = stored.spec?.containers.find((x) => x.name === app);
        assert.deepEqual(c?.command, ['/bin/sh', '-c', APP_SCRIPT], `${app} is not wrapped`);
      }
      const running = await waitForPod(stack, ns, NAME, 'apps running', (p) =>
        APPS.every((a) => containerStatus(p, a)?.state?.running !== undefined),
      );
      await checkStartHashes(stack, running, first);

      const uid = stored.metadata?.uid ?? '';
      const files = APPS.map((_, i) => `${volumeDir(uid, `vault-inject-files-${i}`)}/app.conf`);
      await kvPut(stack.bao, 'e2e/sidecar', { password: second });
      const t0 = performance.now();
      await within(8000, () => files.every((f) => sha(readIfThere(f)) === want(second)));
      const ms = performance.now() - t0;
      for (const f of files) assert.equal(sha(readIfThere(f)), want(second), 'the new value');
      assert.ok(ms < 2000 + 1500, `both files replaced after ${Math.round(ms)} ms`);

      await checkDeletion(stack, ns);
      assert.match(criLog(stack, running, SIDECAR).stderr, /secret files changed/);
      for (const c of [...APPS, SIDECAR]) {
        const l = criLog(stack, running, c);
        assert.doesNotMatch(l.stdout + l.stderr, new RegExp(CANARY), `no value in ${c}'s log`);
      }
    } finally {
      await stack.kube.core
        .patchNamespacedPod({
          namespace: ns,
          name: NAME,
          body: [{ op: 'remove', path: '/metadata/finalizers' }],
        })
        .catch(() => undefined);
    }
    // With the finalizer gone, the deletion completes: the pod is removed.
    let removed = false;
    for (let i = 0; i < 75 && !removed; i++) {
      removed = await gone(stack, ns);
      if (!removed) await sleep(200);
    }
    assert.ok(removed, 'the pod is removed after its deletion');
  });
});
