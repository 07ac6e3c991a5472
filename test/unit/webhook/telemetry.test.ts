// The telemetry app: /healthz fails until a certificate is loaded, /readyz fails while shutting
// down, /metrics exposes exactly the names docs/webhook.md lists under Operations (and with default
// metrics on, Node's process metrics beside them); build info, warnings, latency buckets around the
// deadline, lookup latency; the log shape and the audit line of a review.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { buildTelemetryApp } from '../../../webhook/src/app.ts';
import { createLogger } from '../../../webhook/src/log.ts';
import { timedLookups } from '../../../webhook/src/admission/timed-lookups.ts';
import { createMetrics } from '../../../webhook/src/metrics.ts';
import { VERSION } from '../../../webhook/src/version.ts';
import { harness, podReview, postReview } from './helpers.ts';

const METRICS = [
  'vault_inject_admission_duration_seconds',
  'vault_inject_admission_requests_total',
  'vault_inject_admission_warnings_total',
  'vault_inject_build_info',
  'vault_inject_connections_rejected_total',
  'vault_inject_registry_cache_hits_total',
  'vault_inject_registry_lookup_duration_seconds',
  'vault_inject_registry_lookups_total',
  'vault_inject_tls_certificate_expiry_timestamp_seconds',
];

const CANARY = 'canary-3f1c9a7e-value';

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

describe('observability', () => {
  it('build info: the version and the Node.js version, value 1', async () => {
    const text = await createMetrics().registry.metrics();
    assert.ok(
      text.includes(
        `vault_inject_build_info{version="${VERSION}",node_version="${process.version}"} 1\n`,
      ),
      text,
    );
  });

  it('review latency buckets lie around the deadline, the old ones kept', async () => {
    const text = await createMetrics({ deadlineMs: 4000 }).registry.metrics();
    const les = [
      ...text.matchAll(/vault_inject_admission_duration_seconds_bucket\{le="([^"]+)"\}/g),
    ].map((m) => m[1]);
    for (const le of ['0.0001', '0.01', '1', '2', '3', '3.6', '4', '5', '+Inf'])
      assert.ok(les.includes(le), `no bucket le="${le}" in ${les.join(', ')}`);
  });

  it('counts the warnings an admission response carries', async () => {
    const h = harness();
    const pod = {
      metadata: { name: 'p', annotations: { 'vault-inject.dev/containers': 'app,nope1,nope2' } },
      spec: {
        containers: [{ name: 'app', command: ['/a'], env: [{ name: 'A', value: 'vault:s/a#k' }] }],
      },
    };
    const res = await postReview(h, podReview(pod));
    const warnings = res.json().response.warnings as string[];
    assert.equal(warnings.length, 2);
    const text = await h.metrics.registry.metrics();
    assert.match(text, /^vault_inject_admission_warnings_total 2$/m);
  });

  it('times every registry lookup where the pipeline calls it, found or failed', async () => {
    const metrics = createMetrics({ registryTimeoutMs: 1000 });
    const found = timedLookups({ lookup: async () => ({ entrypoint: ['/e'], cmd: [] }) }, metrics);
    const failed = timedLookups({ lookup: async () => Promise.reject(new Error('no')) }, metrics);
    const signal = new AbortController().signal;
    await found.lookup({} as never, signal);
    await assert.rejects(failed.lookup({} as never, signal), /no/);
    const text = await metrics.registry.metrics();
    assert.match(
      text,
      /^vault_inject_registry_lookup_duration_seconds_count\{result="found"\} 1$/m,
    );
    assert.match(
      text,
      /^vault_inject_registry_lookup_duration_seconds_count\{result="failed"\} 1$/m,
    );
    assert.match(
      text,
      /vault_inject_registry_lookup_duration_seconds_bucket\{le="0.9",result="found"\}/,
    );
  });

  it('logs one shape: a string level, an ISO time, the message; no pid or host', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    createLogger('info', sink).warn({ code: 'E_X' }, 'something');
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    assert.deepEqual(Object.keys(line), ['level', 'time', 'code', 'msg']);
    assert.equal(line.level, 'warn');
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('the audit line names who created the pod and the role and auth path, never a value', async () => {
    const h = harness();
    const pod = {
      metadata: {
        name: 'shop',
        annotations: {
          'vault-inject.dev/role': 'shop-app',
          'vault-inject.dev/auth-path': 'k8s-east',
        },
      },
      spec: {
        containers: [
          {
            name: 'app',
            command: ['/a'],
            env: [
              { name: 'DB_PASSWORD', value: 'vault:secret/data/shop#password' },
              { name: 'LITERAL', value: CANARY },
            ],
          },
        ],
      },
    };
    const res = await postReview(
      h,
      podReview(pod, {
        uid: 'u-audit',
        userInfo: {
          username: 'system:serviceaccount:ci:deployer',
          groups: ['system:serviceaccounts'],
        },
      }),
    );
    assert.equal(res.json().response.allowed, true);
    assert.equal(h.logs.length, 1);
    const line = JSON.parse(h.logs[0] as string);
    assert.equal(line.msg, 'admission review');
    assert.equal(line.user, 'system:serviceaccount:ci:deployer');
    assert.equal(line.role, 'shop-app');
    assert.equal(line.authPath, 'k8s-east');
    assert.equal(line.authMethod, 'kubernetes');
    assert.deepEqual(line.containers, ['app']);
    for (const text of h.logs) assert.ok(!text.includes(CANARY), 'a value reached the log');
  });

  it('the audit line caps a hostile pod name and container list', async () => {
    const h = harness();
    const containers = Array.from({ length: 500 }, (_, i) => ({
      name: `c${i}`,
      command: ['/a'],
      env: [{ name: 'P', value: 'vault:secret/data/shop#password' }],
    }));
    const pod = { metadata: { name: 'n'.repeat(2 * 1024 * 1024) }, spec: { containers } };
    const res = await postReview(h, podReview(pod, { uid: 'u-hostile' }));
    assert.equal(res.json().response.allowed, true);
    assert.equal(h.logs.length, 1);
    assert.ok((h.logs[0] as string).length < 4096, `a log line of ${(h.logs[0] as string).length}`);
    const line = JSON.parse(h.logs[0] as string);
    assert.match(line.pod, /^n{253}… \(2096899 more characters\)$/);
    assert.equal(line.containers.length, 21);
    assert.equal(line.containers[20], '… and 480 more containers');
  });
});
