/**
 * Handing over to the app. Normally `process.execve`: the app takes our PID, gets its signals and
 * its exit code directly, and no Node process stays resident. Where execve is unavailable (and in
 * daemon mode) the app is spawned as our child, every catchable signal forwarded, its exit code
 * (or 128+N after signal N) passed through.
 */
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { ExitCode } from './contract/names.ts';
import { CommandNotExecutableError } from './errors.ts';
import type { Logger } from './log.ts';

export function canExecve(): boolean {
  return typeof process.execve === 'function';
}

/** Replaces this process with `file`; `argv[0]` is the command as the user wrote it. */
export function execApp(file: string, argv: readonly string[], env: Record<string, string>): never {
  // Node ignores SIGPIPE and SIGXFSZ, and ignored signals survive execve: the app would inherit
  // them. A handled signal is reset to its default by execve, so handle them for this moment.
  const noop = (): void => undefined;
  process.on('SIGPIPE', noop);
  process.on('SIGXFSZ', noop);
  process.execve?.(file, [...argv], env);
  throw new Error('process.execve returned'); // unreachable: execve either replaces us or aborts
}

/**
 * The soft stack size limit (RLIMIT_STACK) in bytes, which bounds what execve copies: Infinity when
 * unlimited, undefined where /proc is not mounted or says nothing we can read.
 */
export function stackLimitBytes(): number | undefined {
  let text: string;
  try {
    text = process.getBuiltinModule('node:fs').readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const soft = /^Max stack size\s+(\S+)/m.exec(text)?.[1];
  if (soft === 'unlimited') return Infinity;
  const bytes = Number(soft);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** Signals a parent forwards to its child (SIGKILL/SIGSTOP cannot be caught). */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = [
  'SIGTERM',
  'SIGINT',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
  'SIGCONT',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
  'SIGALRM',
];

export interface RunningApp {
  readonly child: ChildProcess;
  /** The app's exit code, or 128+N when signal N ended it. */
  readonly exited: Promise<number>;
}

export function spawnApp(
  file: string,
  argv: readonly string[],
  env: Record<string, string>,
  log: Logger,
): RunningApp {
  const [argv0 = file, ...args] = argv;
  // Loaded only here: node:child_process costs several ms of every exec-mode start.
  const { spawn } = process.getBuiltinModule('node:child_process');
  // Handlers before spawn(): it returns only after the child has exec'd, and by then the app may
  // be running and visible to whoever sends signals; with the default action a SIGTERM in that
  // moment would kill us alone and orphan the app. libuv queues a signal caught during spawn() and
  // dispatches it on the event loop, when `started.child` is set.
  const started: { child?: ChildProcess } = {};
  const forward = (signal: NodeJS.Signals): void => {
    const { child } = started;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);
  const stopForwarding = (): void => {
    for (const s of FORWARDED_SIGNALS) process.off(s, forward);
  };
  const failed = (err: Error): { code: number; message: string } => {
    stopForwarding();
    const errno = (err as NodeJS.ErrnoException).code ?? err.name;
    return {
      code: startFailureExitCode(errno),
      message: `command "${argv0}" could not be started (${errno})`,
    };
  };
  let spawned: ChildProcess;
  try {
    spawned = spawn(file, args, { argv0, env, stdio: 'inherit' });
  } catch (err) {
    // Node reports some start errors as an 'error' event (EACCES, ENOENT, ...) and throws the
    // others (EPERM, ...) from spawn() itself; any but "not executable" stays what it was (70).
    if (!(err instanceof Error)) {
      stopForwarding();
      throw err;
    }
    const { code, message } = failed(err);
    if (code !== ExitCode.NOT_EXECUTABLE) throw err;
    throw new CommandNotExecutableError(message, { cause: err });
  }
  started.child = spawned;
  const exited = new Promise<number>((resolve) => {
    spawned.once('error', (err) => {
      const { code, message } = failed(err);
      log.error(message);
      resolve(code);
    });
    spawned.once('exit', (code, signal) => {
      stopForwarding();
      resolve(childExitCode(code, signal));
    });
  });
  return { child: spawned, exited };
}

/**
 * The exit code for a command that could not be started, as a shell reports it (and as exec mode
 * does, see command.ts): 126 when the file is there but may not be executed, 127 otherwise.
 */
export function startFailureExitCode(code: string): number {
  return code === 'EACCES' || code === 'EPERM' || code === 'ENOEXEC'
    ? ExitCode.NOT_EXECUTABLE
    : ExitCode.NOT_FOUND;
}

export function childExitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? constants.signals[signal] : undefined;
  return n === undefined ? 1 : 128 + n;
}
