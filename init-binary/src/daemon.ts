/**
 * Daemon mode: stay the app's parent and keep its credentials alive. The token and every lease
 * are renewed at about two thirds of their TTL. When one can no longer be renewed (its max TTL is
 * near, or renewals keep failing), the app gets SIGTERM, then SIGKILL after a grace period, and we
 * exit with its code, so that the container restarts with fresh credentials.
 */
import type { Logger } from './log.ts';
import type { Lease } from './resolve.ts';
import type { RunningApp } from './exec.ts';

export interface Renewable {
  /** For logs: "token" or "lease 1" (never the lease id, which names the credential). */
  readonly label: string;
  readonly ttlSeconds: number;
  /** Renews; resolves to the new TTL in seconds. */
  readonly renew: () => Promise<number>;
}

export interface DaemonOptions {
  readonly app: RunningApp;
  readonly renewables: readonly Renewable[];
  readonly log: Logger;
  readonly graceMs?: number;
  /** Fraction of the TTL after which to renew. */
  readonly renewAt?: number;
}

/** Resolves to the app's exit code once it has exited. */
export async function supervise(options: DaemonOptions): Promise<number> {
  const { app, log, graceMs = 10_000, renewAt = 2 / 3 } = options;
  const timers = new Set<NodeJS.Timeout>();
  let stopping = false;
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const terminate = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log.warn(`${why}; stopping the app so that it restarts with fresh credentials`);
    app.child.kill('SIGTERM');
    later(graceMs, () => app.child.kill('SIGKILL'));
  };
  const schedule = (r: Renewable, ttlSeconds: number, expiresAt: number): void => {
    later(Math.max(1000, ttlSeconds * 1000 * renewAt), () => {
      r.renew().then(
        (ttl) => {
          log.debug(`renewed the ${r.label}`, { ttlSeconds: ttl });
          if (ttl <= 0) return terminate(`the ${r.label} can no longer be renewed`);
          if (ttl < r.ttlSeconds * 0.95) {
            // Capped by its max TTL: this is the last stretch.
            log.info(`the ${r.label} reaches its max TTL in ${ttl}s`);
            return later(ttl * 1000 * renewAt, () =>
              terminate(`the ${r.label} reaches its max TTL`),
            );
          }
          schedule(r, ttl, Date.now() + ttl * 1000);
        },
        (err: unknown) => {
          const left = expiresAt - Date.now();
          log.warn(
            `could not renew the ${r.label} (${(err as { code?: string }).code ?? 'error'})`,
          );
          if (left < 5000) return terminate(`the ${r.label} expires`);
          schedule(r, Math.min(left / 3, 30_000) / 1000 / renewAt, expiresAt);
        },
      );
    });
  };
  for (const r of options.renewables) schedule(r, r.ttlSeconds, Date.now() + r.ttlSeconds * 1000);
  const code = await app.exited;
  for (const t of timers) clearTimeout(t);
  return code;
}

/** Renewables for the leases of the resolved secrets. */
export function leaseRenewables(
  leases: readonly Lease[],
  renew: (lease: Lease) => Promise<number>,
): Renewable[] {
  return leases
    .filter((l) => l.renewable)
    .map((lease, i) => ({
      label: `lease ${i + 1}`,
      ttlSeconds: lease.ttlSeconds,
      renew: () => renew(lease),
    }));
}
