// Measures the webhook (never asserted in tests): handler time per review for a 3-container pod
// with 20 env vars each, in-process; then reviews per second over HTTPS keep-alive with autocannon
// against the server on 127.0.0.1. Usage: node scripts/bench/webhook.ts [seconds] [connections]
import { createRequire } from 'node:module';
import pino from 'pino';
import { handleReview } from '../../webhook/src/admission/handler.ts';
import { startWebhook } from '../../webhook/src/cli/webhook.ts';
import { injectionConfig, parseConfig, readFlags } from '../../webhook/src/config.ts';
import { createMetrics } from '../../webhook/src/metrics.ts';
import { commandRequired } from '../../webhook/src/registry/image-command.ts';
import { podOf, podReview } from '../../test/unit/webhook/helpers.ts';

// autocannon ships no types; this is the part of its API used here.
interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (
  options: Record<string, unknown>,
) => Promise<CannonResult>;

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 10);

function container(name: string) {
  const env = Array.from({ length: 20 }, (_, i) =>
    i % 4 === 0
      ? { name: `SECRET_${i}`, value: `vault:secret/data/${name}#key${i}` }
      : i % 4 === 1
        ? {
            name: `URL_${i}`,
            value: `postgres://\${vault:database/creds/${name}#username}:\${vault:database/creds/${name}#password}@db/x`,
          }
        : { name: `PLAIN_${i}`, value: `value-${i}` },
  );
  return {
    name,
    image: `registry.example/${name}:1`,
    command: [`/${name}`],
    args: ['--port', '8080'],
    env,
  };
}

const pod = podOf([container('app'), container('worker'), container('proxy')], {
  name: 'bench',
  namespace: 'bench',
  annotations: { 'vault-inject.dev/role': 'bench' },
});
const review = podReview(
  { ...pod, spec: { serviceAccountName: 'bench', ...pod.spec } },
  {
    uid: '00000000-0000-4000-8000-000000000001',
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: 'bench',
  },
);
const body = JSON.stringify(review);

// 1. Handler time: decode is done by the transport, so this is the handler's own work.
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
const N = 20_000;
const inputs = Array.from({ length: N }, parsed);
const times: number[] = [];
for (const input of inputs) {
  const t = performance.now();
  await handleReview(input, deps);
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
const mean = times.reduce((a, b) => a + b, 0) / N;
const pct = (p: number) => times[Math.min(N - 1, Math.floor(N * p))] ?? 0;
console.log(
  `handler: 3 containers x 20 env vars, ${N} reviews: mean ${mean.toFixed(3)} ms, p50 ${pct(0.5).toFixed(3)} ms, p99 ${pct(0.99).toFixed(3)} ms`,
);

// 2. Reviews per second over HTTPS keep-alive.
const config = parseConfig(
  readFlags(
    [
      '--self-signed',
      '--listen=127.0.0.1:0',
      '--telemetry-listen=127.0.0.1:0',
      '--shutdown-delay=0s',
      '--read-sources=false',
    ],
    {},
  ).flags,
);
const running = await startWebhook({ config, logger: pino({ level: 'silent' }) });
const result = await autocannon({
  url: `https://127.0.0.1:${running.admissionPort}/mutate`,
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body,
  connections,
  duration: seconds,
});
await running.stop();
console.log(
  `https keep-alive: ${connections} connections, ${seconds} s: ${Math.round(result.requests.average)} reviews/s (mean), ` +
    `latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}, errors ${result.errors}`,
);
