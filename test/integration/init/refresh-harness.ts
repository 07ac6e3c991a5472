/**
 * What the refresh test files share (refresh.test.ts, agent-refresh.test.ts): a daemon's
 * environment through the file's gateway with the root token, polling a file until it changes,
 * and stopping a daemon the way the kubelet does.
 */
import type { RunningBundle } from './bundle.ts';
import type { Gateway } from './gateway.ts';
import type { Suite } from './harness.ts';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The settings of a daemon that logs in with `s`'s root token through `gateway`, plus `extra`. */
export function daemonEnv(
  s: Suite,
  gateway: Gateway,
  extra: Record<string, string>,
): Record<string, string> {
  return {
    VAULT_ADDR: gateway.addr,
    VAULT_AUTH_METHOD: 'token',
    VAULT_TOKEN: s.bao.rootToken,
    VAULT_CLIENT_TIMEOUT: '2s',
    ...extra,
  };
}

/** Polls `read` every 100 ms until it differs from `from`; the ms it took. */
export async function untilChanged(
  read: () => string,
  from: string,
  withinMs: number,
): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < withinMs) {
    if (read() !== from) return performance.now() - t0;
    await sleep(100);
  }
  throw new Error(`no change within ${withinMs} ms`);
}

/** SIGTERM, as the kubelet stops a container; the run, recorded for `s`'s canary check. */
export async function stop(s: Suite, run: RunningBundle) {
  run.signal('SIGTERM');
  return s.record(await run.done);
}
