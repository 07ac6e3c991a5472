/**
 * The node's credential provider plugins, run for the images they match as kubelet runs them:
 * every provider whose `matchImages` matches, in the config's order; each answer cached by its
 * `cacheKeyType` (the image, its registry, or everything) for its `cacheDuration` (else the
 * provider's `defaultCacheDuration`; zero: not cached); identical runs in flight shared; each run
 * bounded by a timeout. A provider that cannot run, fails, hangs or prints garbage is an error
 * naming it and the reason: the lookup would otherwise go on without the node's credentials.
 */
import path from 'node:path';
import type { CredentialSource } from '../docker-config.ts';
import type { Clock } from '../lru.ts';
import type { CredentialProviderSpec } from './config.ts';
import { execPlugin, type PluginOutput, type PluginRunner } from './exec.ts';
import { matchesImage } from './match.ts';
import { parseProviderResponse, ProviderResponseError } from './response.ts';

export class CredentialProviderError extends Error {
  readonly code = 'E_CREDENTIAL_PROVIDER';
  readonly provider: string;
  constructor(provider: string, reason: string, options?: ErrorOptions) {
    super(`credential provider "${provider}" ${reason}`, options);
    this.name = 'CredentialProviderError';
    this.provider = provider;
  }
}

export interface CredentialProvidersOptions {
  readonly providers: readonly CredentialProviderSpec[];
  /** Where the plugin executables are (`--registry-credential-provider-bin-dir`). */
  readonly binDir: string;
  /** Per plugin run. */
  readonly timeoutMs: number;
  readonly runner?: PluginRunner;
  readonly now?: Clock;
}

interface CacheEntry {
  readonly source: CredentialSource;
  readonly expiresAt: number;
}

const GLOBAL_KEY = '*';
const MAX_CACHE_ENTRIES = 1000;

const registryOf = (image: string): string => image.split('/')[0] ?? image;

class Provider {
  readonly spec: CredentialProviderSpec;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #flights = new Map<string, Promise<CredentialSource>>();
  readonly #options: CredentialProvidersOptions;

  constructor(spec: CredentialProviderSpec, options: CredentialProvidersOptions) {
    this.spec = spec;
    this.#options = options;
  }

  matches(image: string): boolean {
    return this.spec.matchImages.some((pattern) => matchesImage(pattern, image));
  }

  #cached(image: string, now: number): CredentialSource | undefined {
    for (const key of [image, registryOf(image), GLOBAL_KEY]) {
      const entry = this.#cache.get(key);
      if (entry === undefined) continue;
      if (entry.expiresAt > now) return entry.source;
      this.#cache.delete(key);
    }
    return undefined;
  }

  credentials(image: string, signal: AbortSignal | undefined): Promise<CredentialSource> {
    const now = (this.#options.now ?? Date.now)();
    const cached = this.#cached(image, now);
    if (cached !== undefined) return Promise.resolve(cached);
    let flight = this.#flights.get(image);
    if (flight === undefined) {
      // The run is shared: bounded by its own timeout, never by one caller's signal (its answer
      // is cached for the others).
      flight = this.#run(image).finally(() => this.#flights.delete(image));
      this.#flights.set(image, flight);
    }
    return signal === undefined ? flight : this.#orAbandoned(flight, signal);
  }

  /** The flight's answer, or an error as soon as this caller's signal fires. */
  #orAbandoned(flight: Promise<CredentialSource>, signal: AbortSignal): Promise<CredentialSource> {
    const abandoned = (): CredentialProviderError =>
      new CredentialProviderError(this.spec.name, 'was not waited for: lookup abandoned');
    if (signal.aborted) return Promise.reject(abandoned());
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(abandoned());
      signal.addEventListener('abort', onAbort, { once: true });
      flight.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  async #run(image: string): Promise<CredentialSource> {
    const { spec } = this;
    const { timeoutMs, runner = execPlugin, binDir } = this.#options;
    const input = JSON.stringify({
      apiVersion: spec.apiVersion,
      kind: 'CredentialProviderRequest',
      image,
    });
    const file = path.join(binDir, spec.name);
    let output: PluginOutput;
    try {
      output = await runner({ file, args: spec.args, env: spec.env, input, timeoutMs });
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      const why = typeof code === 'string' ? code : 'error';
      throw new CredentialProviderError(spec.name, `could not be run from ${file} (${why})`, {
        cause,
      });
    }
    this.#check(output);
    let response;
    try {
      response = parseProviderResponse(spec.name, spec.apiVersion, output.stdout);
    } catch (cause) {
      const reason = cause instanceof ProviderResponseError ? cause.message : 'answered badly';
      throw new CredentialProviderError(spec.name, reason, { cause });
    }
    this.#store(image, response);
    return response.source;
  }

  #check(output: PluginOutput): void {
    const { name } = this.spec;
    if (output.timedOut) {
      throw new CredentialProviderError(
        name,
        `gave no answer within ${this.#options.timeoutMs} ms`,
      );
    }
    if (output.aborted) throw new CredentialProviderError(name, 'was stopped: lookup abandoned');
    if (output.tooLarge) throw new CredentialProviderError(name, 'printed more than 1 MiB');
    if (output.code !== 0) {
      const how = output.code === null ? 'was killed' : `exited with code ${output.code}`;
      throw new CredentialProviderError(name, how);
    }
  }

  #store(image: string, response: ReturnType<typeof parseProviderResponse>): void {
    const duration = response.cacheDurationMs ?? this.spec.defaultCacheDurationMs;
    if (duration <= 0) return;
    const key =
      response.cacheKeyType === 'Image'
        ? image
        : response.cacheKeyType === 'Registry'
          ? registryOf(image)
          : GLOBAL_KEY;
    const now = (this.#options.now ?? Date.now)();
    this.#cache.delete(key);
    this.#cache.set(key, { source: response.source, expiresAt: now + duration });
    if (this.#cache.size > MAX_CACHE_ENTRIES) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }
}

export class CredentialProviders {
  readonly #providers: readonly Provider[];

  constructor(options: CredentialProvidersOptions) {
    this.#providers = options.providers.map((spec) => new Provider(spec, options));
  }

  /**
   * The credentials of every provider matching `image` (`registry/repository`, no tag or digest,
   * as kubelet asks), in the config's order. Throws CredentialProviderError.
   */
  sources(image: string, signal?: AbortSignal): Promise<CredentialSource[]> {
    const matching = this.#providers.filter((provider) => provider.matches(image));
    return Promise.all(matching.map((provider) => provider.credentials(image, signal)));
  }
}
