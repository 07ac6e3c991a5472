// A test process that dies with the whole stack running (etcd, kube-apiserver, OpenBao, the
// webhook) leaves no server and no temporary directory behind: neither when it throws without
// stopping anything, nor when a signal ends it (test/env/processes.ts). The child is
// stack-child.ts; every process group it reported is checked empty afterwards.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { running } from './groups.ts';

const CHILD = path.join(import.meta.dirname, 'stack-child.ts');

interface Report {
  readonly dir: string;
  readonly groups: readonly { name: string; pid: number }[];
}

/**
 * Runs the child until it prints its report, checks that everything it reports is there, lets
 * `end` finish it; resolves when it has exited and its base directory is checked empty.
 */
async function runChild(
  mode: 'throw' | 'wait',
  end: (child: ChildProcess) => void,
): Promise<{ report: Report; code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const base = await mkdtemp(path.join(tmpdir(), 'vault-inject-cleanup-'));
  try {
    const child = spawn(process.execPath, [CHILD, base, mode], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, VAULT_INJECT_KEEP_TEST_DIRS: undefined },
    });
    let stdout = '';
    let stderr = '';
    let report: Report | undefined;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n')[0];
      if (report === undefined && stdout.includes('\n') && line) {
        report = JSON.parse(line) as Report;
        assert.ok(existsSync(report.dir), 'the stack directory exists while it runs');
        for (const g of report.groups) assert.ok(running(g.pid).length > 0, `${g.name} is running`);
        end(child);
      }
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (c, s) => resolve([c, s])),
    );
    assert.ok(report, `the child printed no report (exit ${code ?? signal}): ${stderr}`);
    assert.equal(readdirSync(base).length, 0, `left in ${base}: ${readdirSync(base).join(', ')}`);
    return { report, code, signal, stderr };
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

/**
 * Every group the child reported has no running member. The child SIGKILLs them as it exits; a
 * large process (kube-apiserver) can take a moment to finish exiting after that on a loaded
 * machine, so each group gets up to 5 s to be gone: a process left alive stays alive and fails.
 */
async function assertNothingRunning(report: Report): Promise<void> {
  assert.equal(report.groups.length, 4, 'etcd, kube-apiserver, openbao, webhook');
  for (const g of report.groups) {
    for (let i = 0; i < 50 && running(g.pid).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(running(g.pid), [], `${g.name} (process group ${g.pid}) left running`);
  }
}

describe('a test process that dies with the stack running leaves nothing behind', () => {
  it('an uncaught throw, no stop(): every server killed, the directory removed', async () => {
    const r = await runChild('throw', (child) => child.stdin?.write('now\n'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /a test failed with the stack running/);
    await assertNothingRunning(r.report);
  });

  it('SIGTERM (a runner timeout, a Ctrl-C): the same', async () => {
    const r = await runChild('wait', (child) => child.kill('SIGTERM'));
    assert.equal(r.signal, 'SIGTERM');
    await assertNothingRunning(r.report);
  });
});
