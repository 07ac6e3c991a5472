/**
 * Runs one credential provider plugin as kubelet does: the request as JSON on stdin, the response
 * read from stdout, the webhook's environment plus the provider's `env`, the provider's `args`.
 * Killed (SIGKILL, with every process it started: it runs in a process group of its own) when it
 * outlives its timeout or the caller gives up. Stderr is drained and
 * dropped: a plugin may print anything there, credentials included.
 */
import { spawn } from 'node:child_process';

export interface PluginRun {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly input: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface PluginOutput {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  readonly tooLarge: boolean;
}

/** Runs a plugin; rejects only when it cannot be started (the error's `code`: ENOENT, EACCES). */
export type PluginRunner = (run: PluginRun) => Promise<PluginOutput>;

const MAX_STDOUT_BYTES = 1024 * 1024;

export const execPlugin: PluginRunner = (run) =>
  new Promise<PluginOutput>((resolve, reject) => {
    const child = spawn(run.file, [...run.args], {
      env: { ...process.env, ...run.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const chunks: Buffer[] = [];
    let length = 0;
    const state = { timedOut: false, aborted: false, tooLarge: false };
    const kill = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      state.timedOut = true;
      kill();
    }, run.timeoutMs);
    const onAbort = (): void => {
      state.aborted = true;
      kill();
    };
    run.signal?.addEventListener('abort', onAbort, { once: true });
    if (run.signal?.aborted) onAbort();
    child.stdout.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > MAX_STDOUT_BYTES) {
        state.tooLarge = true;
        kill();
      } else chunks.push(chunk);
    });
    child.stderr.resume();
    // A plugin that exits without reading its stdin: EPIPE here, its exit code tells the rest.
    child.stdin.on('error', () => undefined);
    child.stdin.end(run.input);
    let finished = false;
    const finish = (code: number | null, error?: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      if (error !== undefined) reject(error);
      else resolve({ code, stdout: Buffer.concat(chunks), ...state });
    };
    child.on('error', (error) => finish(null, error));
    // Killed: its answer no longer matters, nor what still holds its pipes open.
    child.on('exit', (code) => {
      if (state.timedOut || state.aborted || state.tooLarge) finish(code);
    });
    child.on('close', (code) => finish(code));
  });
