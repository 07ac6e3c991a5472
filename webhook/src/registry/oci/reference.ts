/**
 * Image references as Kubernetes and containerd read them (distribution's reference grammar), with
 * Docker Hub's normalisation:
 *
 *   nginx                          → docker.io/library/nginx:latest
 *   index.docker.io/foo/bar:1      → docker.io/foo/bar:1
 *   registry-1.docker.io/foo       → docker.io/foo:latest
 *   localhost:5000/app@sha256:…    → localhost:5000/app@sha256:…
 *   app:1.2@sha256:…               → the digest decides; the tag is kept for display only
 *
 * The first path component is a registry host when it holds a `.` or a `:`, is `localhost`, or is
 * a bracketed IPv6 address, and more components follow; otherwise the reference is on Docker Hub.
 */
import { RegistryError } from './errors.ts';

export const DOCKER_HUB = 'docker.io';
/** The host that serves Docker Hub's distribution API. */
const DOCKER_HUB_API = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

export interface ImageReference {
  /** Normalised registry: `docker.io`, `ghcr.io`, `localhost:5000`, `[::1]:5000`. Lowercase. */
  readonly registry: string;
  /** Repository path in the registry: `library/nginx`, `org/team/app`. */
  readonly repository: string;
  /** Tag; `latest` when neither tag nor digest was written. Absent for a digest-only reference. */
  readonly tag?: string;
  /** `sha256:<hex>` when the reference pins one. Resolution uses it and ignores the tag. */
  readonly digest?: string;
  /** What the pod wrote. */
  readonly original: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^(?<algorithm>[a-z0-9]+(?:[.+_-][a-z0-9]+)*):(?<hex>[A-Za-z0-9=_-]{32,})$/;
const KNOWN_DIGEST_LENGTH: Record<string, number> = { sha256: 64, sha512: 128 };
const HOST =
  /^(?:(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
const MAX_NAME_LENGTH = 255;

function invalid(original: string, reason: string): RegistryError {
  return new RegistryError('invalid_reference', { image: original, registry: '', reason });
}

function looksLikeHost(component: string): boolean {
  return (
    component.includes('.') ||
    component.includes(':') ||
    component === 'localhost' ||
    component.startsWith('[')
  );
}

/** Split `name[:tag][@digest]` into its parts; the tag's `:` is the last one after the last `/`. */
function splitNameTagDigest(original: string): {
  name: string;
  tag: string | undefined;
  digest: string | undefined;
} {
  let rest = original;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

function checkDigest(original: string, digest: string): void {
  const match = DIGEST.exec(digest);
  if (!match?.groups) throw invalid(original, `malformed digest "${digest}"`);
  const { algorithm = '', hex = '' } = match.groups;
  const length = KNOWN_DIGEST_LENGTH[algorithm];
  if (length === undefined) throw invalid(original, `unsupported digest algorithm "${algorithm}"`);
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) {
    throw invalid(original, `malformed ${algorithm} digest`);
  }
}

function splitRegistry(name: string): { registry: string; path: string } {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  if (slash !== -1 && looksLikeHost(first)) {
    const host = first.toLowerCase();
    return {
      registry: DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host,
      path: name.slice(slash + 1),
    };
  }
  return { registry: DOCKER_HUB, path: name };
}

function checkPath(original: string, registry: string, path: string): string[] {
  if (registry !== DOCKER_HUB && !HOST.test(registry)) {
    throw invalid(original, `malformed registry host "${registry}"`);
  }
  const components = path.split('/');
  if (!components.every((component) => COMPONENT.test(component))) {
    throw invalid(
      original,
      `malformed repository path "${path}" (lowercase letters, digits, separators)`,
    );
  }
  return components;
}

function checkNameTagDigest(original: string): ReturnType<typeof splitNameTagDigest> {
  if (original.trim() !== original || original === '') {
    throw invalid(original, 'empty or surrounded by spaces');
  }
  const parts = splitNameTagDigest(original);
  const { name, tag, digest } = parts;
  if (name.length > MAX_NAME_LENGTH) throw invalid(original, 'name longer than 255 characters');
  if (tag !== undefined && !TAG.test(tag)) throw invalid(original, `malformed tag "${tag}"`);
  if (digest !== undefined) checkDigest(original, digest);
  return parts;
}

/** Parse and normalise an image reference; throws RegistryError('invalid_reference'). */
export function parseImageReference(original: string): ImageReference {
  const { name, tag, digest } = checkNameTagDigest(original);
  const { registry, path } = splitRegistry(name);
  const components = checkPath(original, registry, path);
  const repository = registry === DOCKER_HUB && components.length === 1 ? `library/${path}` : path;
  return {
    registry,
    repository,
    ...(tag !== undefined || digest === undefined ? { tag: tag ?? 'latest' } : {}),
    ...(digest !== undefined ? { digest } : {}),
    original,
  };
}

/** The fully qualified form: `docker.io/library/nginx:1.27`, `host:5000/app@sha256:…`. */
export function formatImageReference(ref: ImageReference): string {
  const tag = ref.tag !== undefined ? `:${ref.tag}` : '';
  const digest = ref.digest !== undefined ? `@${ref.digest}` : '';
  return `${ref.registry}/${ref.repository}${tag}${digest}`;
}

/** The host[:port] that serves the distribution API for a normalised registry. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/**
 * A registry name as written in a docker config key or an options map, normalised like a reference:
 * `https://index.docker.io/v1/` → `docker.io`, `Registry.Example:5000/path` → `registry.example:5000`.
 */
export function normaliseRegistryHost(value: string): string {
  const withoutScheme = value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const host = (withoutScheme.split('/')[0] ?? '').toLowerCase();
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}
