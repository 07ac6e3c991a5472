/**
 * The app of a refreshing daemon (refresh.ts): it may be told a signal, or restarted with a new
 * environment — SIGTERM, SIGKILL after the grace period, then started again as at first. Its exit
 * code is the daemon's once it exits on its own (or is stopped by the daemon, daemon.ts). A
 * SIGTERM or SIGINT that reaches us during a restart is the container stopping: the app is not
 * started again.
 */
import type { ReloadSignal } from './contract/refresh.ts';
import type { RunningApp } from './exec.ts';
import type { Logger } from './log.ts';
import { realClock, type Clock, type ReloadTarget } from './refresh.ts';
import type { ResolveResult } from './resolve.ts';

export interface ManagedApp extends RunningApp, ReloadTarget {}

export interface ManagedAppOptions {
  /** Starts the app with the environment for `values` (throws when it cannot be started). */
  readonly start: (values: ResolveResult) => RunningApp;
  readonly first: RunningApp;
  readonly log: Logger;
  readonly graceMs?: number;
  readonly clock?: Clock;
  /** Calls `fn` on SIGTERM/SIGINT until the returned function is called (process by default). */
  readonly onStopSignal?: (fn: () => void) => () => void;
}

function processStopSignal(fn: () => void): () => void {
  process.on('SIGTERM', fn);
  process.on('SIGINT', fn);
  return () => {
    process.off('SIGTERM', fn);
    process.off('SIGINT', fn);
  };
}

export function managedApp(o: ManagedAppOptions): ManagedApp {
  const { log, graceMs = 10_000, clock = realClock, onStopSignal = processStopSignal } = o;
  let current = o.first;
  let restarting = false;
  let pending: ResolveResult | undefined;
  let finish: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (finish = resolve));
  const watch = (app: RunningApp): void => {
    void app.exited.then((code) => {
      if (app === current && !restarting) finish(code);
    });
  };
  const alive = (): boolean => current.child.exitCode === null && current.child.signalCode === null;

  const restart = async (values: ResolveResult): Promise<void> => {
    if (restarting) {
      pending = values;
      return;
    }
    restarting = true;
    let stopAsked = false;
    const unsubscribe = onStopSignal(() => (stopAsked = true));
    log.info('restarting the app with the new values');
    const old = current;
    if (alive()) old.child.kill('SIGTERM');
    const kill = clock.setTimer(graceMs, () => old.child.kill('SIGKILL'));
    const code = await old.exited;
    clock.clearTimer(kill);
    unsubscribe();
    if (stopAsked) return finish(code);
    try {
      current = o.start(pending ?? values);
    } catch (err) {
      log.error(`the app could not be started again (${(err as Error).message})`);
      return finish(code);
    }
    pending = undefined;
    restarting = false;
    watch(current);
  };

  watch(current);
  return {
    get child() {
      return current.child;
    },
    exited,
    signal(signal: ReloadSignal) {
      if (!restarting && alive()) current.child.kill(signal);
    },
    restart(values) {
      void restart(values);
    },
  };
}
