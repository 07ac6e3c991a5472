/**
 * Prometheus metrics (CONTRACT section 6). Each app gets its own registry so tests can build many;
 * label values come from small fixed sets, never from a pod's content.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** `result` label of vault_inject_admission_requests_total. */
export type ReviewResult =
  'mutated' | 'unchanged' | 'skipped' | 'denied' | 'failed_open' | 'invalid' | 'error';

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'operation' | 'result'>;
  readonly duration: Histogram;
  readonly registryLookups: Counter<'result'>;
  readonly registryCacheHits: Counter;
  readonly certificateExpiry: Gauge;
  readonly connectionsRejected: Counter;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'vault_inject_admission_requests_total',
      help: 'Admission reviews answered, by operation and result.',
      labelNames: ['operation', 'result'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'vault_inject_admission_duration_seconds',
      help: 'Time to answer one admission review.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    registryLookups: new Counter({
      name: 'vault_inject_registry_lookups_total',
      help: 'Image config lookups in a registry, by result.',
      labelNames: ['result'],
      registers: [registry],
    }),
    registryCacheHits: new Counter({
      name: 'vault_inject_registry_cache_hits_total',
      help: 'Image config lookups answered from the cache.',
      registers: [registry],
    }),
    certificateExpiry: new Gauge({
      name: 'vault_inject_tls_certificate_expiry_timestamp_seconds',
      help: 'Expiry of the serving certificate (Unix seconds).',
      registers: [registry],
    }),
    connectionsRejected: new Counter({
      name: 'vault_inject_connections_rejected_total',
      help: 'HTTPS connections closed on arrival because --max-connections were open.',
      registers: [registry],
    }),
  };
}

/** Operations as Kubernetes names them; anything else is counted as `OTHER`. */
export function operationLabel(op: unknown): string {
  return op === 'CREATE' || op === 'UPDATE' || op === 'DELETE' || op === 'CONNECT' ? op : 'OTHER';
}
