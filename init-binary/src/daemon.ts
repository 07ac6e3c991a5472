/**
 * Daemon mode: stay the app's parent and keep its credentials alive. The token and every lease
 * are renewed at about two thirds of their TTL. When one can no longer be renewed (its max TTL is
 * near, it is not renewable at all, or renewals keep failing), the app gets SIGTERM at about two
 * thirds of what is left, then SIGKILL after a grace period, and we exit with its code, so that
 * the container restarts with fresh credentials.
 */
import { MAX_TIMER_MS } from './config.ts';
import type { Logger } from './log.ts';
import type { Lease } from './resolve.ts';
import type { RunningApp } from './exec.ts';

export interface Renewable {
  /** For logs: "token" or "lease 1" (never the lease id, which names the credential). */
  readonly label: string;
  readonly ttlSeconds: number;
  /**
   * Renews; resolves to the new TTL in seconds. Absent for a credential that cannot be renewed
   * (a PKI certificate's lease): its expiry is treated like a max TTL.
   */
  readonly renew?: () => Promise<number>;
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
    // setTimeout fires at once beyond 2^31-1 ms (24.8 days), less than a year-long certificate.
    const step = Math.min(ms, MAX_TIMER_MS);
    const t = setTimeout(() => {
      timers.delete(t);
      if (ms > step) later(ms - step, fn);
      else fn();
    }, step);
    timers.add(t);
  };
  const terminate = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log.warn(`${why}; stopping the app so that it restarts with fresh credentials`);
    app.child.kill('SIGTERM');
    later(graceMs, () => app.child.kill('SIGKILL'));
  };
  const lastStretch = (r: Renewable, ttlSeconds: number, why: string): void => {
    log.info(`the ${r.label} ${why} in ${ttlSeconds}s`);
    later(ttlSeconds * 1000 * renewAt, () => terminate(`the ${r.label} ${why}`));
  };
  const schedule = (r: Renewable, ttlSeconds: number, expiresAt: number): void => {
    const { renew } = r;
    if (!renew) return lastStretch(r, ttlSeconds, 'cannot be renewed and expires');
    later(Math.max(1000, ttlSeconds * 1000 * renewAt), () => {
      renew().then(
        (ttl) => {
          log.debug(`renewed the ${r.label}`, { ttlSeconds: ttl });
          if (ttl <= 0) return terminate(`the ${r.label} can no longer be renewed`);
          // Capped by its max TTL: this is the last stretch.
          if (ttl < r.ttlSeconds * 0.95) return lastStretch(r, ttl, 'reaches its max TTL');
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

/** Renewables for the leases of the resolved secrets; a non-renewable one only expires. */
export function leaseRenewables(
  leases: readonly Lease[],
  renew: (lease: Lease) => Promise<number>,
): Renewable[] {
  return leases.map((lease, i) => ({
    label: `lease ${i + 1}`,
    ttlSeconds: lease.ttlSeconds,
    ...(lease.renewable ? { renew: () => renew(lease) } : {}),
  }));
}
