/**
 * Admission latency for a pod with three containers without `command` (one of them multi-arch),
 * the webhook's whole handler (decode, pull secrets, three registry lookups, mutation, patch)
 * against a local registry (distribution 2.8 on loopback, TLS, htpasswd): cold (a new webhook:
 * new connections, challenge, manifests, configs) and cached (the same webhook again). Measured
 * through `app.inject()`, so no HTTPS of our own is in the numbers; the registry's is.
 *
 *   node scripts/bench/admission-registry.ts [--rounds N]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { buildAdmissionApp } from '../../webhook/src/app.ts';
import { parseConfig, readFlags } from '../../webhook/src/config.ts';
import { createMetrics } from '../../webhook/src/metrics.ts';
import type { PullSecret } from '../../webhook/src/registry/oci/index.ts';
import { createRegistryLookup } from '../../webhook/src/registry/setup.ts';
import { startRegistry } from '../../test/env/registry.ts';

const roundsArg = process.argv.indexOf('--rounds');
const rounds = roundsArg !== -1 ? Number(process.argv[roundsArg + 1]) : 30;
const CACHED_PER_ROUND = 20;

function stats(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const fmt = (ms: number): string =>
    ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`;
  return `p50 ${fmt(at(0.5))}  p90 ${fmt(at(0.9))}  max ${fmt(sorted[sorted.length - 1] ?? NaN)}  (n=${sorted.length})`;
}

const registry = await startRegistry({ auth: 'htpasswd' });
const dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-bench-'));
try {
  await writeFile(path.join(dir, 'ca.crt'), registry.ca);
  await registry.pushImage('bench/web', 'v1', { entrypoint: ['/web'], cmd: ['serve'] });
  await registry.pushImage('bench/worker', 'v1', { entrypoint: ['/worker'], cmd: ['run'] });
  await registry.pushIndex('bench/multi', 'v1', [
    { architecture: 'amd64', entrypoint: ['/a'], cmd: ['x'] },
    { architecture: 'arm64', variant: 'v8', entrypoint: ['/b'], cmd: ['x'] },
  ]);
  const auth = Buffer.from(`${registry.admin.username}:${registry.admin.password}`).toString(
    'base64',
  );
  const secret: PullSecret = {
    metadata: { namespace: 'bench', name: 'regcred' },
    type: 'kubernetes.io/dockerconfigjson',
    data: {
      '.dockerconfigjson': Buffer.from(
        JSON.stringify({ auths: { [registry.host]: { auth } } }),
      ).toString('base64'),
    },
  };
  // In memory: the kube-apiserver reads are not what this measures.
  const secrets = {
    readSecrets: () => Promise.resolve([secret]),
    serviceAccountPullSecrets: () => Promise.resolve([]),
  };
  const config = parseConfig(
    readFlags(['--self-signed', `--registry-ca=${registry.host}=${path.join(dir, 'ca.crt')}`], {})
      .flags,
  );
  const env = [{ name: 'DB', value: 'vault:secret/data/db#password' }];
  const review = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'bench',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'bench',
      object: {
        metadata: { name: 'bench' },
        spec: {
          imagePullSecrets: [{ name: 'regcred' }],
          containers: ['web', 'worker', 'multi'].map((name) => ({
            name,
            image: `${registry.host}/bench/${name}:v1`,
            env,
          })),
        },
      },
    },
  });

  const cold: number[] = [];
  const cached: number[] = [];
  for (let i = 0; i < rounds; i += 1) {
    const metrics = createMetrics();
    const lookup = await createRegistryLookup(config.registry, { secrets, metrics });
    const app = buildAdmissionApp({
      deps: {
        config: config.injection,
        images: lookup.images,
        missingCommand: 'deny',
        logger: pino({ level: 'silent' }),
        metrics,
        deadlineMs: config.server.requestDeadlineMs,
      },
    });
    const once = async (): Promise<number> => {
      const t = performance.now();
      const res = await app.inject({
        method: 'POST',
        url: '/mutate',
        headers: { 'content-type': 'application/json' },
        payload: review,
      });
      const took = performance.now() - t;
      if (!(res.json() as { response: { patch?: string } }).response.patch) {
        throw new Error(`not mutated: ${res.body}`);
      }
      return took;
    };
    cold.push(await once());
    for (let j = 0; j < CACHED_PER_ROUND; j += 1) cached.push(await once());
    await app.close();
    lookup.close();
  }
  console.log(`admission, pod with 3 containers without command (htpasswd registry, TLS)`);
  console.log(`  cold    ${stats(cold)}`);
  console.log(`  cached  ${stats(cached)}`);
} finally {
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
}
