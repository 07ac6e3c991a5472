/**
 * The shapes an image config lookup takes and gives (public), and the state one lookup carries
 * between its parts (cache, credential order, manifest walk, events).
 */
import type { ProxyConfig } from '../../../../init-binary/src/contract/index.ts';
import type { CredentialProviders } from './credential-provider/providers.ts';
import type { CredentialSource, FoundCredential } from './docker-config.ts';
import { RegistryError, type RegistryErrorCode } from './errors.ts';
import type { LookupEvent, LookupLogger } from './lookup-events.ts';
import type { Clock } from './lru.ts';
import { ManifestFormatError, type ImageConfig } from './parse-manifest.ts';
import type { Platform } from './platform.ts';
import type { ImageReference } from './reference.ts';
import type { RegistryHosts, Transport } from './transport.ts';

export const DEFAULT_TIMEOUT_MS = 2000;
export const DEFAULT_TAG_TTL_MS = 60_000;
export const DEFAULT_CONFIG_CACHE_SIZE = 1000;
export const DEFAULT_TAG_CACHE_SIZE = 1000;

export interface ImageLookupOptions {
  /** Per lookup, requests and retries included. Default 2000. */
  readonly timeoutMs?: number;
  /** Platform when the request names none. Default linux/amd64. */
  readonly platform?: Platform;
  /** How long a tag → digest answer is trusted. Default 60 s. */
  readonly tagTtlMs?: number;
  readonly configCacheSize?: number;
  readonly tagCacheSize?: number;
  /** Per-registry CA bundle, skip-verify, plain HTTP. Keys: normalised hosts (`docker.io`, `r.example:5000`). */
  readonly hosts?: RegistryHosts;
  /** Verify no registry's certificate (transport.ts `skipVerify`). */
  readonly skipVerify?: boolean;
  /**
   * Only Bearer token realms on the registry's own host name (any port). Default false: Docker
   * Hub (auth.docker.io), GHCR and ECR issue tokens from another host.
   */
  readonly tokenRealmSameHost?: boolean;
  /** HTTPS_PROXY, HTTP_PROXY and NO_PROXY as read at start; absent: every registry direct. */
  readonly proxy?: ProxyConfig;
  /** Tried after the request's own sources: the webhook's default docker config. */
  readonly defaultCredentials?: readonly CredentialSource[];
  /** Tried after the default docker config: kubelet credential provider plugins. */
  readonly credentialProviders?: CredentialProviders;
  readonly logger?: LookupLogger;
  readonly onLookup?: (event: LookupEvent) => void;
  /** For tests: the HTTP layer and the clock. */
  readonly transport?: Transport;
  readonly now?: Clock;
}

export interface ImageLookupRequest {
  /** As written in the pod. */
  readonly image: string;
  /** In order: the pod's imagePullSecrets, then its service account's. The defaults follow. */
  readonly credentials?: readonly CredentialSource[];
  readonly platform?: Platform;
  readonly signal?: AbortSignal;
}

export interface ImageLookupResult {
  readonly reference: ImageReference;
  /** What the reference resolves to (an index or a manifest). */
  readonly digest: string;
  /** The manifest for the platform (equal to `digest` for a single-platform image). */
  readonly manifestDigest: string;
  readonly config: ImageConfig;
  readonly platform: Platform;
  readonly cacheHit: boolean;
}

export interface CommandRequest extends ImageLookupRequest {
  /** The container's `args`, if it sets them. */
  readonly args?: readonly string[] | null;
}

export interface CommandResult extends ImageLookupResult {
  /** What the container runs: ENTRYPOINT + (args or CMD). */
  readonly argv: readonly string[];
  /** The same, ready for a container's `args` field (image parts escaped against `$(VAR)`). */
  readonly argsField: readonly string[];
}

/** What the protocol walk yields and the config cache keeps. */
export interface Resolved {
  readonly digest: string;
  readonly manifestDigest: string;
  readonly config: ImageConfig;
}

/** How one lookup was answered. */
export interface Outcome {
  readonly resolved: Resolved;
  readonly cacheHit: boolean;
  readonly shared: boolean;
  readonly upstreamRequests: number;
  /** Index in `Prepared.candidates` of the credential that answered. */
  readonly winner: number;
  /** Credentials tried with requests. */
  readonly tried: number;
}

/** What one flight (the whole sequence of credentials) yields to everyone waiting on it. */
export interface FlightValue {
  readonly resolved: Resolved;
  readonly upstreamRequests: number;
  readonly winner: number;
  readonly tried: number;
}

/** One lookup, its reference parsed and its credentials found. */
export interface Prepared {
  readonly ref: ImageReference;
  readonly platform: Platform;
  /** In kubelet's order; `[undefined]` (anonymous) when no credential matches. */
  readonly candidates: readonly (FoundCredential | undefined)[];
  /** How many candidates this lookup's flight got to, known even when it failed (for its event). */
  readonly attempt: { tried: number };
}

export const identityOf = (credential: FoundCredential | undefined): string =>
  credential?.identity ?? 'anonymous';

/** A RegistryError about this lookup's image. */
export function lookupError(
  p: Prepared,
  code: RegistryErrorCode,
  reason: string,
  cause?: unknown,
): RegistryError {
  return new RegistryError(
    code,
    { image: p.ref.original, registry: p.ref.registry, reason },
    cause === undefined ? undefined : { cause },
  );
}

/** Whatever a lookup threw, as the RegistryError its caller and its event get. */
export function asLookupError(
  error: unknown,
  image: string,
  p: Prepared | undefined,
  timeoutMs: number,
): RegistryError {
  if (error instanceof RegistryError) return error;
  const details = { image, registry: p?.ref.registry ?? '' };
  if (error instanceof ManifestFormatError) {
    return new RegistryError('protocol', { ...details, reason: error.message }, { cause: error });
  }
  if (error instanceof Error && error.name === 'TimeoutError') {
    const reason = `no answer within ${timeoutMs} ms`;
    return new RegistryError('timeout', { ...details, reason }, { cause: error });
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return new RegistryError(
      'aborted',
      { ...details, reason: 'lookup abandoned by the caller' },
      { cause: error },
    );
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new RegistryError('protocol', { ...details, reason }, { cause: error });
}
