// `scripts/dev-env.sh up|env|down` as a person uses it: `eval "$(scripts/dev-env.sh up)"`, then
// kubectl and bao against the stack with nothing else set up, the pod example of docs/testing.md
// run as it is written there on the node, `env` again, `up` again (already running), `down`;
// afterwards no process of the stack is left, its state directory is empty and the node's
// directory, bridge and lock are gone.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BRIDGE } from '../../env/node.ts';
import { LOCK_FILE } from '../../env/node-host.ts';
import { running } from './groups.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../../..');
const DEV_ENV = path.join(root, 'scripts/dev-env.sh');

/** The shell block after `<!-- dev-env pod example -->` in docs/testing.md. */
function podExample(): string {
  const doc = readFileSync(path.join(root, 'docs/testing.md'), 'utf8');
  const block = /<!-- dev-env pod example -->\n```sh\n([\s\S]*?)\n```/.exec(doc)?.[1];
  assert.ok(block, 'docs/testing.md has the pod example');
  return block;
}

describe('scripts/dev-env.sh', () => {
  it('up, kubectl and bao from the printed exports, env, up again, down: nothing left', async () => {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'vault-inject-dev-env-test-'));
    // A person's shell: none of the stack's variables, the machine's PATH.
    const env = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? tmpdir(),
      VAULT_INJECT_DEV_ENV_DIR: stateDir,
      // Test files run in parallel on larger machines: wait for another file's node to stop.
      VAULT_INJECT_NODE_LOCK_WAIT: '600',
    };
    let pids: number[];
    let nodeDir: string;
    try {
      const up = await run(DEV_ENV, ['up'], { env, cwd: root });
      assert.match(up.stdout, /^export VAULT_ADDR='http:\/\/127\.0\.0\.1:\d+'$/m);
      assert.match(up.stdout, /^export KUBECONFIG='/m);
      assert.match(up.stdout, /^export PATH='.+'"\$\{PATH:\+:\$PATH\}"$/m);
      const state = JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as {
        pids: number[];
        nodeDir: string;
      };
      pids = state.pids;
      nodeDir = state.nodeDir;
      assert.equal(
        pids.length,
        8,
        'etcd, kube-apiserver, openbao, registry, forwarder, containerd, kubelet, webhook',
      );
      assert.match(up.stdout, /^export VAULT_INJECT_NODE='[a-z0-9.-]+'$/m);
      assert.match(up.stdout, /^export VAULT_INJECT_BUSYBOX_IMAGE='docker\.io\/library\/busybox:/m);
      for (const pid of pids) assert.ok(running(pid).length > 0, `process group ${pid} runs`);

      const session = await run(
        'bash',
        [
          '-euo',
          'pipefail',
          '-c',
          `eval "$UP"
           command -v bao kubectl
           kubectl get namespace "$VAULT_INJECT_NAMESPACE" -o name
           kubectl auth can-i create pods -n "$VAULT_INJECT_NAMESPACE"
           bao kv put secret/dev-env-test greeting=hello >/dev/null
           echo "$(bao kv get -field=greeting secret/dev-env-test)"
           bao secrets list -format=json | grep -o '"kv/"'`,
        ],
        { env: { ...env, UP: up.stdout }, cwd: tmpdir() },
      );
      const [bao, kubectl, ns, canI, greeting, kv] = session.stdout.trim().split('\n');
      const cache = path.dirname(path.dirname(path.dirname(path.dirname(bao ?? ''))));
      assert.match(bao ?? '', /\/openbao\/[^/]+\/bin\/bao$/, 'the stack’s own bao');
      assert.ok(kubectl?.startsWith(cache), `the stack’s own kubectl: ${kubectl}`);
      assert.match(ns ?? '', /^namespace\/dev-[0-9a-f]+$/);
      assert.equal(canI, 'yes');
      assert.equal(greeting, 'hello');
      assert.equal(kv, '"kv/"', 'KV v1 at kv/');

      const pod = await run('bash', ['-euo', 'pipefail', '-c', `eval "$UP"\n${podExample()}`], {
        env: { ...env, UP: up.stdout },
        cwd: tmpdir(),
      });
      assert.match(pod.stdout, /^pod\/hello created$/m);
      assert.match(pod.stdout, /^greeting: hi$/m, 'resolved against the stack’s OpenBao');
      assert.match(pod.stdout, /Pulled .*ghcr\.io\/vault-inject\/vault-inject-init/);

      assert.equal((await run(DEV_ENV, ['env'], { env, cwd: root })).stdout, up.stdout);
      const again = await run(DEV_ENV, ['up'], { env, cwd: root });
      assert.match(again.stderr, /already running/);
      assert.equal(again.stdout, up.stdout);

      const down = await run(DEV_ENV, ['down'], { env, cwd: root });
      assert.match(down.stderr, /stopped/);
      for (const pid of pids) assert.deepEqual(running(pid), [], `process group ${pid} left`);
      assert.deepEqual(readdirSync(stateDir), [], 'the state directory is emptied');
      assert.equal(existsSync(nodeDir), false, `${nodeDir} removed`);
      assert.equal(existsSync(`/sys/class/net/${BRIDGE}`), false, 'the pod bridge removed');
      assert.equal(existsSync(LOCK_FILE), false, 'the node lock released');
      await assert.rejects(run(DEV_ENV, ['env'], { env, cwd: root }), /not running/);
    } finally {
      if (existsSync(path.join(stateDir, 'state.json'))) {
        await run(DEV_ENV, ['down'], { env, cwd: root }).catch(() => undefined);
      }
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
