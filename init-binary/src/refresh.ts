/**
 * Refresh (docs/init-program.md#refresh): in daemon mode, the secrets behind the app's files and
 * environment are resolved again every refresh interval, and a kept write (a PKI certificate) again
 * before it expires (refresh-cache.ts). A file whose content changed is rewritten atomically; the
 * app is then sent the reload signal, or restarted with the new environment. An environment value
 * cannot change inside a running process: without `restart` its change is logged, names only. A
 * failed refresh keeps the files and the app, is logged in one line (names and paths, never a
 * value) and tried again with backoff. Time and I/O come in through the options (tests fake them).
 */
import { MAX_TIMER_MS } from './config.ts';
import type { Reload, ReloadSignal } from './contract/refresh.ts';
import { InitError } from './errors.ts';
import type { Logger } from './log.ts';
import type { ResolveResult } from './resolve.ts';

/** What one resolution gives: the app's environment, and each file's content. */
export interface Rendered {
  readonly env: ResolveResult;
  readonly contents: ReadonlyMap<string, string>;
}

export interface Clock {
  /** Monotonic ms. */
  now(): number;
  setTimer(ms: number, fn: () => void): unknown;
  clearTimer(timer: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimer: (ms, fn) => setTimeout(fn, ms),
  clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
};

/** How the app is told. */
export interface ReloadTarget {
  signal(signal: ReloadSignal): void;
  restart(env: ResolveResult): void;
}

export interface RefreshOptions {
  readonly intervalMs: number | undefined;
  readonly reload: Reload;
  readonly initial: Rendered;
  /** Resolves everything again (within the client timeout, with its retries). */
  readonly render: () => Promise<Rendered>;
  /** Writes one file atomically (files.ts); throws InitError naming it. */
  readonly writeFile: (file: string, content: string) => void;
  readonly app: ReloadTarget;
  /** When a kept write is due again (refresh-cache.ts), on `clock.now`'s clock. */
  readonly nextDue: () => number | undefined;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly random?: () => number;
}

/** The first retry after a failure waits about this long; each further one twice as long. */
const BACKOFF_BASE_MS = 1000;
/** Retries never wait longer than this (nor longer than the interval). */
const BACKOFF_CAP_MS = 60_000;

/** The files whose content is new or changed (a file left out, ignore-missing, keeps its old one). */
export function changedFiles(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
): string[] {
  return [...after].filter(([file, content]) => before.get(file) !== content).map(([f]) => f);
}

/** The variables whose value changed, appeared or went away. */
export function changedEnv(before: ResolveResult, after: ResolveResult): string[] {
  const names = new Set([...before.values.keys(), ...after.values.keys()]);
  return [...names].filter((n) => before.values.get(n) !== after.values.get(n));
}

export type Action =
  | { readonly kind: 'none' }
  | { readonly kind: 'signal'; readonly signal: ReloadSignal }
  | { readonly kind: 'restart' };

/**
 * What to do after a refresh: restart on any change with `restart`; else the signal when a file
 * changed; `needRestart` names the variables that changed without reaching the app.
 */
export function reloadAction(
  reload: Reload,
  files: readonly string[],
  env: readonly string[],
): { action: Action; needRestart: readonly string[] } {
  if (reload.kind === 'restart') {
    const changed = files.length + env.length > 0;
    return { action: changed ? { kind: 'restart' } : { kind: 'none' }, needRestart: [] };
  }
  const action: Action = reload.kind === 'signal' && files.length > 0 ? reload : { kind: 'none' };
  return { action, needRestart: env };
}

/** The wait before retry `failures` (1, 2, …): doubling from 1s, capped, with jitter. */
export function backoffMs(failures: number, capMs: number, random: () => number): number {
  const ceiling = Math.min(capMs, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** When to refresh next after a success: the interval, or sooner when a kept write is due. */
export function nextDelayMs(
  now: number,
  intervalMs: number | undefined,
  due: number | undefined,
): number | undefined {
  const untilDue = due === undefined ? undefined : Math.max(0, due - now);
  if (intervalMs === undefined) return untilDue;
  return untilDue === undefined ? intervalMs : Math.min(intervalMs, untilDue);
}

/** Why a refresh failed, in one line without a value: an InitError's message, else its code. */
function reason(err: unknown): string {
  if (err instanceof InitError) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unexpected error';
}

/** Starts refreshing; `stop` ends it (when the app has exited). */
export function startRefresh(o: RefreshOptions): { stop(): void } {
  const clock = o.clock ?? realClock;
  const random = o.random ?? Math.random;
  const cap = Math.min(BACKOFF_CAP_MS, o.intervalMs ?? BACKOFF_CAP_MS);
  let current = o.initial;
  let failures = 0;
  let timer: unknown;
  let stopped = false;

  const schedule = (ms: number | undefined): void => {
    if (stopped || ms === undefined) return;
    timer = clock.setTimer(Math.min(ms, MAX_TIMER_MS), () => {
      timer = undefined;
      void tick();
    });
  };
  const failed = (err: unknown): void => {
    failures++;
    const wait = backoffMs(failures, cap, random);
    o.log.warn(
      `refresh failed: ${reason(err)}; the files and the app are kept, next try in ${Math.ceil(wait / 1000)}s`,
    );
    schedule(wait);
  };
  const tick = async (): Promise<void> => {
    let next: Rendered;
    try {
      next = await o.render();
    } catch (err) {
      if (!stopped) failed(err);
      return;
    }
    if (stopped) return;
    const files = changedFiles(current.contents, next.contents);
    const written = new Map(current.contents);
    const done: string[] = [];
    let writeError: unknown;
    for (const file of files) {
      const content = next.contents.get(file) ?? '';
      try {
        o.writeFile(file, content);
      } catch (err) {
        writeError = err;
        break;
      }
      written.set(file, content);
      done.push(file);
    }
    const env = changedEnv(current.env, next.env);
    current = { env: next.env, contents: written };
    act(done, env, next.env);
    if (writeError !== undefined) return failed(writeError);
    failures = 0;
    schedule(nextDelayMs(clock.now(), o.intervalMs, o.nextDue()));
  };
  const act = (files: readonly string[], env: readonly string[], values: ResolveResult): void => {
    if (files.length > 0) o.log.info('secret files changed', { files: files.join(',') });
    const { action, needRestart } = reloadAction(o.reload, files, env);
    if (needRestart.length > 0) {
      o.log.warn(
        `environment values changed (${needRestart.join(', ')}); the app keeps the old ones until it restarts (reload: restart)`,
      );
    }
    if (action.kind === 'signal') {
      o.log.info(`sending ${action.signal} to the app`);
      o.app.signal(action.signal);
    } else if (action.kind === 'restart') {
      o.app.restart(values);
    }
  };

  schedule(nextDelayMs(clock.now(), o.intervalMs, o.nextDue()));
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimer(timer);
    },
  };
}
