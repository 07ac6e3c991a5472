// The telemetry app: /healthz fails until a certificate is loaded, /readyz fails while shutting
// down, /metrics exposes exactly the names docs/webhook.md lists under Operations (and with default metrics
// on, Node's process metrics beside them).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildTelemetryApp } from '../../../webhook/src/app.ts';
import { createMetrics } from '../../../webhook/src/metrics.ts';
import { harness, podReview, postReview } from './helpers.ts';

const METRICS = [
  'vault_inject_admission_duration_seconds',
  'vault_inject_admission_requests_total',
  'vault_inject_connections_rejected_total',
  'vault_inject_registry_cache_hits_total',
  'vault_inject_registry_lookups_total',
  'vault_inject_tls_certificate_expiry_timestamp_seconds',
];

/** The metric families named in `# TYPE` lines of an exposition. */
function families(text: string): string[] {
  return text
    .split('\n')
    .flatMap((l) => /^# TYPE (\S+) /.exec(l)?.[1] ?? [])
    .sort();
}

describe('telemetry', () => {
  it('/healthz fails until a certificate is loaded; /readyz also fails from shutdown on', async () => {
    const state = { loaded: false, stopping: false };
    const app = buildTelemetryApp({
      registry: createMetrics().registry,
      state: { certificateLoaded: () => state.loaded, shuttingDown: () => state.stopping },
    });
    const status = async (url: string) => (await app.inject({ method: 'GET', url })).statusCode;
    assert.deepEqual([await status('/healthz'), await status('/readyz')], [503, 503]);
    state.loaded = true;
    assert.deepEqual([await status('/healthz'), await status('/readyz')], [200, 200]);
    state.stopping = true;
    assert.deepEqual([await status('/healthz'), await status('/readyz')], [200, 503]);
    await app.close();
  });

  it('/metrics: the documented names, exactly, in the Prometheus text format', async () => {
    const metrics = createMetrics();
    const app = buildTelemetryApp({
      registry: metrics.registry,
      state: { certificateLoaded: () => true, shuttingDown: () => false },
    });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.deepEqual(families(res.body), METRICS);
    assert.match(res.body, /# TYPE vault_inject_admission_duration_seconds histogram/);
    assert.match(res.body, /# TYPE vault_inject_admission_requests_total counter/);
    assert.match(res.body, /# TYPE vault_inject_tls_certificate_expiry_timestamp_seconds gauge/);
    await app.close();
  });

  it('with default metrics: Node process metrics beside ours, ours unchanged', async () => {
    const all = families(await createMetrics({ defaultMetrics: true }).registry.metrics());
    assert.deepEqual(
      all.filter((n) => n.startsWith('vault_inject_')),
      METRICS,
    );
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes'])
      assert.ok(all.includes(name), `${name} missing`);
    assert.ok(all.some((n) => n.startsWith('nodejs_')));
  });

  it('a review is counted by operation and result and timed', async () => {
    const h = harness();
    await postReview(
      h,
      podReview({ spec: { containers: [{ name: 'a', command: ['/a'] }] } }, { uid: 'u' }),
    );
    const text = await h.metrics.registry.metrics();
    assert.match(
      text,
      /^vault_inject_admission_requests_total\{operation="CREATE",result="unchanged"\} 1$/m,
    );
    assert.match(text, /^vault_inject_admission_duration_seconds_count 1$/m);
  });
});
