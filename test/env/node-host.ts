/**
 * What the local node (test/env/node.ts) changes on the machine, saved before and put back after:
 *
 *   - the lock on the node's fixed host paths (one node per machine: the kubelet and the CNI
 *     plugins use /var/lib/kubelet/device-plugins, /var/log/containers, /var/lib/cni, /run/containerd
 *     whatever their own roots are);
 *   - the sysctls the kubelet sets while it runs (vm.overcommit_memory, kernel.panic,
 *     kernel.panic_on_oops) and the bridge plugin's net.ipv4.ip_forward;
 *   - the pod bridge and the network rule: forwarding from the bridge to anything but the bridge
 *     is dropped, so no pod traffic can leave the machine;
 *   - mounts under the node's directory and the fixed paths (the pods' volumes, network
 *     namespaces, overlay root filesystems), container processes, containerd's shims, the kubepods
 *     cgroups, and the fixed paths that did not exist before.
 *
 * The saved state is a JSON file in the node's directory, so `scripts/dev-env.sh down` can restore
 * a node that an earlier process started. Restoring is synchronous: it also runs from the exit
 * hook of test/env/processes.ts (a test that throws, Ctrl-C, a CI timeout).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

export const LOCK_FILE = '/run/vault-inject-node.lock';
export const FIXED_PATHS = [
  '/var/lib/kubelet',
  '/var/lib/cni',
  '/var/log/containers',
  '/var/log/pods',
  '/run/containerd',
  '/run/netns',
  '/usr/libexec/kubernetes',
] as const;
export const SYSCTLS = [
  'vm.overcommit_memory',
  'kernel.panic',
  'kernel.panic_on_oops',
  'net.ipv4.ip_forward',
] as const;
const CGROUP_ROOT = '/sys/fs/cgroup';

export interface HostState {
  readonly dir: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly sysctls: Record<string, string>;
  /** Fixed paths that did not exist before: removed again. */
  readonly createdPaths: string[];
  /** cgroup directories named kubepods that did not exist before. */
  readonly createdCgroups: string[];
  /** The iptables rules we inserted (the arguments after -I/-D FORWARD). */
  readonly rules: string[][];
}

const stateFile = (dir: string): string => path.join(dir, 'host-state.json');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

interface LockContent {
  readonly pids: number[];
  readonly dir: string;
  readonly since: string;
}

/**
 * Takes the machine-wide node lock for `dir`, waiting up to `waitMs` while another live node holds
 * it (test files that each start a node take turns); then an error naming the holder.
 */
export async function acquireNodeLock(dir: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  let said = false;
  for (;;) {
    try {
      tryNodeLock(dir);
      return;
    } catch (err) {
      if (!(err instanceof NodeLockHeld) || Date.now() >= deadline) throw err;
      if (!said) process.stderr.write(`node: waiting for the node lock: ${err.message}\n`);
      said = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export class NodeLockHeld extends Error {}

/**
 * Takes the lock now or throws NodeLockHeld naming the live node that holds it. A lock whose
 * processes are all gone is stale and taken over (after restoring what its node left).
 */
function tryNodeLock(dir: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(LOCK_FILE, 'wx', 0o644);
      const content: LockContent = { pids: [process.pid], dir, since: new Date().toISOString() };
      writeSync(fd, JSON.stringify(content));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let held: LockContent | undefined;
    try {
      held = JSON.parse(readFileSync(LOCK_FILE, 'utf8')) as LockContent;
    } catch {
      held = undefined;
    }
    if (held && held.pids.some(alive)) {
      throw new NodeLockHeld(
        `another vault-inject node holds the node's host paths (${FIXED_PATHS.join(', ')}): ` +
          `processes ${held.pids.join(', ')}, directory ${held.dir}, since ${held.since}. ` +
          `One node runs per machine: stop it (scripts/dev-env.sh down, or end its test run) ` +
          `and try again; a lock left by a dead node (${LOCK_FILE}) is taken over by itself.`,
      );
    }
    if (held && existsSync(stateFile(held.dir))) restoreHost(held.dir);
    rmSync(LOCK_FILE, { force: true });
  }
  throw new Error(`could not take the node lock ${LOCK_FILE}`);
}

/** Records the node's processes in the lock (they, not this process, keep a persistent node). */
export function lockPids(dir: string, pids: readonly number[]): void {
  const content: LockContent = { pids: [...pids], dir, since: new Date().toISOString() };
  writeFileSync(LOCK_FILE, JSON.stringify(content));
}

function releaseNodeLock(dir: string): void {
  try {
    const held = JSON.parse(readFileSync(LOCK_FILE, 'utf8')) as LockContent;
    if (held.dir === dir) rmSync(LOCK_FILE, { force: true });
  } catch {
    // Not ours, or gone.
  }
}

const sysctlPath = (name: string): string => `/proc/sys/${name.replace(/\./g, '/')}`;

function kubepodsCgroups(): string[] {
  const found: string[] = [];
  for (const h of readdirSync(CGROUP_ROOT)) {
    const p = path.join(CGROUP_ROOT, h, 'kubepods');
    if (existsSync(p)) found.push(p);
  }
  return found;
}

function candidateCgroups(): string[] {
  return readdirSync(CGROUP_ROOT).map((h) => path.join(CGROUP_ROOT, h, 'kubepods'));
}

/** Saves what the node is about to change; call after taking the lock. */
export function saveHost(dir: string, bridge: string, subnet: string): HostState {
  const existing = new Set(kubepodsCgroups());
  const state: HostState = {
    dir,
    bridge,
    subnet,
    sysctls: Object.fromEntries(
      SYSCTLS.map((s) => [s, readFileSync(sysctlPath(s), 'utf8').trim()]),
    ),
    createdPaths: FIXED_PATHS.filter((p) => !existsSync(p)),
    createdCgroups: candidateCgroups().filter((p) => !existing.has(p)),
    rules: [],
  };
  writeFileSync(stateFile(dir), JSON.stringify(state, null, 2));
  return state;
}

function run(command: string, args: readonly string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * The pod bridge with its gateway address, made before the CNI plugin runs (so OpenBao's
 * forwarder can listen on the gateway), and the rule: whatever enters from the bridge may only
 * leave through the bridge.
 */
export function setUpNetwork(state: HostState, gateway: string): void {
  const prefix = state.subnet.split('/')[1] ?? '24';
  run('ip', ['link', 'add', state.bridge, 'type', 'bridge']);
  run('ip', ['addr', 'add', `${gateway}/${prefix}`, 'dev', state.bridge]);
  run('ip', ['link', 'set', state.bridge, 'up']);
  const rules = [
    ['-i', state.bridge, '!', '-o', state.bridge, '-j', 'DROP'],
    ['-o', state.bridge, '!', '-i', state.bridge, '-j', 'DROP'],
  ];
  for (const rule of rules) {
    run('iptables', ['-w', '-I', 'FORWARD', ...rule]);
    state.rules.push(rule);
    writeFileSync(stateFile(state.dir), JSON.stringify(state, null, 2));
  }
}

function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function cgroupProcs(dir: string): string[] {
  const pids: string[] = [];
  const walk = (d: string): void => {
    try {
      pids.push(...readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean));
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name));
      }
    } catch {
      // Gone meanwhile.
    }
  };
  walk(dir);
  return pids;
}

function killPids(pids: readonly string[]): void {
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone.
    }
  }
}

/** The containers (every process in the kubepods cgroups) and the shims of this node's containerd. */
function killContainers(dirs: readonly string[]): void {
  for (let round = 0; round < 20; round++) {
    const pids = new Set<string>();
    for (const cg of kubepodsCgroups()) for (const p of cgroupProcs(cg)) pids.add(p);
    for (const p of readdirSync('/proc')) {
      const line = /^\d+$/.test(p) && Number(p) !== process.pid ? cmdline(p) : '';
      if (line && dirs.some((d) => line.includes(d))) {
        const exe = safeReadlink(`/proc/${p}/exe`);
        if (exe.includes('containerd') || exe.includes('runc') || exe.includes('kubelet'))
          pids.add(p);
      }
    }
    if (pids.size === 0) return;
    killPids([...pids]);
    spawnSync('sleep', ['0.1']);
  }
}

function safeReadlink(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return '';
  }
}

/** Mount points under any of `roots`, deepest first. */
function mountsUnder(roots: readonly string[]): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => roots.some((r) => p === r || p.startsWith(`${r}/`)));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

function unmountAll(roots: readonly string[]): void {
  for (let round = 0; round < 5; round++) {
    const points = mountsUnder(roots);
    if (points.length === 0) return;
    for (const p of points) spawnSync('umount', ['-l', p], { stdio: 'ignore' });
  }
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) removeCgroupTree(path.join(dir, e.name));
  }
  try {
    rmdirSync(dir);
  } catch {
    // Busy: a process the kill did not reach; reported by the caller's check.
  }
}

/**
 * Puts the machine back as `saveHost` found it. Safe to call more than once, and when the node
 * never fully started. Returns what could not be restored (empty: everything).
 */
export function restoreHost(dir: string): string[] {
  if (!existsSync(stateFile(dir))) {
    releaseNodeLock(dir);
    return [];
  }
  const state = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as HostState;
  const problems: string[] = [];
  killContainers([dir]);
  unmountAll([dir, ...FIXED_PATHS]);
  for (const cg of state.createdCgroups) removeCgroupTree(cg);
  for (const cg of state.createdCgroups) if (existsSync(cg)) problems.push(`cgroup ${cg} remains`);
  for (const rule of state.rules) {
    spawnSync('iptables', ['-w', '-D', 'FORWARD', ...rule], { stdio: 'ignore' });
  }
  if (existsSync(`/sys/class/net/${state.bridge}`)) {
    spawnSync('ip', ['link', 'del', state.bridge], { stdio: 'ignore' });
  }
  for (const [name, value] of Object.entries(state.sysctls)) {
    try {
      writeFileSync(sysctlPath(name), value);
    } catch (err) {
      problems.push(`sysctl ${name}=${value}: ${(err as Error).message}`);
    }
  }
  for (const p of state.createdPaths) rmSync(p, { recursive: true, force: true });
  rmSync(stateFile(dir), { force: true });
  releaseNodeLock(dir);
  return problems;
}
