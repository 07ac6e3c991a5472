// One load run against one webhook server, with the server's CPU time read from /proc/PID/stat
// before and after. The same generator, options and review for both servers: autocannon over
// keep-alive connections; for a new TLS connection per request, a closed loop of node:https requests
// without an agent (autocannon's reconnectRate drops the answer that ends each connection from its
// counts, so it cannot measure this).
import { request } from 'node:https';
import { createRequire } from 'node:module';
import { TICKS_PER_SECOND, procStat, procStatus } from './proc.ts';
import type { Server } from './servers.ts';
import { body } from './review.ts';
import { cpuMsPer, quantile } from './stats.ts';

// autocannon ships no types; this is the part of its API used here.
interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (
  options: Record<string, unknown>,
) => Promise<CannonResult>;

export interface LoadOptions {
  readonly seconds: number;
  readonly connections: number;
  /** A new TLS connection for every request (as some API server clients do). */
  readonly reconnect: boolean;
}

export interface LoadResult {
  readonly reviewsPerSecond: number;
  readonly cpuMsPerReview: number;
  readonly p50: number;
  readonly p99: number;
  readonly failed: number;
  readonly rssMib: number;
}

export async function loadRun(server: Server, options: LoadOptions): Promise<LoadResult> {
  const before = procStat(server.pid);
  const r = options.reconnect
    ? await freshConnections(server.url, options)
    : await autocannon({
        url: server.url,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections: options.connections,
        duration: options.seconds,
      });
  const after = procStat(server.pid);
  const ok = r.requests.total - r.non2xx;
  return {
    reviewsPerSecond: ok / (r.duration || options.seconds),
    cpuMsPerReview: cpuMsPer(before, after, ok, TICKS_PER_SECOND),
    p50: r.latency.p50,
    p99: r.latency.p99,
    failed: r.non2xx + r.errors + r.timeouts,
    rssMib: procStatus(server.pid).rssKib / 1024,
  };
}

export const describe = (name: string, r: LoadResult): string =>
  `${name}: ${r.reviewsPerSecond.toFixed(0)} reviews/s, CPU ${r.cpuMsPerReview.toFixed(3)} ms/review, ` +
  `p50 ${r.p50} ms, p99 ${r.p99} ms, failed ${r.failed}, RSS ${r.rssMib.toFixed(1)} MiB`;

/** `connections` loops, each posting the review on a new TLS connection until the time is up. */
async function freshConnections(url: string, options: LoadOptions): Promise<CannonResult> {
  const end = performance.now() + options.seconds * 1000;
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const started = performance.now();
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const t = performance.now();
      const status = await postOnce(url).catch(() => 0);
      if (status === 0) errors++;
      else if (status !== 200) non2xx++;
      else latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: options.connections }, loop));
  const duration = (performance.now() - started) / 1000;
  const total = latencies.length + non2xx;
  return {
    requests: { average: total / duration, total },
    latency: {
      p50: Math.round(quantile(latencies, 0.5)),
      p99: Math.round(quantile(latencies, 0.99)),
    },
    non2xx,
    errors,
    timeouts: 0,
    duration,
  };
}

function postOnce(url: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        rejectUnauthorized: false,
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end(body);
  });
}
