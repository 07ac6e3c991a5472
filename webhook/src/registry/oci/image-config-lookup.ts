/**
 * Image config lookup: reference → digest → (platform manifest) → config → the command Kubernetes
 * would run. The front of four parts:
 *   - credential-order.ts: which credentials, in kubelet's order, and when to move on;
 *   - manifest-walk.ts: the protocol walk for one credential (client.ts, auth/ below it);
 *   - lookup-cache.ts: tag → digest for `tagTtlMs`, digest (+ platform) → config in an LRU, both
 *     per credential identity;
 *   - lookup-events.ts: the one event (hook + log line) every lookup ends with.
 * Identical lookups in flight share one upstream operation (here). Every lookup is bounded by
 * `timeoutMs` and the caller's AbortSignal.
 */
import { RegistryClient } from './client.ts';
import { effectiveArgsField, effectiveCommand } from './effective-command.ts';
import { RegistryError } from './errors.ts';
import { prepareLookup, tryInOrder, type NodeCredentials } from './credential-order.ts';
import { LookupCache } from './lookup-cache.ts';
import { emitLookupEvent, type LookupEventSink } from './lookup-events.ts';
import {
  DEFAULT_CONFIG_CACHE_SIZE,
  DEFAULT_TAG_CACHE_SIZE,
  DEFAULT_TAG_TTL_MS,
  DEFAULT_TIMEOUT_MS,
  asLookupError,
  identityOf,
  type CommandRequest,
  type CommandResult,
  type FlightValue,
  type ImageLookupOptions,
  type ImageLookupRequest,
  type ImageLookupResult,
  type Outcome,
  type Prepared,
} from './lookup-types.ts';
import { ManifestWalk } from './manifest-walk.ts';
import { DEFAULT_PLATFORM, formatPlatform, type Platform } from './platform.ts';
import { formatImageReference } from './reference.ts';
import { SingleFlight } from './single-flight.ts';
import { createNodeTransport } from './transport.ts';

export class ImageConfigLookup {
  readonly #timeoutMs: number;
  readonly #platform: Platform;
  readonly #node: NodeCredentials;
  readonly #events: LookupEventSink;
  readonly #cache: LookupCache;
  readonly #walk: ManifestWalk;
  readonly #flights = new SingleFlight<string, FlightValue>();
  /** How far each flight's sequence of credentials got, by flight key. */
  readonly #progress = new Map<string, { tried: number }>();
  readonly #close: () => void;

  constructor(options: ImageLookupOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.#timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
    this.#platform = options.platform ?? DEFAULT_PLATFORM;
    this.#node = {
      defaults: options.defaultCredentials ?? [],
      providers: options.credentialProviders,
    };
    this.#events = {
      logger: options.logger,
      onLookup: options.onLookup,
      platform: this.#platform,
    };
    const now = options.now ?? Date.now;
    this.#cache = new LookupCache({
      tagTtlMs: options.tagTtlMs ?? DEFAULT_TAG_TTL_MS,
      tagCacheSize: options.tagCacheSize ?? DEFAULT_TAG_CACHE_SIZE,
      configCacheSize: options.configCacheSize ?? DEFAULT_CONFIG_CACHE_SIZE,
      now,
    });
    const hosts = options.hosts ?? {};
    let transport = options.transport;
    let close = (): void => undefined;
    if (transport === undefined) {
      const node = createNodeTransport({
        hosts,
        ...(options.proxy ? { proxy: options.proxy } : {}),
        ...(options.skipVerify ? { skipVerify: true } : {}),
      });
      transport = node;
      close = () => node.close();
    }
    this.#close = close;
    const realmSameHost = options.tokenRealmSameHost ?? false;
    const client = new RegistryClient({ transport, hosts, now, realmSameHost });
    this.#walk = new ManifestWalk(client, this.#cache);
  }

  /** Resolve an image to its config for the platform. Throws RegistryError. */
  async lookup(request: ImageLookupRequest): Promise<ImageLookupResult> {
    const started = performance.now();
    let prepared: Prepared | undefined;
    try {
      prepared = await prepareLookup(request, this.#node, this.#platform);
      const outcome = await this.#resolveShared(prepared, request.signal);
      emitLookupEvent(this.#events, { request, prepared, started, outcome, error: undefined });
      return this.#result(prepared, outcome);
    } catch (error) {
      const failure = asLookupError(error, request.image, prepared, this.#timeoutMs);
      emitLookupEvent(this.#events, {
        request,
        prepared,
        started,
        outcome: undefined,
        error: failure,
      });
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
      prepared = await prepareLookup(request, this.#node, this.#platform);
      outcome = await this.#resolveShared(prepared, request.signal);
      const argv = effectiveCommand(outcome.resolved.config, request.args);
      if (argv.length === 0) {
        throw new RegistryError('no_entrypoint', {
          image: request.image,
          registry: prepared.ref.registry,
          reason: `${formatImageReference(prepared.ref)} (${outcome.resolved.digest}) sets neither; set command in the container`,
        });
      }
      emitLookupEvent(this.#events, { request, prepared, started, outcome, error: undefined });
      return {
        ...this.#result(prepared, outcome),
        argv,
        argsField: effectiveArgsField(outcome.resolved.config, request.args),
      };
    } catch (error) {
      const failure = asLookupError(error, request.image, prepared, this.#timeoutMs);
      emitLookupEvent(this.#events, { request, prepared, started, outcome, error: failure });
      throw failure;
    }
  }

  /** Close idle connections (the caches stay). */
  close(): void {
    this.#close();
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

  /** One flight's whole sequence of credentials, under its own deadline. */
  #fly(p: Prepared, key: string, flightSignal: AbortSignal): Promise<FlightValue> {
    const progress = { tried: 0 };
    this.#progress.set(key, progress);
    const signal = AbortSignal.any([flightSignal, AbortSignal.timeout(this.#timeoutMs)]);
    const sequence = { p, signal, timeoutMs: this.#timeoutMs, progress };
    return tryInOrder(sequence, (ctx, identity) =>
      this.#walk.resolve({ ctx, p, identity }),
    ).finally(() => {
      if (this.#progress.get(key) === progress) this.#progress.delete(key);
    });
  }

  async #resolveShared(p: Prepared, callerSignal: AbortSignal | undefined): Promise<Outcome> {
    const hit = this.#cache.answer(p);
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
      (flightSignal) => this.#fly(p, key, flightSignal),
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
}
