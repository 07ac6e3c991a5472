// The webhook bench (never asserted in tests), ours beside Bank-Vaults' vault-secrets-webhook:
//  1. handler time per review, in-process (ours only: the peer's handler is not callable from here);
//  2. both servers as processes on 127.0.0.1 with the same certificate, driven one at a time with
//     the same AdmissionReview and the same generator (autocannon) in interleaved ABBA rounds:
//     reviews/s and server CPU per review (/proc/PID/stat), over HTTPS keep-alive and then with a
//     new TLS connection per request; RSS idle, after the load, and its peak;
//  3. with --soak SECONDS, ours alone at full rate for that long (10 s runs alternating both loads),
//     RSS sampled every 10 s, and a verdict on growth (exit 1 if it grows or a request fails).
//     `make bench-soak` runs 600 s.
//   node scripts/bench/webhook.ts [--rounds N] [--seconds S] [--connections C] [--soak S]
//        [--node-flags=FLAGS] [--node-env="K=V ..."] [--against-node-flags=FLAGS]
//        [--against-node-env="K=V ..."] [--no-peer]
// Ours runs with the node flags of Dockerfile.webhook's ENTRYPOINT and the Node/glibc variables of
// its ENV lines; --node-flags and --node-env replace them. --against-node-flags (and -env) put ours
// on the other side instead of Bank-Vaults, with those settings (none by default): before/after
// comparisons of memory settings, interleaved like the peer's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { handleReview } from '../../webhook/src/admission/handler.ts';
import { injectionConfig, readFlags } from '../../webhook/src/config.ts';
import { createMetrics } from '../../webhook/src/metrics.ts';
import { commandRequired } from '../../webhook/src/registry/image-command.ts';
import { describe, loadRun, type LoadOptions, type LoadResult } from './load.ts';
import { bankVaults, load, procStatus, report } from './proc.ts';
import { body } from './review.ts';
import {
  fixtures,
  shippedEnv,
  shippedNodeFlags,
  startBankVaults,
  startOurs,
  type Server,
} from './servers.ts';
import { compareLine, grows, median, quantile, roundOrder, type Side } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '10' },
    soak: { type: 'string', default: '0' },
    'node-flags': { type: 'string' },
    'node-env': { type: 'string' },
    'against-node-flags': { type: 'string' },
    'against-node-env': { type: 'string' },
    'no-peer': { type: 'boolean', default: false },
    'no-handler': { type: 'boolean', default: false },
  },
});
const rounds = Number(args.rounds);
const seconds = Number(args.seconds);
const connections = Number(args.connections);
const soakSeconds = Number(args.soak);
const flagList = (flags: string): string[] => flags.split(/\s+/).filter((f) => f !== '');
const envOf = (kvs: string): Record<string, string> =>
  Object.fromEntries(
    flagList(kvs).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
const nodeFlags =
  args['node-flags'] === undefined ? shippedNodeFlags() : flagList(args['node-flags']);
const nodeEnv = args['node-env'] === undefined ? shippedEnv() : envOf(args['node-env']);
const describeSettings = (flags: readonly string[], env: Record<string, string>): string =>
  [...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'node', ...flags].join(' ');

const mib = (kib: number): number => kib / 1024;
const line = (metric: string, values: { ours: number; theirs?: number }, unit: string, d = 1) => {
  console.log(`  ${compareLine(metric, values, unit, d)}`);
  report('webhook', metric, { ours: values.ours, peer: values.theirs }, unit);
};

console.log(
  `webhook bench: load average ${load()}; ours runs as: ${describeSettings(nodeFlags, nodeEnv)}`,
);
if (!args['no-handler']) await handlerTime();

const dir = mkdtempSync(join(tmpdir(), 'vault-inject-bench-webhook-'));
const servers: Partial<Record<Side, Server>> = {};
let failed = false;
try {
  const fx = fixtures(dir);
  servers.ours = await startOurs(fx, { nodeFlags, env: nodeEnv, name: 'vault-inject' });
  const against = args['against-node-flags'] ?? args['against-node-env'];
  const peer =
    args['no-peer'] || against !== undefined ? { why: '--no-peer' } : bankVaults('webhook');
  if (against !== undefined) {
    const flags = flagList(args['against-node-flags'] ?? '');
    const env = envOf(args['against-node-env'] ?? '');
    const name = `vault-inject as ${describeSettings(flags, env)}`;
    servers.theirs = await startOurs(fx, { nodeFlags: flags, env, name });
    console.log(`the other side is ${name}, not Bank-Vaults ("Bank-Vaults" below)`);
  } else if (peer.path) servers.theirs = await startBankVaults(peer.path, fx);
  else console.log(`Bank-Vaults vault-secrets-webhook: peer not available: ${peer.why}`);
  await memory('idle after start');

  if (soakSeconds > 0) failed = await soak(servers.ours, soakSeconds);
  else {
    await compare('https keep-alive', { seconds, connections, reconnect: false });
    await memory('after the keep-alive load');
    await compare('new TLS connection per request', { seconds, connections, reconnect: true });
    await memory('after both loads');
    const peak = rssOf('hwmKib');
    line('peak RSS', peak, 'MiB');
    await new Promise((r) => setTimeout(r, 5000));
    await memory('5 s after the load');
  }
} finally {
  await servers.ours?.stop();
  await servers.theirs?.stop();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`load average at the end: ${load()}`);
process.exitCode = failed ? 1 : 0;

/** RSS and its anonymous part on both sides; ours' V8 heap and external memory from /metrics. */
async function memory(when: string): Promise<void> {
  console.log(`\nmemory ${when}:`);
  const rss = rssOf();
  line(`RSS ${when}`, rss, 'MiB');
  const anon = rssOf('anonKib');
  line(`anonymous RSS ${when}`, anon, 'MiB');
  const url = servers.ours?.metricsUrl;
  if (!url) return;
  const text = await (await fetch(url)).text();
  const gauge = (name: string): number =>
    Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
  console.log(
    `  ours: V8 heap ${gauge('nodejs_heap_size_total_bytes').toFixed(1)} MiB (used ${gauge('nodejs_heap_size_used_bytes').toFixed(1)}), ` +
      `external ${gauge('nodejs_external_memory_bytes').toFixed(1)} MiB, the rest of the anonymous RSS is malloc'd by Node, OpenSSL and V8's threads`,
  );
}

function rssOf(field: 'rssKib' | 'hwmKib' | 'anonKib' = 'rssKib'): {
  ours: number;
  theirs?: number;
} {
  const ours = mib(procStatus((servers.ours as Server).pid)[field]);
  return servers.theirs ? { ours, theirs: mib(procStatus(servers.theirs.pid)[field]) } : { ours };
}

/** Interleaved rounds of the same load on each server; medians of the rounds, side by side. */
async function compare(label: string, options: LoadOptions): Promise<void> {
  const results: Record<Side, LoadResult[]> = { ours: [], theirs: [] };
  const withPeer = servers.theirs !== undefined;
  console.log(
    `\n${label}: ${rounds} rounds x ${options.seconds} s, ${options.connections} connections, ABBA order (load average ${load()})`,
  );
  // One short warm-up each (JIT, connection pools, Go's heap sizing), not counted.
  for (const side of roundOrder(0, withPeer))
    await loadRun(servers[side] as Server, { ...options, seconds: 2 });
  for (let round = 0; round < rounds; round++) {
    for (const side of roundOrder(round, withPeer)) {
      const r = await loadRun(servers[side] as Server, options);
      results[side].push(r);
      console.log(`  round ${round + 1} ${describe(side, r)}`);
    }
  }
  const both = (pick: (r: LoadResult) => number): { ours: number; theirs?: number } => {
    const ours = median(results.ours.map(pick));
    return results.theirs.length === 0
      ? { ours }
      : { ours, theirs: median(results.theirs.map(pick)) };
  };
  line(
    `${label}: reviews/s (median of rounds)`,
    both((r) => r.reviewsPerSecond),
    'reviews/s',
    0,
  );
  line(
    `${label}: server CPU per review`,
    both((r) => r.cpuMsPerReview),
    'ms',
    3,
  );
  line(
    `${label}: latency p99 (median of rounds)`,
    both((r) => r.p99),
    'ms',
    0,
  );
  const failures = [...results.ours, ...results.theirs].reduce((a, r) => a + r.failed, 0);
  console.log(`  failed requests over all rounds: ${failures}`);
  if (failures > 0) failed = true;
}

/**
 * Ours alone at full rate; RSS every 10 s; growth judged on the second half (after warm-up). The
 * 10 s runs alternate between the two loads of the comparison: keep-alive connections, and a new
 * TLS connection per request (the one that held the most memory before).
 */
async function soak(server: Server, total: number): Promise<boolean> {
  console.log(
    `\nsoak: ${total} s at full rate, ${connections} connections, ours alone; 10 s runs alternating ` +
      `keep-alive and a new TLS connection per request (load average ${load()})`,
  );
  const samples: { t: number; value: number }[] = [];
  const start = performance.now();
  let errors = 0;
  let requests = 0;
  for (let run = 0; (performance.now() - start) / 1000 < total - 1; run++) {
    const reconnect = run % 2 === 1;
    const r = await loadRun(server, { seconds: 10, connections, reconnect });
    errors += r.failed;
    requests += r.reviewsPerSecond * 10;
    const t = (performance.now() - start) / 1000;
    samples.push({ t, value: r.rssMib });
    console.log(
      `  t=${t.toFixed(0)} s ${reconnect ? 'new TLS' : 'keep-alive'} ${describe('ours', r)}`,
    );
  }
  const verdict = grows(samples, 1);
  const rss = samples.map((s) => s.value);
  const peak = mib(procStatus(server.pid).hwmKib);
  console.log(
    `soak: RSS min ${Math.min(...rss).toFixed(1)} MiB, median ${median(rss).toFixed(1)}, max ${Math.max(...rss).toFixed(1)}, peak ${peak.toFixed(1)}; ` +
      `second half ${verdict.perMinute.toFixed(2)} MiB/min, last ${verdict.last.toFixed(1)} vs first-half peak ${verdict.firstHalfPeak.toFixed(1)}: ` +
      `${verdict.grows ? 'GROWS' : 'no growth'}; ${Math.round(requests)} reviews, failed requests ${errors}; load average ${load()}`,
  );
  report('webhook', 'soak: RSS at the end', { ours: verdict.last }, 'MiB');
  report('webhook', 'soak: peak RSS', { ours: peak }, 'MiB');
  report(
    'webhook',
    'soak: RSS growth over the second half',
    { ours: verdict.perMinute },
    'MiB/min',
  );
  return verdict.grows || errors > 0;
}

/** Handler time: decode is done by the transport, so this is the handler's own work. */
async function handlerTime(): Promise<void> {
  const deps = {
    config: injectionConfig(readFlags([], {}).flags),
    images: commandRequired,
    missingCommand: 'deny' as const,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
    deadlineMs: 8000,
  };
  const parsed = () => JSON.parse(body) as unknown;
  for (let i = 0; i < 2000; i++) await handleReview(parsed(), deps);
  const n = 20_000;
  const inputs = Array.from({ length: n }, parsed);
  const times: number[] = [];
  for (const input of inputs) {
    const t = performance.now();
    await handleReview(input, deps);
    times.push(performance.now() - t);
  }
  const mean = times.reduce((a, b) => a + b, 0) / n;
  console.log(
    `handler (in-process, ours only): 3 containers x 20 env vars, ${n} reviews: mean ${mean.toFixed(3)} ms, ` +
      `p50 ${quantile(times, 0.5).toFixed(3)} ms, p99 ${quantile(times, 0.99).toFixed(3)} ms`,
  );
  report('webhook', 'handler time per review, in-process (no peer)', { ours: mean }, 'ms');
}
