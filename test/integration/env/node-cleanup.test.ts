// The real node (test/env/node.ts) puts the machine back as it found it when its test process
// dies with the node running (an uncaught throw, SIGINT, SIGTERM): the sysctls the kubelet and
// the bridge plugin set, the pod bridge and the forwarding rule, the kubepods cgroups, every
// mount, the container processes and the fixed host paths. While it runs, its lock refuses a
// second node with a message naming the holder. The child is stack-child.ts with `node`, which
// has a pod running on the node when it reports.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BRIDGE } from '../../env/node.ts';
import { acquireNodeLock, FIXED_PATHS, LOCK_FILE, SYSCTLS } from '../../env/node-host.ts';
import { running } from './groups.ts';

const CHILD = path.join(import.meta.dirname, 'stack-child.ts');

interface Report {
  readonly dir: string;
  readonly nodeDir: string;
  readonly groups: readonly { name: string; pid: number }[];
}

/** What the node changes, read from the machine. */
function hostSnapshot(): Record<string, unknown> {
  const cgroups = readdirSync('/sys/fs/cgroup').filter((h) =>
    existsSync(`/sys/fs/cgroup/${h}/kubepods`),
  );
  return {
    sysctls: SYSCTLS.map(
      (s) => `${s}=${readFileSync(`/proc/sys/${s.replace(/\./g, '/')}`, 'utf8').trim()}`,
    ),
    paths: FIXED_PATHS.filter((p) => existsSync(p)),
    bridge: existsSync(`/sys/class/net/${BRIDGE}`),
    cgroups,
    forward: execFileSync('iptables', ['-w', '-S', 'FORWARD'], { encoding: 'utf8' }),
    mounts: readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((p) => p.includes('vault-inject') || FIXED_PATHS.some((f) => p.startsWith(f))),
    lock: existsSync(LOCK_FILE),
  };
}

async function runChild(
  mode: 'throw' | 'wait',
  end: (child: ChildProcess, report: Report) => Promise<void>,
): Promise<{ report: Report; code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const base = await mkdtemp(path.join(tmpdir(), 'vault-inject-node-cleanup-'));
  try {
    const child = spawn(process.execPath, [CHILD, base, mode, 'node'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, VAULT_INJECT_KEEP_TEST_DIRS: undefined },
    });
    let stdout = '';
    let stderr = '';
    let report: Report | undefined;
    let ended: Promise<void> = Promise.resolve();
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n')[0];
      if (report === undefined && stdout.includes('\n') && line) {
        report = JSON.parse(line) as Report;
        ended = end(child, report);
      }
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (c, s) => resolve([c, s])),
    );
    await ended;
    assert.ok(report, `the child printed no report (exit ${code ?? signal}): ${stderr}`);
    assert.equal(readdirSync(base).length, 0, `left in ${base}: ${readdirSync(base).join(', ')}`);
    return { report, code, signal, stderr };
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

/** While the child's node runs: its changes are there, and a second node is refused. */
async function checkRunning(report: Report): Promise<void> {
  assert.ok(existsSync(`/sys/class/net/${BRIDGE}`), 'the pod bridge exists while the node runs');
  assert.match(
    execFileSync('iptables', ['-w', '-S', 'FORWARD'], { encoding: 'utf8' }),
    new RegExp(`-i ${BRIDGE} ! -o ${BRIDGE} -j DROP`),
  );
  const other = await mkdtemp(path.join(tmpdir(), 'vault-inject-second-node-'));
  try {
    await assert.rejects(
      acquireNodeLock(other, 0),
      new RegExp(
        `another vault-inject node holds the node's host paths .*directory ${report.nodeDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
      ),
    );
  } finally {
    await rm(other, { recursive: true, force: true });
  }
}

describe('a test process that dies with the node running puts the machine back', () => {
  it('SIGINT (Ctrl-C): sysctls, bridge, rule, cgroups, mounts, paths and lock as before', async () => {
    const before = hostSnapshot();
    const r = await runChild('wait', async (child, report) => {
      await checkRunning(report);
      child.kill('SIGINT');
    });
    assert.equal(r.signal, 'SIGINT', r.stderr);
    for (const g of r.report.groups) assert.deepEqual(running(g.pid), [], `${g.name} left running`);
    assert.deepEqual(hostSnapshot(), before);
  });

  it('an uncaught throw, no stop(): the same', async () => {
    const before = hostSnapshot();
    const r = await runChild('throw', async (child) => {
      child.stdin?.write('now\n');
      return Promise.resolve();
    });
    assert.equal(r.code, 1);
    assert.deepEqual(hostSnapshot(), before);
  });
});
