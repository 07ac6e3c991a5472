// Shared test wiring: the webhook's dependencies with a fake Secret/ConfigMap reader and a pino
// logger whose lines the test can parse back.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { HandlerDeps } from '../../../webhook/src/admission/handler.ts';
import { buildAdmissionApp } from '../../../webhook/src/app.ts';
import { injectionConfig, readFlags } from '../../../webhook/src/config.ts';
import { createMetrics, type Metrics } from '../../../webhook/src/metrics.ts';
import type { SourceName, SourceReader } from '../../../webhook/src/mutation/sources.ts';
import { commandRequired } from '../../../webhook/src/registry/image-config.ts';

export const FIXTURES = new URL('../../fixtures/admission/', import.meta.url);

export interface Cluster {
  secrets: Record<string, Record<string, string>>;
  configmaps: Record<string, Record<string, string>>;
}

export const CLUSTER: Cluster = JSON.parse(readFileSync(new URL('cluster.json', FIXTURES), 'utf8'));

/** The fake reader: `namespace/name` keys; `forbidden` names reject like an RBAC denial. */
export function fakeReader(
  cluster: Cluster,
  forbidden: readonly string[] = [],
): SourceReader & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    read(namespace: string, s: SourceName) {
      const id = `${namespace}/${s.name}`;
      reads.push(`${s.kind}:${id}`);
      if (forbidden.includes(id))
        return Promise.reject(Object.assign(new Error('forbidden: body'), { code: 403 }));
      const table = s.kind === 'secret' ? cluster.secrets : cluster.configmaps;
      return Promise.resolve(table[id]);
    },
  };
}

export interface Harness {
  deps: HandlerDeps;
  metrics: Metrics;
  logs: string[];
}

export function harness(flags: Record<string, string> = {}, reader?: SourceReader): Harness {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  const argv = Object.entries(flags).map(([k, v]) => `--${k}=${v}`);
  const config = injectionConfig(readFlags(argv, {}).flags);
  const metrics = createMetrics();
  const deps: HandlerDeps = {
    config,
    sources: reader ?? fakeReader(CLUSTER),
    images: commandRequired,
    missingCommand: 'deny',
    logger: pino({ level: 'trace' }, sink),
    metrics,
    deadlineMs: 2000,
  };
  return { deps, metrics, logs };
}

export function admissionApp(h: Harness) {
  return buildAdmissionApp({ deps: h.deps });
}

export function decodePatch(patch: string | undefined): unknown[] {
  return patch === undefined
    ? []
    : (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as unknown[]);
}
