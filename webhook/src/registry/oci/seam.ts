/**
 * The bridge from the webhook's seam (`../image-config.ts`) to this lookup: reads the pull secrets
 * (the pod's, then its service account's), picks the platform from the pod's placement when the
 * pipeline passes it, and turns a RegistryError into the webhook's NO_COMMAND error (denied or
 * admitted with a warning by the pipeline's policy). Also maps lookup events to the metrics of
 * CONTRACT section 6.
 */
import { ErrorCode, WebhookError } from '../../errors.ts';
import { describeContainer } from '../../mutation/types.ts';
import type {
  ImageCommand,
  ImageConfigLookup as CommandLookup,
  ImageLookupRequest as SeamRequest,
} from '../image-config.ts';
import {
  credentialSourceFromSecret,
  type CredentialSource,
  type PullSecret,
} from './docker-config.ts';
import type { ImageConfigLookup, LookupEvent } from './lookup.ts';
import { platformForPod, type Platform, type PodPlacement } from './platform.ts';

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

/** What the pipeline may pass beyond the seam's request. */
export interface ExtendedSeamRequest extends SeamRequest {
  /** `spec.serviceAccountName` (default `default`). */
  readonly serviceAccountName?: string;
  /** `spec.nodeSelector` and `spec.affinity`: a pinned `kubernetes.io/arch` selects the platform. */
  readonly placement?: PodPlacement;
}

export interface RegistryCommandLookupOptions {
  readonly lookup: ImageConfigLookup;
  /** Without it only the webhook's default docker config is used. */
  readonly secrets?: PullSecretReader;
  /** The webhook's platform (default: the lookup's own, linux/amd64). */
  readonly platform?: Platform;
  /**
   * Escape `$` in ENTRYPOINT and CMD as `$$` (default true). The pipeline writes them into the
   * container's `args`, where kubelet expands `$(VAR)`; in the image they were never expanded.
   */
  readonly escapeForArgs?: boolean;
}

async function credentialSources(
  request: ExtendedSeamRequest,
  reader: PullSecretReader | undefined,
  signal: AbortSignal,
): Promise<CredentialSource[]> {
  if (reader === undefined) return [];
  const [podSecrets, saNames] = await Promise.all([
    reader.readSecrets(request.namespace, request.imagePullSecrets, signal),
    reader.serviceAccountPullSecrets(
      request.namespace,
      request.serviceAccountName ?? 'default',
      signal,
    ),
  ]);
  const fresh = saNames.filter((name) => !request.imagePullSecrets.includes(name));
  const saSecrets = await reader.readSecrets(request.namespace, fresh, signal);
  return [...podSecrets, ...saSecrets].flatMap((secret) => {
    try {
      return credentialSourceFromSecret(secret) ?? [];
    } catch {
      return []; // a malformed secret is skipped, as kubelet does
    }
  });
}

const escape = (value: string): string => value.replaceAll('$', '$$$$');

/** The seam implementation the webhook passes to its pipeline instead of `commandRequired`. */
export function registryCommandLookup(options: RegistryCommandLookupOptions): CommandLookup {
  const escapeForArgs = options.escapeForArgs ?? true;
  return {
    async lookup(request: ExtendedSeamRequest, signal: AbortSignal): Promise<ImageCommand> {
      try {
        const credentials = await credentialSources(request, options.secrets, signal);
        const platform =
          request.placement !== undefined && options.platform !== undefined
            ? platformForPod(request.placement, options.platform)
            : options.platform;
        const result = await options.lookup.lookup({
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
