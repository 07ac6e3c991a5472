/**
 * A pod written for HashiCorp's Vault Agent Injector (vault.hashicorp.com/* annotations) on the
 * real node (test/env/node.ts): its agent-inject-secret files, the default rendering and a Go
 * template, are rendered by the init program into the container's memory volume before the app
 * starts, with the modes asked. What the tests read back are hashes, never values
 * (docs/configuration.md#vault-agent-injector-annotations).
 */
import type { V1Pod } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { restrictedPod } from '../env/stack.ts';
import { APP_SECRET, CANARY, useStack } from './harness.ts';
import { execInPod, onNode, waitForPod } from './on-node.ts';

const h = useStack({ node: true });
const sha = (v: string): string => createHash('sha256').update(v).digest('hex');
const V = 'vault.hashicorp.com/';

const kubectlExec = (pod: string, command: string[]) =>
  execInPod(h.stack, { ns: h.ns, pod, container: 'app' }, command);

/** Per file: `NAME MODE UID GID SHA256`; the first line's hash of `config`; the mount's type. */
const LIST = [
  'cd /vault/secrets',
  'for f in * .*; do test -f "$f" || continue; set -- $(ls -ln "$f"); printf "%s %s %s %s " "$f" "$1" "$3" "$4"; sha256sum "$f" | cut -d" " -f1; done',
  'head -n1 config | sha256sum | cut -d" " -f1',
  'sed -n 2p config | cut -c1-14',
  'grep " /vault/secrets " /proc/mounts | cut -d" " -f1,3',
].join('; ');

function vaultK8sPod(name: string): V1Pod {
  return restrictedPod(
    name,
    { image: 'docker.io/library/busybox:1.35', command: ['/bin/sh', '-c', 'sleep 3600'] },
    {
      serviceAccountName: 'app',
      annotations: {
        'vault-inject.dev/token-audience': 'vault',
        [`${V}agent-inject`]: 'true',
        [`${V}role`]: 'app',
        [`${V}auth-path`]: 'auth/kubernetes',
        [`${V}agent-pre-populate-only`]: 'true',
        [`${V}agent-inject-secret-config`]: 'secret/data/e2e/app',
        [`${V}agent-inject-secret-env`]: 'secret/data/e2e/app',
        [`${V}agent-inject-file-env`]: 'app.env',
        [`${V}agent-inject-perms-env`]: '0440',
        [`${V}agent-inject-template-env`]:
          '{{- with secret "secret/data/e2e/app" -}}\n{{ range $k, $v := .Data.data -}}\nexport {{ $k | toUpper }}="{{ $v }}"\n{{ end -}}\n{{- end }}',
      },
    },
  );
}

describe('a Vault Agent Injector pod on the real node', () => {
  it('gets its agent-inject-secret files in its memory volume, rendered before the app', async () => {
    const { stack, ns } = h;
    const name = 'vault-k8s-files';
    const stored = await stack.kube.core.createNamespacedPod({
      namespace: ns,
      body: onNode(stack, vaultK8sPod(name)),
    });
    assert.doesNotMatch(JSON.stringify(stored), new RegExp(CANARY), 'no value in the stored pod');
    assert.deepEqual(
      (stored.spec?.volumes ?? [])
        .filter((v) => v.name.startsWith('vault-inject-files-'))
        .map((v) => [v.name, v.emptyDir?.medium]),
      [['vault-inject-files-0', 'Memory']],
    );
    try {
      await waitForPod(
        stack,
        ns,
        name,
        'running',
        (p) =>
          p.status?.containerStatuses?.find((s) => s.name === 'app')?.state?.running !== undefined,
      );
      const r = await kubectlExec(name, ['/bin/sh', '-c', LIST]);
      assert.ok(r.ok, r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, new RegExp(CANARY));
      const s = APP_SECRET;
      const env = `export API_KEY="${s.api_key}"\nexport PASSWORD="${s.password}"\nexport TOKEN="${s.token}"\nexport USER="${s.user}"\n`;
      const data = `data: map[api_key:${s.api_key} password:${s.password} token:${s.token} user:${s.user}]\n`;
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, 1), [`app.env -r--r----- 1000 1000 ${sha(env)}`]);
      assert.match(lines[1] ?? '', /^config -r-------- 1000 1000 [0-9a-f]{64}$/);
      assert.deepEqual(lines.slice(2), [sha(data), 'metadata: map[', 'tmpfs tmpfs']);
    } finally {
      await stack.kube.core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
    }
  });
});
