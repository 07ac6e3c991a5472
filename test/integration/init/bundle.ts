/** The built bundle under test, and running it as a container would (exact env, stdout parsed). */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** dist/bundle/vault-inject (make bundle), built now when missing; VAULT_INJECT_BUNDLE overrides. */
export function builtBundle(): string {
  const dir = resolve(process.env['VAULT_INJECT_BUNDLE'] ?? 'dist/bundle/vault-inject');
  if (!existsSync(`${dir}/bin/vault-inject-env`)) {
    const r = spawnSync('scripts/bundle.sh', [dir], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('scripts/bundle.sh failed');
  }
  return dir;
}

export interface Run {
  readonly pid: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The app's environment, when it printed one (lines of NAME=value after PID=). */
  readonly env: Readonly<Record<string, string>>;
  readonly appPid: number | undefined;
  readonly ms: number;
}

/** An app that prints its PID and its environment, one per line. */
export const PRINT_ENV = ['/bin/sh', '-c', 'echo "PID=$$"; env'];

export function runBundle(
  bundle: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs = 30_000,
): Promise<Run> {
  const started = performance.now();
  const child = spawn(`${bundle}/bin/vault-inject-env`, argv, {
    env: { PATH: '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((done) => {
    const finish = (code: number | null): void => {
      clearTimeout(timer);
      done({
        pid: child.pid ?? -1,
        code,
        stdout,
        stderr,
        ...parseOutput(stdout),
        ms: performance.now() - started,
      });
    };
    child.once('exit', finish);
    // Not started at all (e.g. the bundle rebuilt meanwhile): no 'exit' will follow.
    child.once('error', (err) => {
      stderr += `spawn failed: ${(err as NodeJS.ErrnoException).code ?? err.name}\n`;
      finish(null);
    });
  });
}

/** A bundle still running (daemon mode): its output so far, a way to wait for a line, its end. */
export interface RunningBundle {
  readonly pid: number;
  readonly started: number;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches `pattern`; rejects when the process ends first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  signal(name: NodeJS.Signals): void;
  readonly done: Promise<Run>;
}

export function startBundle(
  bundle: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs = 60_000,
): RunningBundle {
  const started = performance.now();
  const child = spawn(`${bundle}/bin/vault-inject-env`, argv, {
    env: { PATH: '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let ended = false;
  const waiters = new Set<() => void>();
  const poke = (): void => {
    for (const w of waiters) w();
  };
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    poke();
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<Run>((resolve) => {
    const finish = (code: number | null): void => {
      clearTimeout(timer);
      ended = true;
      poke();
      resolve({
        pid: child.pid ?? -1,
        code,
        stdout,
        stderr,
        ...parseOutput(stdout),
        ms: performance.now() - started,
      });
    };
    child.once('exit', (code, signal) => finish(code ?? (signal ? -1 : null)));
    child.once('error', (err) => {
      stderr += `spawn failed: ${(err as NodeJS.ErrnoException).code ?? err.name}\n`;
      finish(null);
    });
  });
  const waitFor = (pattern: RegExp, ms = 30_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (pattern.test(stdout)) finish(() => resolve());
        else if (ended)
          finish(() => reject(new Error(`ended before ${pattern}; stderr:\n${stderr}`)));
      };
      const t = setTimeout(
        () => finish(() => reject(new Error(`no ${pattern} within ${ms} ms; stderr:\n${stderr}`))),
        ms,
      );
      const finish = (fn: () => void): void => {
        clearTimeout(t);
        waiters.delete(check);
        fn();
      };
      waiters.add(check);
      check();
    });
  return {
    pid: child.pid ?? -1,
    started,
    stdout: () => stdout,
    stderr: () => stderr,
    waitFor,
    signal: (name) => void child.kill(name),
    done,
  };
}

export function parseOutput(stdout: string): {
  env: Record<string, string>;
  appPid: number | undefined;
} {
  const env: Record<string, string> = {};
  let appPid: number | undefined;
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const name = line.slice(0, eq);
    if (name === 'PID' && appPid === undefined) appPid = Number(line.slice(eq + 1));
    else env[name] = line.slice(eq + 1);
  }
  return { env, appPid };
}

/**
 * The stderr of a run with each JSON log line (the init program's default, the webhook's shape)
 * checked and rewritten as `LEVEL: MSG`, so tests match messages; other lines (the failure line)
 * as they are.
 */
export function logText(stderr: string): string {
  return stderr
    .split('\n')
    .map((line) => {
      if (!line.startsWith('{')) return line;
      const record = JSON.parse(line) as { level?: unknown; time?: unknown; msg?: unknown };
      if (
        typeof record.level !== 'string' ||
        typeof record.msg !== 'string' ||
        typeof record.time !== 'string' ||
        !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(record.time)
      ) {
        throw new Error(`a log line not in the shape {level, time, msg}: ${line}`);
      }
      return `${record.level}: ${record.msg}`;
    })
    .join('\n');
}
