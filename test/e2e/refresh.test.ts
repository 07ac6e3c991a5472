/**
 * Refresh on the real node (test/env/node.ts; docs/init-program.md#refresh): a daemon pod whose
 * file is rendered into its memory volume, a write to OpenBao, the file replaced within the
 * refresh interval and the app sent SIGHUP (it logs that it got it). The test reads back hashes of
 * the file from the node's tmpfs mount, never values.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { restrictedPod } from '../env/stack.ts';
import { kvPut } from '../env/vault-kubernetes.ts';
import { CANARY, useStack } from './harness.ts';
import { criLog, onNode, readIfThere, waitForPod } from './on-node.ts';

const h = useStack({ node: true });
const sha = (v: string | Buffer): string => createHash('sha256').update(v).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The file `name` of the pod's memory volume, as the node's tmpfs mount holds it. */
function volumeFile(uid: string, name: string): string {
  const mount = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .find((m) => m.includes(uid) && m.endsWith('/vault-inject-files-0'));
  assert.ok(mount, 'the memory volume is mounted on the node');
  return `${mount}/${name}`;
}

describe('refresh on the real node', () => {
  it('a write to OpenBao reaches the file within the interval and the app gets SIGHUP', async () => {
    const { stack, ns } = h;
    const first = `${CANARY}-${randomBytes(4).toString('hex')}`;
    const second = `${CANARY}-${randomBytes(4).toString('hex')}`;
    await kvPut(stack.bao, 'e2e/rotating', { password: first });
    const pod = restrictedPod(
      'refresh',
      {
        image: 'docker.io/library/busybox:1.35',
        command: [
          '/bin/sh',
          '-c',
          'trap "echo GOT_HUP" HUP; echo READY; while :; do sleep 1; done',
        ],
      },
      {
        serviceAccountName: 'app',
        annotations: {
          'vault-inject.dev/token-audience': 'vault',
          'vault-inject.dev/secret-file-app.conf':
            'PASSWORD=${vault:secret/data/e2e/rotating#password}\n',
          'vault-inject.dev/refresh-interval': '2s',
          'vault-inject.dev/reload-signal': 'SIGHUP',
        },
      },
    );
    const stored = await stack.kube.core.createNamespacedPod({
      namespace: ns,
      body: onNode(stack, pod),
    });
    const running = await waitForPod(stack, ns, 'refresh', 'running', (p) =>
      Boolean(p.status?.containerStatuses?.[0]?.state?.running),
    );
    const file = volumeFile(stored.metadata?.uid ?? '', 'app.conf');
    assert.equal(sha(readIfThere(file)), sha(`PASSWORD=${first}\n`));

    await kvPut(stack.bao, 'e2e/rotating', { password: second });
    const t0 = performance.now();
    while (
      sha(readIfThere(file)) !== sha(`PASSWORD=${second}\n`) &&
      performance.now() - t0 < 6000
    ) {
      await sleep(100);
    }
    const ms = performance.now() - t0;
    assert.equal(sha(readIfThere(file)), sha(`PASSWORD=${second}\n`), 'the file has the new value');
    assert.ok(ms < 2000 + 1000, `replaced after ${Math.round(ms)} ms`);
    while (
      !/GOT_HUP/.test(criLog(stack, running, 'app').stdout) &&
      performance.now() - t0 < 10_000
    ) {
      await sleep(200);
    }
    const log = criLog(stack, running, 'app');
    assert.match(log.stdout, /^GOT_HUP$/m, 'the app got SIGHUP');
    assert.match(log.stderr, /sending SIGHUP to the app/);
    assert.doesNotMatch(log.stdout + log.stderr, new RegExp(CANARY), 'no value in the logs');
    const after = await stack.kube.core.readNamespacedPod({ namespace: ns, name: 'refresh' });
    assert.equal(after.status?.containerStatuses?.[0]?.restartCount, 0, 'never restarted');
  });
});
