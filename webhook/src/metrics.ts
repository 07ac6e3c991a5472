/**
 * Prometheus metrics, as docs/webhook.md lists them. Each app gets its own registry so tests can
 * build many; label values come from small fixed sets, never from a pod's content.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from './version.ts';

/** `result` label of vault_inject_admission_requests_total. */
export type ReviewResult =
  'mutated' | 'unchanged' | 'skipped' | 'denied' | 'failed_open' | 'invalid' | 'error';

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'operation' | 'result'>;
  readonly duration: Histogram;
  readonly warnings: Counter;
  readonly registryLookups: Counter<'result'>;
  readonly registryLookupDuration: Histogram<'result'>;
  readonly registryCacheHits: Counter;
  readonly certificateExpiry: Gauge;
  readonly connectionsRejected: Counter;
}

export interface MetricsOptions {
  /** Include Node process metrics (off in tests that build several registries). */
  readonly defaultMetrics?: boolean;
  /** `--request-deadline`: review latency buckets are placed around it. */
  readonly deadlineMs?: number;
  /** `--registry-timeout`: lookup latency buckets are placed around it. */
  readonly registryTimeoutMs?: number;
}

/** Fixed buckets plus fractions of `limitMs` (in seconds), sorted, without duplicates. */
function bucketsAround(fixed: readonly number[], limitMs: number): number[] {
  const around = [0.25, 0.5, 0.75, 0.9, 1, 1.25].map((f) => Math.round(f * limitMs) / 1000);
  return [...new Set([...fixed, ...around])].sort((a, b) => a - b);
}

const REVIEW_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];
const LOOKUP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

function buildInfo(registry: Registry): void {
  new Gauge({
    name: 'vault_inject_build_info',
    help: 'Always 1; the labels say which webhook runs on which Node.js.',
    labelNames: ['version', 'node_version'],
    registers: [registry],
  }).set({ version: VERSION, node_version: process.version }, 1);
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  buildInfo(registry);
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'vault_inject_admission_requests_total',
      help: 'Admission reviews answered, by operation and result.',
      labelNames: ['operation', 'result'],
      registers,
    }),
    duration: new Histogram({
      name: 'vault_inject_admission_duration_seconds',
      help: 'Time to answer one admission review (buckets around --request-deadline).',
      buckets: bucketsAround(REVIEW_BUCKETS, options.deadlineMs ?? 8000),
      registers,
    }),
    warnings: new Counter({
      name: 'vault_inject_admission_warnings_total',
      help: 'Warnings returned to the API server in admission responses.',
      registers,
    }),
    registryLookups: new Counter({
      name: 'vault_inject_registry_lookups_total',
      help: 'Image config lookups in a registry, by result.',
      labelNames: ['result'],
      registers,
    }),
    registryLookupDuration: new Histogram({
      name: 'vault_inject_registry_lookup_duration_seconds',
      help: 'Time to find the command of a container without one, by result (found or failed).',
      labelNames: ['result'],
      buckets: bucketsAround(LOOKUP_BUCKETS, options.registryTimeoutMs ?? 2000),
      registers,
    }),
    registryCacheHits: new Counter({
      name: 'vault_inject_registry_cache_hits_total',
      help: 'Image config lookups answered from the cache.',
      registers,
    }),
    certificateExpiry: new Gauge({
      name: 'vault_inject_tls_certificate_expiry_timestamp_seconds',
      help: 'Expiry of the serving certificate (Unix seconds).',
      registers,
    }),
    connectionsRejected: new Counter({
      name: 'vault_inject_connections_rejected_total',
      help: 'HTTPS connections closed on arrival because --max-connections were open.',
      registers,
    }),
  };
}

/** Operations as Kubernetes names them; anything else is counted as `OTHER`. */
export function operationLabel(op: unknown): string {
  return op === 'CREATE' || op === 'UPDATE' || op === 'DELETE' || op === 'CONNECT' ? op : 'OTHER';
}
