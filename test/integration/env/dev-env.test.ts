// `scripts/dev-env.sh up|env|down` as a person uses it: `eval "$(scripts/dev-env.sh up)"`, then
// kubectl and bao against the stack with nothing else set up, `env` again, `up` again (already
// running), `down`; afterwards no process of the stack is left and its state directory is empty.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { running } from './groups.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../../..');
const DEV_ENV = path.join(root, 'scripts/dev-env.sh');

describe('scripts/dev-env.sh', () => {
  it('up, kubectl and bao from the printed exports, env, up again, down: nothing left', async () => {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'vault-inject-dev-env-test-'));
    // A person's shell: none of the stack's variables, the machine's PATH.
    const env = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? tmpdir(),
      VAULT_INJECT_DEV_ENV_DIR: stateDir,
    };
    let pids: number[];
    try {
      const up = await run(DEV_ENV, ['up'], { env, cwd: root });
      assert.match(up.stdout, /^export VAULT_ADDR='http:\/\/127\.0\.0\.1:\d+'$/m);
      assert.match(up.stdout, /^export KUBECONFIG='/m);
      assert.match(up.stdout, /^export PATH='.+'"\$\{PATH:\+:\$PATH\}"$/m);
      pids = (
        JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as { pids: number[] }
      ).pids;
      assert.equal(pids.length, 4, 'etcd, kube-apiserver, openbao, webhook');
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

      assert.equal((await run(DEV_ENV, ['env'], { env, cwd: root })).stdout, up.stdout);
      const again = await run(DEV_ENV, ['up'], { env, cwd: root });
      assert.match(again.stderr, /already running/);
      assert.equal(again.stdout, up.stdout);

      const down = await run(DEV_ENV, ['down'], { env, cwd: root });
      assert.match(down.stderr, /stopped/);
      for (const pid of pids) assert.deepEqual(running(pid), [], `process group ${pid} left`);
      assert.deepEqual(readdirSync(stateDir), [], 'the state directory is emptied');
      await assert.rejects(run(DEV_ENV, ['env'], { env, cwd: root }), /not running/);
    } finally {
      if (existsSync(path.join(stateDir, 'state.json'))) {
        await run(DEV_ENV, ['down'], { env, cwd: root }).catch(() => undefined);
      }
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
