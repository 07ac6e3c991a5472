/**
 * Image config lookup: reference → digest → (platform manifest) → config → the command Kubernetes
 * would run. Credentials are tried as kubelet tries them: every matching one in order, the next
 * after a 401/403 (registry or token service), the first that works wins; anonymous only when none
 * matches (kubelet never falls back to an anonymous pull). Caches, in memory and per credential
 * identity (a lookup answers only from data fetched with one of its own credentials):
 *   - tag → digest for `tagTtlMs` (short: tags move). When it expires and the config for the old
 *     digest is still cached, one HEAD revalidates it (HEAD does not count against Docker Hub's pull
 *     limit);
 *   - digest (+ platform) → config, forever, bounded by an LRU (content-addressed and verified).
 * Identical lookups in flight share one upstream operation. Every lookup is bounded by `timeoutMs`
 * and the caller's AbortSignal, and ends with one event (hook + log line) whatever happens.
 */
import { RegistryClient, type LookupContext } from './client.ts';
import {
  credentialLabel,
  findCredentials,
  type CredentialSource,
  type FoundCredential,
} from './docker-config.ts';
import { RegistryError, type RegistryErrorCode } from './errors.ts';
import { effectiveArgsField, effectiveCommand } from './effective-command.ts';
import {
  ManifestFormatError,
  digestOf,
  parseImageConfig,
  parseManifest,
  verifyDigest,
  type ImageConfig,
} from './parse-manifest.ts';
import { LruCache, type Clock } from './lru.ts';
import { MANIFEST_ACCEPT } from './media-types.ts';
import { DEFAULT_PLATFORM, formatPlatform, selectIndexEntry, type Platform } from './platform.ts';
import { formatImageReference, parseImageReference, type ImageReference } from './reference.ts';
import { SingleFlight } from './single-flight.ts';
import { createNodeTransport, type RegistryHosts, type Transport } from './transport.ts';

export const DEFAULT_TIMEOUT_MS = 2000;
export const DEFAULT_TAG_TTL_MS = 60_000;
export const DEFAULT_CONFIG_CACHE_SIZE = 1000;
export const DEFAULT_TAG_CACHE_SIZE = 1000;

/** A pino-compatible logger (only these two methods are used). */
export interface LookupLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** One per lookup, success or not. Never holds a credential. */
export interface LookupEvent {
  readonly image: string;
  /** Empty when the reference could not be parsed. */
  readonly registry: string;
  readonly digest?: string;
  readonly platform: string;
  /** Answered from the caches without any request. */
  readonly cacheHit: boolean;
  /** Joined a lookup already in flight instead of sending requests. */
  readonly shared: boolean;
  readonly durationMs: number;
  /** `success` or the error code: the `result` label of vault_inject_registry_lookups_total. */
  readonly result: 'success' | RegistryErrorCode;
  /** Requests this lookup sent (0 for a cache hit or a shared lookup). */
  readonly upstreamRequests: number;
  /**
   * The credential that answered (`pod secret team-a/regcred`, `service account secret team-a/sa`,
   * `default`, `anonymous`); after a failure, the last one tried; `none` for an invalid reference.
   */
  readonly credentialSource: string;
  /** Credentials tried with requests (0 for a cache hit); always set by ImageConfigLookup. */
  readonly credentialsTried?: number;
  readonly error?: RegistryError;
}

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
  /** Tried after the request's own sources: the webhook's default docker config. */
  readonly defaultCredentials?: readonly CredentialSource[];
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

interface Resolved {
  readonly digest: string;
  readonly manifestDigest: string;
  readonly config: ImageConfig;
}

interface Outcome {
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
interface FlightValue {
  readonly resolved: Resolved;
  readonly upstreamRequests: number;
  readonly winner: number;
  readonly tried: number;
}

interface Prepared {
  readonly ref: ImageReference;
  readonly platform: Platform;
  /** In kubelet's order; `[undefined]` (anonymous) when no credential matches. */
  readonly candidates: readonly (FoundCredential | undefined)[];
  /** How many candidates this lookup's flight got to, known even when it failed (for its event). */
  readonly attempt: { tried: number };
}

const identityOf = (credential: FoundCredential | undefined): string =>
  credential?.identity ?? 'anonymous';

export class ImageConfigLookup {
  readonly #timeoutMs: number;
  readonly #platform: Platform;
  readonly #defaults: readonly CredentialSource[];
  readonly #logger: LookupLogger | undefined;
  readonly #onLookup: ((event: LookupEvent) => void) | undefined;
  readonly #now: Clock;
  readonly #tags: LruCache<string, string>;
  readonly #configs: LruCache<string, Resolved>;
  readonly #flights = new SingleFlight<string, FlightValue>();
  /** How far each flight's sequence of credentials got, by flight key. */
  readonly #progress = new Map<string, { tried: number }>();
  readonly #client: RegistryClient;
  readonly #close: () => void;

  constructor(options: ImageLookupOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.#timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
    this.#platform = options.platform ?? DEFAULT_PLATFORM;
    this.#defaults = options.defaultCredentials ?? [];
    this.#logger = options.logger;
    this.#onLookup = options.onLookup;
    this.#now = options.now ?? Date.now;
    this.#tags = new LruCache({
      max: options.tagCacheSize ?? DEFAULT_TAG_CACHE_SIZE,
      ttlMs: options.tagTtlMs ?? DEFAULT_TAG_TTL_MS,
      now: this.#now,
    });
    this.#configs = new LruCache({ max: options.configCacheSize ?? DEFAULT_CONFIG_CACHE_SIZE });
    const hosts = options.hosts ?? {};
    let transport = options.transport;
    let close = (): void => undefined;
    if (transport === undefined) {
      const node = createNodeTransport({ hosts });
      transport = node;
      close = () => node.close();
    }
    this.#close = close;
    this.#client = new RegistryClient({ transport, hosts, now: this.#now });
  }

  /** Resolve an image to its config for the platform. Throws RegistryError. */
  async lookup(request: ImageLookupRequest): Promise<ImageLookupResult> {
    const started = performance.now();
    let prepared: Prepared | undefined;
    try {
      prepared = this.#prepare(request);
      const outcome = await this.#resolveShared(prepared, request.signal);
      this.#emit(request, prepared, started, outcome, undefined);
      return this.#result(prepared, outcome);
    } catch (error) {
      const failure = this.#convert(error, request.image, prepared);
      this.#emit(request, prepared, started, undefined, failure);
      throw failure;
    }
  }

  /**
   * The command a container without `command` runs, for the webhook to put after the init program.
   * Throws RegistryError, `no_entrypoint` when the image has neither ENTRYPOINT nor CMD and the
   * container no args.
   */
  async resolveCommand(request: CommandRequest): Promise<CommandResult> {
    const started = performance.now();
    let prepared: Prepared | undefined;
    let outcome: Outcome | undefined;
    try {
      prepared = this.#prepare(request);
      outcome = await this.#resolveShared(prepared, request.signal);
      const argv = effectiveCommand(outcome.resolved.config, request.args);
      if (argv.length === 0) {
        throw new RegistryError('no_entrypoint', {
          image: request.image,
          registry: prepared.ref.registry,
          reason: `${formatImageReference(prepared.ref)} (${outcome.resolved.digest}) sets neither; set command in the container`,
        });
      }
      this.#emit(request, prepared, started, outcome, undefined);
      return {
        ...this.#result(prepared, outcome),
        argv,
        argsField: effectiveArgsField(outcome.resolved.config, request.args),
      };
    } catch (error) {
      const failure = this.#convert(error, request.image, prepared);
      this.#emit(request, prepared, started, outcome, failure);
      throw failure;
    }
  }

  /** Close idle connections (the caches stay). */
  close(): void {
    this.#close();
  }

  #prepare(request: ImageLookupRequest): Prepared {
    const ref = parseImageReference(request.image);
    const sources = [...(request.credentials ?? []), ...this.#defaults];
    const found = findCredentials(sources, ref.registry, ref.repository);
    return {
      ref,
      platform: request.platform ?? this.#platform,
      candidates: found.length > 0 ? found : [undefined],
      attempt: { tried: 0 },
    };
  }

  #result(prepared: Prepared, outcome: Outcome): ImageLookupResult {
    return {
      reference: prepared.ref,
      digest: outcome.resolved.digest,
      manifestDigest: outcome.resolved.manifestDigest,
      config: outcome.resolved.config,
      platform: prepared.platform,
      cacheHit: outcome.cacheHit,
    };
  }

  #tagKey(p: Prepared, identity: string): string {
    return `${identity}|${p.ref.registry}/${p.ref.repository}:${p.ref.tag ?? ''}`;
  }

  #configKey(p: Prepared, identity: string, digest: string): string {
    return `${identity}|${p.ref.registry}/${p.ref.repository}@${digest}|${formatPlatform(p.platform)}`;
  }

  /**
   * A cached answer fetched with one of this lookup's own credentials (the first in order that has
   * one): any of them can read the image, so the pod can pull it.
   */
  #fromCache(p: Prepared): Outcome | undefined {
    for (const [winner, credential] of p.candidates.entries()) {
      const identity = identityOf(credential);
      const digest = p.ref.digest ?? this.#tags.get(this.#tagKey(p, identity));
      const cached =
        digest !== undefined ? this.#configs.get(this.#configKey(p, identity, digest)) : undefined;
      if (cached !== undefined) {
        return {
          resolved: cached,
          cacheHit: true,
          shared: false,
          upstreamRequests: 0,
          winner,
          tried: 0,
        };
      }
    }
    return undefined;
  }

  async #resolveShared(p: Prepared, callerSignal: AbortSignal | undefined): Promise<Outcome> {
    const hit = this.#fromCache(p);
    if (hit !== undefined) return hit;
    // One deadline for the whole sequence of credentials, not one per credential: for the caller's
    // wait here, and for the shared work in the flight.
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
    // The flight is keyed by every identity in order: only a lookup that would try exactly the same
    // credentials may share its answer (or its refusal).
    const identities = p.candidates.map(identityOf).join(',');
    const key = `${identities}|${formatImageReference(p.ref)}|${formatPlatform(p.platform)}`;
    const running = this.#flights.run(
      key,
      (flightSignal) => {
        const progress = { tried: 0 };
        this.#progress.set(key, progress);
        const sequence = AbortSignal.any([flightSignal, AbortSignal.timeout(this.#timeoutMs)]);
        return this.#trySequence(p, sequence, progress).finally(() => {
          if (this.#progress.get(key) === progress) this.#progress.delete(key);
        });
      },
      signal,
    );
    // The flight this caller started or joined (run() starts it synchronously): how far its
    // sequence got is known even to a caller that gives up before it ends.
    const progress = this.#progress.get(key);
    let value: FlightValue;
    let shared: boolean;
    try {
      ({ value, shared } = await running);
    } catch (error) {
      p.attempt.tried = progress?.tried ?? 0;
      throw error;
    }
    return {
      resolved: value.resolved,
      cacheHit: !shared && value.upstreamRequests === 0,
      shared,
      upstreamRequests: shared ? 0 : value.upstreamRequests,
      winner: value.winner,
      tried: value.tried,
    };
  }

  /**
   * Each candidate in turn until one answers. Only a refusal (401/403 from the registry or its token
   * service) moves on: another credential cannot change a missing tag, a timeout or a bad body.
   * Kubelet moves on after any failed pull; here the rest fail the same way.
   */
  async #trySequence(
    p: Prepared,
    signal: AbortSignal,
    progress: { tried: number },
  ): Promise<FlightValue> {
    const refused: RegistryError[] = [];
    let upstreamRequests = 0;
    for (const [index, credential] of p.candidates.entries()) {
      progress.tried = index + 1;
      const ctx: LookupContext = {
        ref: p.ref,
        credential,
        signal,
        timeoutMs: this.#timeoutMs,
        upstreamRequests: 0,
      };
      try {
        const resolved = await this.#resolve(ctx, p, identityOf(credential));
        upstreamRequests += ctx.upstreamRequests;
        return { resolved, upstreamRequests, winner: index, tried: index + 1 };
      } catch (error) {
        upstreamRequests += ctx.upstreamRequests;
        const refusal =
          credential !== undefined &&
          error instanceof RegistryError &&
          error.code === 'unauthorized';
        if (!refusal) throw error;
        refused.push(error);
      }
    }
    const n = refused.length;
    const failure = this.#error(
      p,
      'unauthorized',
      `${n} credential${n === 1 ? '' : 's'} tried, none accepted: ${refused.map((e) => e.reason).join('; ')}`,
      n === 1 ? refused[0] : new AggregateError(refused, `${n} credentials refused`),
    );
    throw failure;
  }

  /** Tag → digest, using the cache, a HEAD revalidation, or a GET (whose body is kept). */
  async #digestForTag(
    ctx: LookupContext,
    p: Prepared,
    identity: string,
  ): Promise<{ digest: string; body?: Buffer; contentType?: string }> {
    const tag = p.ref.tag ?? 'latest';
    const tagKey = this.#tagKey(p, identity);
    const fresh = this.#tags.get(tagKey);
    if (fresh !== undefined) return { digest: fresh };
    const stale = this.#tags.peekStale(tagKey);
    const staleConfig =
      stale === undefined
        ? undefined
        : this.#configs.peekStale(this.#configKey(p, identity, stale));
    if (stale !== undefined && staleConfig !== undefined) {
      const head = await this.#client.manifest(ctx, tag, 'HEAD', MANIFEST_ACCEPT);
      const digest = head.headers['docker-content-digest'];
      if (digest !== undefined && /^sha(256|512):[a-f0-9]+$/.test(digest)) {
        this.#tags.set(tagKey, digest);
        return { digest };
      }
    }
    const response = await this.#client.manifest(ctx, tag, 'GET', MANIFEST_ACCEPT);
    const declared = response.headers['docker-content-digest'];
    if (declared !== undefined) verifyDigest(response.body, declared, 'manifest');
    const digest = declared ?? digestOf(response.body);
    this.#tags.set(tagKey, digest);
    return { digest, body: response.body, contentType: response.headers['content-type'] };
  }

  async #resolve(ctx: LookupContext, p: Prepared, identity: string): Promise<Resolved> {
    let top: { digest: string; body?: Buffer; contentType?: string };
    top =
      p.ref.digest !== undefined
        ? { digest: p.ref.digest }
        : await this.#digestForTag(ctx, p, identity);
    const configKey = this.#configKey(p, identity, top.digest);
    const cached = this.#configs.get(configKey);
    if (cached !== undefined) return cached;

    if (top.body === undefined) {
      const response = await this.#client.manifest(ctx, top.digest, 'GET', MANIFEST_ACCEPT);
      verifyDigest(response.body, top.digest, 'manifest');
      top = { ...top, body: response.body, contentType: response.headers['content-type'] };
    }
    let manifest = parseManifest(top.body ?? Buffer.alloc(0), top.contentType);
    let manifestDigest = top.digest;
    if (manifest.kind === 'index') {
      const entry = selectIndexEntry(manifest.entries, p.platform);
      if (entry === undefined) {
        const available = manifest.entries
          .map((e) => (e.platform?.os ? formatPlatform(e.platform as Platform) : 'unknown'))
          .filter((name) => name !== 'unknown/unknown');
        throw this.#error(
          p,
          'no_matching_platform',
          `no ${formatPlatform(p.platform)} entry in ${top.digest} (has: ${available.join(', ') || 'none'})`,
        );
      }
      const child = await this.#client.manifest(ctx, entry.digest, 'GET', MANIFEST_ACCEPT);
      verifyDigest(child.body, entry.digest, 'platform manifest');
      manifest = parseManifest(child.body, child.headers['content-type']);
      manifestDigest = entry.digest;
      if (manifest.kind === 'index') {
        throw this.#error(p, 'protocol', `index ${top.digest} points to another index`);
      }
    }
    if (manifest.kind === 'unsupported') {
      throw this.#error(
        p,
        'protocol',
        `manifest type ${manifest.mediaType} is not supported (push the image with an OCI or Docker schema 2 manifest)`,
      );
    }
    const blob = await this.#client.blob(ctx, manifest.configDigest);
    verifyDigest(blob.body, manifest.configDigest, 'image config');
    const resolved = { digest: top.digest, manifestDigest, config: parseImageConfig(blob.body) };
    this.#configs.set(configKey, resolved);
    return resolved;
  }

  #error(p: Prepared, code: RegistryErrorCode, reason: string, cause?: unknown): RegistryError {
    return new RegistryError(
      code,
      { image: p.ref.original, registry: p.ref.registry, reason },
      cause === undefined ? undefined : { cause },
    );
  }

  #convert(error: unknown, image: string, p: Prepared | undefined): RegistryError {
    if (error instanceof RegistryError) return error;
    const details = { image, registry: p?.ref.registry ?? '' };
    if (error instanceof ManifestFormatError) {
      return new RegistryError('protocol', { ...details, reason: error.message }, { cause: error });
    }
    if (error instanceof Error && error.name === 'TimeoutError') {
      const reason = `no answer within ${this.#timeoutMs} ms`;
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

  #subjectFields(
    request: ImageLookupRequest,
    p: Prepared | undefined,
  ): Pick<LookupEvent, 'registry' | 'platform'> {
    return {
      registry: p?.ref.registry ?? '',
      platform: formatPlatform(p?.platform ?? request.platform ?? this.#platform),
    };
  }

  /** Which credential answered, or after a failure the last one tried, and how many were. */
  #credentialFields(
    p: Prepared | undefined,
    outcome: Outcome | undefined,
  ): Pick<LookupEvent, 'credentialSource' | 'credentialsTried'> {
    if (p === undefined) return { credentialSource: 'none', credentialsTried: 0 };
    if (outcome !== undefined) {
      return {
        credentialSource: credentialLabel(p.candidates[outcome.winner]),
        credentialsTried: outcome.tried,
      };
    }
    const { tried } = p.attempt;
    const last = p.candidates[Math.max(tried - 1, 0)];
    return { credentialSource: credentialLabel(last), credentialsTried: tried };
  }

  #emit(
    request: ImageLookupRequest,
    p: Prepared | undefined,
    started: number,
    outcome: Outcome | undefined,
    error: RegistryError | undefined,
  ): void {
    const fields = {
      image: request.image,
      ...this.#subjectFields(request, p),
      ...this.#credentialFields(p, outcome),
      ...outcomeFields(outcome),
      durationMs: Math.round((performance.now() - started) * 100) / 100,
      result: error?.code ?? 'success',
    } satisfies LookupEvent;
    this.#onLookup?.(error !== undefined ? { ...fields, error } : fields);
    if (error === undefined) {
      this.#logger?.info(fields, 'registry lookup');
    } else {
      const err = { code: error.code, message: error.message };
      this.#logger?.warn({ ...fields, err }, 'registry lookup failed');
    }
  }
}

function outcomeFields(
  outcome: Outcome | undefined,
): Pick<LookupEvent, 'digest' | 'cacheHit' | 'shared' | 'upstreamRequests'> {
  if (outcome === undefined) return { cacheHit: false, shared: false, upstreamRequests: 0 };
  return {
    digest: outcome.resolved.digest,
    cacheHit: outcome.cacheHit,
    shared: outcome.shared,
    upstreamRequests: outcome.upstreamRequests,
  };
}
