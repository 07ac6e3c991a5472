/**
 * The protocol walk for one credential: tag → digest (cache, a HEAD revalidation, or a GET whose
 * body is kept), index → the platform's manifest → the config blob. Every body is checked against
 * its digest before it is trusted or cached.
 */
import type { RegistryClient } from './client.ts';
import type { LookupContext } from './request-context.ts';
import type { LookupCache } from './lookup-cache.ts';
import { lookupError, type Prepared, type Resolved } from './lookup-types.ts';
import { MANIFEST_ACCEPT } from './media-types.ts';
import {
  digestOf,
  parseImageConfig,
  parseManifest,
  verifyDigest,
  type ParsedManifest,
} from './parse-manifest.ts';
import type { RegistryError } from './errors.ts';
import { formatPlatform, selectIndexEntry, type IndexEntry, type Platform } from './platform.ts';

/** containerd has no limit; a chain this deep is a loop or an error. */
const MAX_INDEX_DEPTH = 4;

interface Chosen {
  readonly manifest: ParsedManifest;
  readonly manifestDigest: string;
  readonly unplatformed: boolean;
  /** The index the manifest was chosen from. */
  readonly parent?: string;
}

/**
 * containerd's choice in an index: the best entry whose platform matches, else the first entry
 * without a platform (its image config says what it is), else none.
 */
function chooseEntry(entries: readonly IndexEntry[], wanted: Platform): IndexEntry | undefined {
  return selectIndexEntry(entries, wanted) ?? entries.find((e) => e.platform === undefined);
}

function noPlatform(p: Prepared, index: string, entries: readonly IndexEntry[]): RegistryError {
  const available = entries
    .map((e) => (e.platform?.os ? formatPlatform(e.platform as Platform) : 'unknown'))
    .filter((name) => name !== 'unknown/unknown');
  return lookupError(
    p,
    'no_matching_platform',
    `no ${formatPlatform(p.platform)} entry in ${index} (has: ${available.join(', ') || 'none'})`,
  );
}

/** A manifest from an entry without `platform` is used only if its config's os/architecture match. */
function checkConfigPlatform(p: Prepared, chosen: Chosen, platform: Partial<Platform>): void {
  // As containerd: the config's os and architecture only (normalised), not its variant.
  const { os, architecture } = platform;
  const entry = { digest: chosen.manifestDigest, platform: { os, architecture } };
  if (selectIndexEntry([entry], p.platform) !== undefined) return;
  const is =
    platform.os && platform.architecture ? formatPlatform(platform as Platform) : 'unknown';
  throw lookupError(
    p,
    'no_matching_platform',
    `no ${formatPlatform(p.platform)} entry in ${chosen.parent ?? chosen.manifestDigest} ` +
      `(its entry without platform, ${chosen.manifestDigest}, is ${is} by its image config)`,
  );
}

interface TopManifest {
  readonly digest: string;
  readonly body?: Buffer;
  readonly contentType?: string;
}

/** One credential's walk: its request context, the lookup and the identity its cache keys use. */
interface WalkStep {
  readonly ctx: LookupContext;
  readonly p: Prepared;
  readonly identity: string;
}

export class ManifestWalk {
  readonly #client: RegistryClient;
  readonly #cache: LookupCache;

  constructor(client: RegistryClient, cache: LookupCache) {
    this.#client = client;
    this.#cache = cache;
  }

  /** Tag → digest, using the cache, a HEAD revalidation, or a GET (whose body is kept). */
  async #digestForTag({ ctx, p, identity }: WalkStep): Promise<TopManifest> {
    const tag = p.ref.tag ?? 'latest';
    const fresh = this.#cache.digest(p, identity);
    if (fresh !== undefined) return { digest: fresh };
    if (this.#cache.staleDigest(p, identity) !== undefined) {
      const head = await this.#client.manifest(ctx, tag, 'HEAD', MANIFEST_ACCEPT);
      const digest = head.headers['docker-content-digest'];
      if (digest !== undefined && /^sha(256|512):[a-f0-9]+$/.test(digest)) {
        this.#cache.setDigest(p, identity, digest);
        return { digest };
      }
    }
    const response = await this.#client.manifest(ctx, tag, 'GET', MANIFEST_ACCEPT);
    const declared = response.headers['docker-content-digest'];
    if (declared !== undefined) verifyDigest(response.body, declared, 'manifest');
    const digest = declared ?? digestOf(response.body);
    this.#cache.setDigest(p, identity, digest);
    return { digest, body: response.body, contentType: response.headers['content-type'] };
  }

  /** The manifest the reference names, fetched by digest unless the tag's GET brought it. */
  async #topManifest(step: WalkStep): Promise<TopManifest> {
    const digest = step.p.ref.digest;
    return digest !== undefined ? { digest } : this.#digestForTag(step);
  }

  /**
   * An index's entry for the platform, as a manifest (through nested indexes); a manifest as it
   * is. `unplatformed`: the manifest came from an entry without `platform`, to be checked against
   * its image config.
   */
  async #platformManifest(step: WalkStep, top: TopManifest & { body: Buffer }): Promise<Chosen> {
    const { ctx, p } = step;
    let manifest = parseManifest(top.body, top.contentType);
    let chosen: Chosen = { manifest, manifestDigest: top.digest, unplatformed: false };
    for (let depth = 0; manifest.kind === 'index'; depth += 1) {
      if (depth === MAX_INDEX_DEPTH) {
        throw lookupError(
          p,
          'protocol',
          `${top.digest} nests indexes more than ${MAX_INDEX_DEPTH} deep`,
        );
      }
      const parent = chosen.manifestDigest;
      const entry = chooseEntry(manifest.entries, p.platform);
      if (entry === undefined) throw noPlatform(p, parent, manifest.entries);
      const child = await this.#client.manifest(ctx, entry.digest, 'GET', MANIFEST_ACCEPT);
      verifyDigest(child.body, entry.digest, 'platform manifest');
      manifest = parseManifest(child.body, child.headers['content-type']);
      chosen = {
        manifest,
        manifestDigest: entry.digest,
        unplatformed: entry.platform === undefined,
        parent,
      };
    }
    return chosen;
  }

  /** The image's config for the lookup's platform, with this step's credential. */
  async resolve(step: WalkStep): Promise<Resolved> {
    const { ctx, p, identity } = step;
    let top = await this.#topManifest(step);
    const cached = this.#cache.config(p, identity, top.digest);
    if (cached !== undefined) return cached;
    if (top.body === undefined) {
      const response = await this.#client.manifest(ctx, top.digest, 'GET', MANIFEST_ACCEPT);
      verifyDigest(response.body, top.digest, 'manifest');
      top = { ...top, body: response.body, contentType: response.headers['content-type'] };
    }
    const chosen = await this.#platformManifest(step, {
      ...top,
      body: top.body ?? Buffer.alloc(0),
    });
    const { manifest, manifestDigest } = chosen;
    if (manifest.kind !== 'manifest') {
      const type = manifest.kind === 'unsupported' ? manifest.mediaType : manifest.kind;
      throw lookupError(
        p,
        'protocol',
        `manifest type ${type} is not supported (push the image with an OCI or Docker schema 2 manifest)`,
      );
    }
    const blob = await this.#client.blob(ctx, manifest.configDigest);
    verifyDigest(blob.body, manifest.configDigest, 'image config');
    const config = parseImageConfig(blob.body);
    if (chosen.unplatformed) checkConfigPlatform(p, chosen, config.platform);
    const resolved = { digest: top.digest, manifestDigest, config };
    this.#cache.setConfig(p, identity, resolved);
    return resolved;
  }
}
