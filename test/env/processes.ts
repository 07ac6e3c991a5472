/**
 * Server processes for the real test stack: each runs in its own process group with its output in
 * a log file, is waited for until it answers, and is stopped by its process group (SIGTERM, then
 * SIGKILL after a grace period). Every group started here is also killed synchronously when this
 * Node process exits (and the directories given to `removeDirOnExit` removed), so a test that
 * throws, or a Ctrl-C, never leaves a server or its files behind
 * (test/integration/env/cleanup.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  readonly child: ChildProcess;
  /** True once the process has exited. */
  exited(): boolean;
  /** SIGTERM to the whole group, SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<number>();
const dirs = new Set<string>();
const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;

/**
 * Removes `dir` (recursively) when this Node process exits before `forgetDir(dir)`, after the
 * groups are killed: a test that throws leaves no temporary directory either. Kept with
 * VAULT_INJECT_KEEP_TEST_DIRS.
 */
export function removeDirOnExit(dir: string): void {
  installExitHook();
  dirs.add(dir);
}

export function forgetDir(dir: string): void {
  dirs.delete(dir);
}

/**
 * Runs `cleanup` (synchronous) when this Node process exits or is stopped by a signal, after the
 * process groups are killed and before the directories are removed: what the real node changed on
 * the machine. Returns the function that unregisters it (call it once cleaned up normally).
 */
export function onExitSync(cleanup: () => void): () => void {
  installExitHook();
  exitCleanups.add(cleanup);
  return () => {
    exitCleanups.delete(cleanup);
  };
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const pid of live) killGroup(pid, 'SIGKILL');
    for (const cleanup of exitCleanups) {
      try {
        cleanup();
      } catch (err) {
        process.stderr.write(`cleanup at exit failed: ${(err as Error).message}\n`);
      }
    }
    exitCleanups.clear();
    if (process.env['VAULT_INJECT_KEEP_TEST_DIRS'] !== undefined) return;
    for (const dir of dirs) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // Best effort: the process is exiting.
      }
    }
  };
  process.on('exit', killAll);
  // A test runner stopped by a signal (Ctrl-C, a CI timeout, a closed terminal) does not run 'exit'
  // handlers: kill the groups, then die of the same signal.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

export interface StartOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logPath: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Keep running after this Node process exits (scripts/dev-env.sh). */
  readonly persistent?: boolean;
}

export function startProcess(options: StartOptions): ServerProcess {
  const fd = openSync(options.logPath, 'a');
  const child = spawn(options.command, [...options.args], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: options.env ?? process.env,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  });
  closeSync(fd);
  if (child.pid === undefined)
    throw new Error(`${options.name}: could not start ${options.command}`);
  const pid = child.pid;
  if (options.persistent) {
    child.unref();
  } else {
    installExitHook();
    live.add(pid);
  }
  let done = false;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', () => {
      done = true;
      live.delete(pid);
      resolve();
    });
    child.once('error', () => {
      done = true;
      live.delete(pid);
      resolve();
    });
  });
  return {
    name: options.name,
    pid,
    logPath: options.logPath,
    child,
    exited: () => done,
    async stop(graceMs = 5000) {
      if (done) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
      // Children of the group that outlived their leader.
      killGroup(pid, 'SIGKILL');
    },
  };
}

/** The last `lines` lines of a log file (or a note that it cannot be read). */
export function tail(path: string, lines = 40): string {
  try {
    const text = readFileSync(path, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch (err) {
    return `(cannot read ${path}: ${(err as Error).message})`;
  }
}

/** Polls `check` every 100 ms until it returns true; fails with the process's log tail. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs?: number; process?: ServerProcess } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last: unknown;
  while (Date.now() < deadline) {
    if (options.process?.exited()) {
      throw new Error(
        `${what}: ${options.process.name} exited early; its log:\n${tail(options.process.logPath)}`,
      );
    }
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const log = options.process
    ? `\n${options.process.name} log:\n${tail(options.process.logPath)}`
    : '';
  const reason = last instanceof Error ? ` (last error: ${last.message})` : '';
  throw new Error(`${what}: not ready within ${options.timeoutMs ?? 30_000} ms${reason}${log}`);
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free loopback port; with `consecutive` > 1 the following ports are free too (bao's cluster port). */
export async function freePort(consecutive = 1): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    let ok = port > 0 && port + consecutive < 65536;
    for (let i = 1; ok && i < consecutive; i++) ok = await canListen(port + i);
    if (ok) return port;
  }
  throw new Error('no free loopback port found');
}
