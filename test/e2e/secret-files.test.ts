/**
 * Secret files and the exec helper on the real node (test/env/node.ts): a pod of two containers,
 * each with its own memory volume at /vault/secrets, rendered before the app starts; then
 * `kubectl exec` through the apiserver and the kubelet. What the tests read back are hashes, never
 * values (docs/configuration.md#secret-files, docs/init-program.md#the-exec-helper).
 */
import type { V1Pod } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { restrictedPod } from '../env/stack.ts';
import { APP_SECRET, CANARY, REF, useStack } from './harness.ts';
import { execInPod, nodeFiles, onNode, parseHashes, readIfThere, waitForPod } from './on-node.ts';

const h = useStack({ node: true, auditLog: true });
const sha = (v: string): string => createHash('sha256').update(v).digest('hex');

/** `kubectl exec` through the apiserver: stdout, stderr and the exit code. */
const kubectlExec = (pod: string, container: string, command: string[]) =>
  execInPod(h.stack, { ns: h.ns, pod, container }, command);

/** Per file in /vault/secrets: `NAME MODE UID GID SHA256` (ls -ln); then its mount's source and type. */
const LIST =
  'cd /vault/secrets && for f in * .*; do test -f "$f" || continue; set -- $(ls -ln "$f"); printf "%s %s %s %s " "$f" "$1" "$3" "$4"; sha256sum "$f" | cut -d" " -f1; done; grep " /vault/secrets " /proc/mounts | cut -d" " -f1,3';
const HASH_ENV =
  'env | while IFS== read -r k v; do printf "%s " "$k"; printf %s "$v" | sha256sum | cut -d" " -f1; done';

function twoContainers(name: string, fsGroup?: number): V1Pod {
  const pod = restrictedPod(
    name,
    {
      image: 'docker.io/library/busybox:1.35',
      command: ['/bin/sh', '-c', 'sleep 3600'],
      env: [{ name: 'DIRECT', value: REF.password }],
    },
    {
      serviceAccountName: 'app',
      annotations: {
        'vault-inject.dev/token-audience': 'vault',
        'vault-inject.dev/secret-file-app.env':
          'USER=${vault:secret/data/e2e/app#user}\nPASSWORD=${vault:secret/data/e2e/app#password}\n',
        'vault-inject.dev/secret-file-token': REF.token,
      },
    },
  );
  const [a] = pod.spec?.containers ?? [];
  if (!a || !pod.spec) throw new Error('no container');
  a.name = 'a';
  const b = structuredClone(a);
  b.name = 'b';
  b.securityContext = { ...b.securityContext, runAsUser: 2000 };
  b.env = [];
  pod.spec.containers = [a, b];
  if (fsGroup !== undefined) pod.spec.securityContext = { ...pod.spec.securityContext, fsGroup };
  return pod;
}

async function listed(pod: string, container: string): Promise<string[]> {
  const r = await kubectlExec(pod, container, ['/bin/sh', '-c', LIST]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, new RegExp(CANARY));
  return r.stdout.trim().split('\n');
}

/**
 * While the pod runs: the secret is in no etcd value, no log, and no file of the node but the
 * files of its memory volumes (tmpfs mounts named vault-inject-files-N), where the scan finds it.
 */
async function canaryOnlyInMemoryVolumes(): Promise<void> {
  const { stack } = h;
  const forms = [CANARY, Buffer.from(CANARY).toString('base64')];
  const dump = await stack.kube.etcdDump();
  const etcd = Buffer.concat(dump.map((kv) => Buffer.concat([Buffer.from(kv.key), kv.value])));
  const logs = [stack.webhook.logPath, stack.kube.auditLogPath ?? ''];
  const texts = await Promise.all(logs.map((p) => readFile(p)));
  for (const form of forms) {
    assert.ok(!etcd.includes(form), 'not in etcd');
    for (const [i, t] of texts.entries()) assert.ok(!t.includes(form), `not in ${logs[i]}`);
  }
  const tmpfs = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'tmpfs' && (f[1] ?? '').includes('vault-inject-files-'))
    .map((f) => f[1] ?? '');
  const found: string[] = [];
  for (const file of nodeFiles(stack)) {
    const content = readIfThere(file);
    if (!forms.some((form) => content.includes(form))) continue;
    assert.ok(
      tmpfs.some((m) => file.startsWith(`${m}/`)),
      `the secret is in ${file}, outside the memory volumes`,
    );
    found.push(file);
  }
  assert.ok(found.length >= 2, `the scan reaches the memory volumes: ${found.join(', ')}`);
}

describe('secret files on the real node', () => {
  it('two containers, each its own tmpfs with its own files (mode 0400, its user); the exec helper', async () => {
    const { stack, ns } = h;
    const name = 'secret-files';
    const stored = await stack.kube.core.createNamespacedPod({
      namespace: ns,
      body: onNode(stack, twoContainers(name)),
    });
    assert.doesNotMatch(JSON.stringify(stored), new RegExp(CANARY), 'no value in the stored pod');
    const volumes = (stored.spec?.volumes ?? []).filter((v) =>
      v.name.startsWith('vault-inject-files-'),
    );
    assert.deepEqual(
      volumes.map((v) => [v.name, v.emptyDir?.medium]),
      [
        ['vault-inject-files-0', 'Memory'],
        ['vault-inject-files-1', 'Memory'],
      ],
    );
    try {
      await waitForPod(stack, ns, name, 'both running', (p) =>
        ['a', 'b'].every(
          (c) => p.status?.containerStatuses?.find((s) => s.name === c)?.state?.running,
        ),
      );
      const envFile = `USER=${APP_SECRET.user}\nPASSWORD=${APP_SECRET.password}\n`;
      // Each container wrote into its own volume: a's files are a's user's, b's are b's.
      for (const [container, uid] of [
        ['a', '1000'],
        ['b', '2000'],
      ] as const) {
        assert.deepEqual(await listed(name, container), [
          `app.env -r-------- ${uid} 1000 ${sha(envFile)}`,
          `token -r-------- ${uid} 1000 ${sha(APP_SECRET.token)}`,
          'tmpfs tmpfs',
        ]);
      }

      const spec = await kubectlExec(name, 'a', ['/bin/sh', '-c', HASH_ENV]);
      assert.equal(
        parseHashes(spec.stdout).get('DIRECT'),
        sha(REF.password),
        'kubectl exec sees the reference',
      );
      const helper = await kubectlExec(name, 'a', [
        '/vault-inject/bin/vault-inject-env',
        'exec',
        '--',
        '/bin/sh',
        '-c',
        HASH_ENV,
      ]);
      assert.equal(helper.code, 0, helper.stderr);
      const vars = parseHashes(helper.stdout);
      assert.equal(vars.get('DIRECT'), sha(APP_SECRET.password), 'the helper sees the value');
      assert.deepEqual(
        [...vars.keys()].filter((k) => k.startsWith('VAULT_')),
        [],
        'and none of the settings',
      );
      assert.doesNotMatch(helper.stderr, new RegExp(CANARY));
      await canaryOnlyInMemoryVolumes();
    } finally {
      await stack.kube.core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
    }
  });

  it('with an fsGroup: files 0440 in the fsGroup', async () => {
    const { stack, ns } = h;
    const name = 'secret-files-fsgroup';
    await stack.kube.core.createNamespacedPod({
      namespace: ns,
      body: onNode(stack, twoContainers(name, 3000)),
    });
    try {
      await waitForPod(stack, ns, name, 'both running', (p) =>
        ['a', 'b'].every(
          (c) => p.status?.containerStatuses?.find((s) => s.name === c)?.state?.running,
        ),
      );
      assert.deepEqual((await listed(name, 'b')).slice(1), [
        `token -r--r----- 2000 3000 ${sha(APP_SECRET.token)}`,
        'tmpfs tmpfs',
      ]);
    } finally {
      await stack.kube.core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
    }
  });
});
