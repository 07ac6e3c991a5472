// `make demo`'s program (scripts/demo.ts, after the Makefile's deps, components, build and
// bundle): it runs to the end on the real node, the kubelet's events show the init image pulled
// through the mirror and both containers started, the pod's log shows the resolved values as
// PID 1 and UID 1000 with no VAULT_* variable, nothing is left running; and the README's copy of
// its output has the same steps and the same app lines.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';

const root = path.resolve(import.meta.dirname, '../../..');

function demo(): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, 'scripts/demo.ts')],
      { cwd: root, env: process.env, maxBuffer: 1 << 24 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Whether something still accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** `[N] title` without the elapsed time, in order. */
function steps(text: string): string[] {
  return [...text.matchAll(/^\[(\d)\] (.+?) {2}\(\d+\.\d s\)$/gm)].map((m) => `${m[1]} ${m[2]}`);
}

describe('make demo', () => {
  it('runs the pod and shows its resolved environment; the README shows the same', async () => {
    const r = await demo();
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const password = /bao kv put secret\/demo\/db password=(pw-[0-9a-f]{12}) user=app_user/.exec(
      r.stdout,
    )?.[1];
    assert.ok(password, r.stdout);
    assert.match(r.stdout, /^ {8}I am PID 1, user 1000$/m);
    assert.ok(
      r.stdout.includes(`        DB_URL=postgres://app_user:${password}@db:5432/app\n        0\n`),
      'the inline reference resolved; no VAULT_* variable in the app',
    );
    assert.match(
      r.stdout,
      /^ {8}Pulled +Successfully pulled image "ghcr\.io\/vault-inject\/vault-inject-init:/m,
    );
    assert.equal([...r.stdout.matchAll(/^ {8}Started +Container started$/gm)].length, 2);
    assert.match(r.stdout, /^ {4}exit code 0 /m);
    assert.match(r.stdout, /^ {4}done in \d+\.\d s$/m);
    // Stopped: nothing answers on the apiserver's, OpenBao's, the webhook's or the registry's port.
    const ports = [
      ...r.stdout.matchAll(
        /^ {4}(?:kube-apiserver|webhook) https:\/\/127\.0\.0\.1:(\d+)|OpenBao http:\/\/127\.0\.0\.1:(\d+)/gm,
      ),
    ].map((m) => Number(m[1] ?? m[2]));
    const registry = /^ {4}node \S+ Ready in \d+\.\d s; registry 127\.0\.0\.1:(\d+);/m.exec(
      r.stdout,
    );
    assert.ok(registry, r.stdout);
    ports.push(Number(registry[1]));
    assert.equal(ports.length, 4, r.stdout);
    for (const port of ports) assert.equal(await listening(port), false, `port ${port} still open`);
    // The stored pod (step 4) holds the references, never the value.
    const stored = r.stdout.slice(r.stdout.indexOf('[4]'), r.stdout.indexOf('[5]'));
    assert.match(stored, /vault-inject\.dev\/status: injected/);
    assert.ok(!stored.includes(password), 'no secret in the stored pod');

    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const block = readme.slice(readme.indexOf('## `make demo`'));
    assert.deepEqual(steps(block), steps(r.stdout), 'the README shows the steps the demo prints');
    assert.match(block, /^ {8}I am PID 1, user 1000$/m);
    assert.match(block, /^ {8}DB_URL=postgres:\/\/app_user:pw-[0-9a-f]{12}@db:5432\/app\n {8}0$/m);
  });
});
