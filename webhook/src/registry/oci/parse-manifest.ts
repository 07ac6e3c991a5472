/**
 * What a manifest, an index and a config blob mean to us. Bodies are verified against their digest
 * before they are trusted, so a digest-keyed cache can keep them forever. What a container runs
 * from them is effective-command.ts.
 */
import { createHash } from 'node:crypto';
import { isIndexMediaType, isManifestMediaType, isSchema1MediaType } from './media-types.ts';
import type { IndexEntry, Platform } from './platform.ts';

/** The part of an image config this module keeps. */
export interface ImageConfig {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly platform: Partial<Platform>;
}

export type ParsedManifest =
  | { readonly kind: 'index'; readonly entries: readonly IndexEntry[] }
  | { readonly kind: 'manifest'; readonly configDigest: string }
  | { readonly kind: 'unsupported'; readonly mediaType: string };

export class ManifestFormatError extends Error {
  readonly code = 'E_MANIFEST_FORMAT';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ManifestFormatError';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(body: Buffer, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ManifestFormatError(`${what} is not valid JSON`, { cause: error });
  }
  if (!isRecord(parsed)) throw new ManifestFormatError(`${what} is not a JSON object`);
  return parsed;
}

/** `sha256:<hex>` of a body. */
export function digestOf(body: Buffer, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
}

/** Throws unless `body` hashes to `expected` (sha256 or sha512). */
export function verifyDigest(body: Buffer, expected: string, what: string): void {
  const algorithm = expected.slice(0, expected.indexOf(':'));
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new ManifestFormatError(`${what}: cannot verify digest algorithm "${algorithm}"`);
  }
  const actual = digestOf(body, algorithm);
  if (actual !== expected) {
    throw new ManifestFormatError(`${what}: content digest ${actual} does not match ${expected}`);
  }
}

function parseEntries(manifests: unknown): IndexEntry[] {
  if (!Array.isArray(manifests)) throw new ManifestFormatError('index has no "manifests" list');
  return manifests.filter(isRecord).flatMap((entry): IndexEntry[] => {
    const digest = entry['digest'];
    if (typeof digest !== 'string') return [];
    // An entry without `platform` stays without: containerd then reads the image config's.
    const platform = isRecord(entry['platform']) ? stringFields(entry['platform']) : undefined;
    const annotations = isRecord(entry['annotations']) ? entry['annotations'] : {};
    const stringsOnly = Object.fromEntries(
      Object.entries(annotations).filter((kv): kv is [string, string] => typeof kv[1] === 'string'),
    );
    return [
      {
        digest,
        ...(typeof entry['mediaType'] === 'string' ? { mediaType: entry['mediaType'] } : {}),
        ...(platform !== undefined ? { platform } : {}),
        annotations: stringsOnly,
      },
    ];
  });
}

function stringFields(platform: Record<string, unknown>): Partial<Platform> {
  const pick = (name: string): string | undefined =>
    typeof platform[name] === 'string' ? platform[name] : undefined;
  const os = pick('os');
  const architecture = pick('architecture');
  const variant = pick('variant');
  return {
    ...(os !== undefined ? { os } : {}),
    ...(architecture !== undefined ? { architecture } : {}),
    ...(variant !== undefined ? { variant } : {}),
  };
}

const isKnownMediaType = (type: string | undefined): boolean =>
  isIndexMediaType(type) || isManifestMediaType(type) || isSchema1MediaType(type);

/**
 * An index or a single-platform manifest. The media type comes from the body, else from the
 * response's Content-Type (Docker schema 2 bodies always carry it; OCI ones may not), else from
 * the shape: a registry or proxy may serve a body without `mediaType` as `application/json`,
 * `application/octet-stream` or with no Content-Type at all.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  const parsed = parseJson(body, 'manifest');
  const declared = typeof parsed['mediaType'] === 'string' ? parsed['mediaType'] : undefined;
  const served = contentType?.split(';')[0]?.trim().toLowerCase();
  const mediaType = declared ?? (isKnownMediaType(served) ? served : undefined);
  const looksLikeIndex = mediaType === undefined && Array.isArray(parsed['manifests']);
  if (isIndexMediaType(mediaType) || looksLikeIndex) {
    return { kind: 'index', entries: parseEntries(parsed['manifests']) };
  }
  const config = parsed['config'];
  if (isManifestMediaType(mediaType) || (mediaType === undefined && isRecord(config))) {
    return { kind: 'manifest', configDigest: configDigestOf(config) };
  }
  return { kind: 'unsupported', mediaType: unsupportedType(parsed, mediaType, served) };
}

function configDigestOf(config: unknown): string {
  if (!isRecord(config) || typeof config['digest'] !== 'string') {
    throw new ManifestFormatError('manifest has no config digest');
  }
  return config['digest'];
}

/** How an unsupported manifest is named in the error: its type, `schema 1`, or what was served. */
function unsupportedType(
  parsed: Record<string, unknown>,
  mediaType: string | undefined,
  served: string | undefined,
): string {
  if (isSchema1MediaType(mediaType) || parsed['schemaVersion'] === 1) {
    return mediaType ?? 'schema 1';
  }
  return mediaType ?? (served || 'unknown');
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new ManifestFormatError(`image config ${what} is not a list of strings`);
  }
  return value;
}

/** ENTRYPOINT, CMD and platform from an image config blob (OCI or Docker). */
export function parseImageConfig(body: Buffer): ImageConfig {
  const parsed = parseJson(body, 'image config');
  const config = isRecord(parsed['config']) ? parsed['config'] : {};
  return {
    entrypoint: stringList(config['Entrypoint'], 'Entrypoint'),
    cmd: stringList(config['Cmd'], 'Cmd'),
    platform: stringFields(parsed),
  };
}
