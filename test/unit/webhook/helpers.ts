// Shared test wiring: the webhook's dependencies with a fake Secret/ConfigMap reader, a fake
// registry behind the real seam adapter (images.json: what each image runs, or how its lookup
// fails), fake pull secrets and service accounts (cluster.json), and a pino logger whose lines the
// test can parse back.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { HandlerDeps } from '../../../webhook/src/admission/handler.ts';
import { buildAdmissionApp } from '../../../webhook/src/app.ts';
import { injectionConfig, readFlags, registryConfig } from '../../../webhook/src/config.ts';
import { createMetrics, type Metrics } from '../../../webhook/src/metrics.ts';
import type { SourceName, SourceReader } from '../../../webhook/src/mutation/sources.ts';
import type { Container, EnvVar, Pod } from '../../../webhook/src/mutation/types.ts';
import type { ImageCommandLookup as CommandLookup } from '../../../webhook/src/registry/image-command.ts';
import { findCredential } from '../../../webhook/src/registry/oci/docker-config.ts';
import {
  DEFAULT_PLATFORM,
  RegistryError,
  formatPlatform,
  parseImageReference,
  parsePlatform,
  registryCommandLookup,
  registryMetricsHook,
  type ImageConfigLookup,
  type ImageLookupRequest,
  type ImageLookupResult,
  type PullSecret,
  type PullSecretReader,
  type RegistryErrorCode,
} from '../../../webhook/src/registry/oci/index.ts';

export const FIXTURES = new URL('../../fixtures/admission/', import.meta.url);

export interface Cluster {
  secrets: Record<string, Record<string, string>>;
  configmaps: Record<string, Record<string, string>>;
  /** `namespace/name` → a pull secret: its type and its docker config (JSON, not yet encoded). */
  pullSecrets?: Record<string, { type: string; config: unknown }>;
  /** `namespace/name` → the service account's imagePullSecrets names. */
  serviceAccounts?: Record<string, string[]>;
}

/** What an image of the fake registry runs, per platform, or how its lookup fails. */
export interface FakeImage {
  entrypoint?: string[];
  cmd?: string[];
  /** A multi-arch image: `os/arch[/variant]` → its config. */
  platforms?: Record<string, { entrypoint?: string[]; cmd?: string[] }>;
  /** Answers only with a credential from this source (e.g. `secret apps/regcred`), else 401. */
  needs?: string;
  error?: { code: RegistryErrorCode; reason: string };
}

export const IMAGES: Record<string, FakeImage> = JSON.parse(
  readFileSync(new URL('images.json', FIXTURES), 'utf8'),
);

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

/** The fake pull secret reader: Secrets and service accounts from the cluster fixture. */
export function fakePullSecrets(cluster: Cluster): PullSecretReader & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    readSecrets(namespace, names) {
      return Promise.resolve(
        names.flatMap((name): PullSecret[] => {
          reads.push(`secret:${namespace}/${name}`);
          const found = cluster.pullSecrets?.[`${namespace}/${name}`];
          if (!found) return [];
          const key = found.type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson';
          const data = { [key]: Buffer.from(JSON.stringify(found.config)).toString('base64') };
          return [{ metadata: { namespace, name }, type: found.type, data }];
        }),
      );
    },
    serviceAccountPullSecrets(namespace, name) {
      reads.push(`serviceaccount:${namespace}/${name}`);
      return Promise.resolve(cluster.serviceAccounts?.[`${namespace}/${name}`] ?? []);
    },
  };
}

/**
 * A stand-in for the OCI lookup (the real one is tested against a real registry): answers from a
 * table, choosing the platform entry and checking the credential source as the real one would.
 */
export function fakeOciLookup(
  images: Record<string, FakeImage>,
): Pick<ImageConfigLookup, 'lookup'> & { requests: ImageLookupRequest[] } {
  const requests: ImageLookupRequest[] = [];
  return {
    requests,
    lookup(request) {
      requests.push(request);
      const reference = parseImageReference(request.image);
      const fail = (code: RegistryErrorCode, reason: string) =>
        Promise.reject(
          new RegistryError(code, { image: request.image, registry: reference.registry, reason }),
        );
      const image = images[request.image];
      if (!image) return fail('not_found', 'HTTP 404 for the manifest (MANIFEST_UNKNOWN)');
      if (image.error) return fail(image.error.code, image.error.reason);
      const found = findCredential(
        request.credentials ?? [],
        reference.registry,
        reference.repository,
      );
      if (image.needs !== undefined && found?.source !== image.needs) {
        return fail('unauthorized', `HTTP 401 (credentials from ${found?.source ?? 'none'})`);
      }
      const platform = request.platform ?? DEFAULT_PLATFORM;
      const config = image.platforms ? image.platforms[formatPlatform(platform)] : image;
      if (!config) return fail('no_matching_platform', `no ${formatPlatform(platform)} entry`);
      const result: ImageLookupResult = {
        reference,
        digest: `sha256:${'0'.repeat(64)}`,
        manifestDigest: `sha256:${'0'.repeat(64)}`,
        config: { entrypoint: config.entrypoint ?? [], cmd: config.cmd ?? [], platform },
        platform,
        cacheHit: false,
      };
      return Promise.resolve(result);
    },
  };
}

export interface Harness {
  deps: HandlerDeps;
  metrics: Metrics;
  logs: string[];
  /** What the fake registry was asked. */
  lookups: ImageLookupRequest[];
}

export function harness(
  flags: Record<string, string> = {},
  reader?: SourceReader,
  images: Record<string, FakeImage> = IMAGES,
): Harness {
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
  const parsed = readFlags(argv, {}).flags;
  const config = injectionConfig(parsed);
  const registry = registryConfig(parsed);
  const metrics = createMetrics();
  const oci = fakeOciLookup(images);
  const onLookup = registryMetricsHook(metrics);
  const lookup: Pick<ImageConfigLookup, 'lookup'> = {
    // The real lookup reports every lookup to its hook; so does the stand-in.
    lookup: (request) =>
      oci.lookup(request).then(
        (result) => (onLookup(event(request, 'success')), result),
        (err: RegistryError) => {
          onLookup(event(request, err.code));
          throw err;
        },
      ),
  };
  const imagesLookup: CommandLookup = registryCommandLookup({
    lookup,
    secrets: fakePullSecrets(CLUSTER),
    platform: parsePlatform(registry.platform),
  });
  const deps: HandlerDeps = {
    config,
    sources: reader ?? fakeReader(CLUSTER),
    images: imagesLookup,
    missingCommand: registry.failurePolicy,
    logger: pino({ level: 'trace' }, sink),
    metrics,
    deadlineMs: 2000,
  };
  return { deps, metrics, logs, lookups: oci.requests };
}

function event(request: ImageLookupRequest, result: 'success' | RegistryErrorCode) {
  return {
    image: request.image,
    registry: '',
    platform: formatPlatform(request.platform ?? DEFAULT_PLATFORM),
    cacheHit: false,
    shared: false,
    durationMs: 0,
    result,
    upstreamRequests: 0,
    credentialSource: 'none',
  };
}

export function admissionApp(h: Harness) {
  return buildAdmissionApp({ deps: h.deps });
}

/**
 * An AdmissionReview v1 for a Pod CREATE, as the kube-apiserver sends it: `fields` (uid, namespace,
 * dryRun, resource, ...) are set beside the defaults and may replace them, `object` among them.
 */
export function podReview(object: unknown, fields: Record<string, unknown> = {}) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u-1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      object,
      ...fields,
    },
  };
}

/** A Pod named `p` (or as `metadata` says) that runs these containers. */
export function podOf(containers: unknown[], metadata: Record<string, unknown> = { name: 'p' }) {
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers } };
}

/**
 * A pod `p` in namespace `apps` (service account `app`) whose container `app` reads one reference
 * (`DB`) plus `env`; then `containers`; `spec` over the rest.
 */
export function appPod(
  annotations: Record<string, string> = {},
  more: { env?: EnvVar[]; containers?: Container[]; spec?: Partial<Pod['spec']> } = {},
): Pod {
  const { env = [], containers = [], spec = {} } = more;
  const app: Container = {
    name: 'app',
    image: 'registry.example/app:1',
    command: ['/app'],
    env: [{ name: 'DB', value: 'vault:secret/data/app#db' }, ...env],
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'apps', annotations },
    spec: { serviceAccountName: 'app', containers: [app, ...containers], ...spec },
  };
}

/** One review through an admission app of its own, closed once it has answered. */
export async function postReview(h: Harness, payload: object) {
  const app = admissionApp(h);
  try {
    return await app.inject({ method: 'POST', url: '/mutate', payload });
  } finally {
    await app.close();
  }
}

export function decodePatch(patch: string | undefined): unknown[] {
  return patch === undefined
    ? []
    : (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as unknown[]);
}
