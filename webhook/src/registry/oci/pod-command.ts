/**
 * The command a pod's container runs, looked up in its image's registry (`ImageCommandLookup` of
 * `../image-command.ts`): reads the pull secrets (the pod's, then its service account's), picks the
 * platform from the pod's placement, and turns a RegistryError into the webhook's NO_COMMAND error
 * (denied or admitted with a warning by the pipeline's policy). Also maps lookup events to the
 * registry metrics (docs/registry.md, Observability).
 *
 * Credentials go from the reader to the lookup and nowhere else: errors and events name the secret
 * a credential came from, never what it holds.
 */
import { ErrorCode, WebhookError } from '../../errors.ts';
import { describeContainer } from '../../mutation/types.ts';
import type { ImageCommand, ImageCommandLookup, ImageCommandRequest } from '../image-command.ts';
import {
  credentialSourceFromSecret,
  type CredentialSource,
  type CredentialSourceKind,
  type PullSecret,
} from './docker-config.ts';
import type { ImageConfigLookup } from './image-config-lookup.ts';
import type { LookupEvent } from './lookup-events.ts';
import { platformForPod, type Platform } from './platform.ts';

/** Kubernetes reads the webhook needs (RBAC: get secrets, get serviceaccounts). */
export interface PullSecretReader {
  /** The named Secrets of the namespace, in order; a missing or unreadable one is left out. */
  readSecrets(
    namespace: string,
    names: readonly string[],
    signal: AbortSignal,
  ): Promise<PullSecret[]>;
  /** The `imagePullSecrets` names of a service account; [] when it does not exist. */
  serviceAccountPullSecrets(
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<string[]>;
}

export interface RegistryCommandLookupOptions {
  /** The OCI lookup (only its `lookup` method is used, so a test may pass a stand-in). */
  readonly lookup: Pick<ImageConfigLookup, 'lookup'>;
  /** Without it only the webhook's default docker config is used. */
  readonly secrets?: PullSecretReader;
  /**
   * The webhook's platform (default: the lookup's own, linux/amd64). A pod whose placement pins
   * `kubernetes.io/arch` or `kubernetes.io/os` is looked up for that platform instead.
   */
  readonly platform?: Platform;
  /**
   * Escape `$` in ENTRYPOINT and CMD as `$$` (default true). The pipeline writes them into the
   * container's `args`, where kubelet expands `$(VAR)`; in the image they were never expanded.
   */
  readonly escapeForArgs?: boolean;
  /**
   * The lookup for a pod whose registries' certificates are not verified (`registry-skip-verify`):
   * a separate one, with caches of its own, so an answer it got never serves another pod.
   */
  readonly insecureLookup?: () => Pick<ImageConfigLookup, 'lookup'>;
}

async function readCredentialSources(
  request: ImageCommandRequest,
  reader: PullSecretReader,
  signal: AbortSignal,
): Promise<CredentialSource[]> {
  const none = Promise.resolve([]);
  const [podSecrets, saNames] = await Promise.all([
    request.imagePullSecrets.length > 0
      ? reader.readSecrets(request.namespace, request.imagePullSecrets, signal)
      : none,
    reader.serviceAccountPullSecrets(
      request.namespace,
      request.serviceAccountName || 'default',
      signal,
    ),
  ]);
  const fresh = saNames.filter((name) => !request.imagePullSecrets.includes(name));
  const saSecrets =
    fresh.length > 0 ? await reader.readSecrets(request.namespace, fresh, signal) : [];
  return [...sourcesOf(podSecrets, 'pod'), ...sourcesOf(saSecrets, 'service account')];
}

/** One keyring (CredentialSource.kind): the lookup tries its entries in kubelet's order. */
function sourcesOf(secrets: readonly PullSecret[], kind: CredentialSourceKind): CredentialSource[] {
  return secrets.flatMap((secret) => {
    try {
      const source = credentialSourceFromSecret(secret);
      return source === undefined ? [] : [{ ...source, kind }];
    } catch {
      return []; // a malformed secret is skipped, as kubelet does
    }
  });
}

const escape = (value: string): string => value.replaceAll('$', '$$$$');

/** The ImageCommandLookup the webhook passes to its pipeline. */
export function registryCommandLookup(options: RegistryCommandLookupOptions): ImageCommandLookup {
  const escapeForArgs = options.escapeForArgs ?? true;
  const reader = options.secrets;
  // The containers of one pod are looked up concurrently under the review's signal: they share
  // one read of the pull secrets. Keyed by that signal, so one review never waits on another's.
  const reads = new WeakMap<AbortSignal, Map<string, Promise<CredentialSource[]>>>();
  const credentialSources = (request: ImageCommandRequest, signal: AbortSignal) => {
    if (reader === undefined) return Promise.resolve([]);
    const key = JSON.stringify([
      request.namespace,
      request.serviceAccountName ?? '',
      request.imagePullSecrets,
    ]);
    let perReview = reads.get(signal);
    if (perReview === undefined) reads.set(signal, (perReview = new Map()));
    let read = perReview.get(key);
    if (read === undefined) {
      read = readCredentialSources(request, reader, signal);
      perReview.set(key, read);
    }
    return read;
  };
  return {
    async lookup(request: ImageCommandRequest, signal: AbortSignal): Promise<ImageCommand> {
      try {
        const credentials = await credentialSources(request, signal);
        const platform =
          request.placement !== undefined && options.platform !== undefined
            ? platformForPod(request.placement, options.platform)
            : options.platform;
        const insecure = request.insecureSkipVerify === true && options.insecureLookup;
        const lookup = insecure ? insecure() : options.lookup;
        const result = await lookup.lookup({
          image: request.image,
          credentials,
          signal,
          ...(platform !== undefined ? { platform } : {}),
        });
        const { entrypoint, cmd } = result.config;
        return escapeForArgs
          ? { entrypoint: entrypoint.map(escape), cmd: cmd.map(escape) }
          : { entrypoint, cmd };
      } catch (error) {
        // A Kubernetes read that got no answer (E_KUBERNETES_READ) denies the review as it is: it
        // is not the image's failure, and no registry failure policy admits it.
        if (error instanceof WebhookError) throw error;
        const why = error instanceof Error ? error.message : String(error);
        throw new WebhookError(
          ErrorCode.NO_COMMAND,
          `${describeContainer(request.container)} has no command and its image could not be looked up: ${why}`,
          { cause: error },
        );
      }
    },
  };
}

/** Counters shaped like prom-client's. */
export interface RegistryCounters {
  readonly registryLookups: { inc(labels: { result: string }): void };
  readonly registryCacheHits: { inc(): void };
}

/** An `onLookup` hook feeding vault_inject_registry_lookups_total and ..._cache_hits_total. */
export function registryMetricsHook(counters: RegistryCounters): (event: LookupEvent) => void {
  return (event) => {
    counters.registryLookups.inc({ result: event.result });
    if (event.cacheHit) counters.registryCacheHits.inc();
  };
}
