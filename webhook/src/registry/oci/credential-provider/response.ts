/**
 * A plugin's `CredentialProviderResponse` (credentialprovider.kubelet.k8s.io/v1): `cacheKeyType`
 * (Image, Registry or Global; required), `cacheDuration` (a Go duration; absent: the provider's
 * `defaultCacheDuration`; `0`: not cached) and `auth` (matchImages-style keys →
 * username/password). Errors say what is wrong, never quote what the plugin printed.
 */
import { parseDockerConfigJson, type CredentialSource } from '../docker-config.ts';
import { parseGoDuration } from './duration.ts';

export type CacheKeyType = 'Image' | 'Registry' | 'Global';

export interface ProviderResponse {
  readonly cacheKeyType: CacheKeyType;
  /** undefined: the provider's default. */
  readonly cacheDurationMs: number | undefined;
  readonly source: CredentialSource;
}

export class ProviderResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderResponseError';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function authOf(value: unknown): Record<string, { username?: string; password?: string }> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new ProviderResponseError('"auth" is not an object');
  const auths: Record<string, { username?: string; password?: string }> = {};
  for (const [key, entry] of Object.entries(value)) {
    const username = isRecord(entry) ? entry['username'] : undefined;
    const password = isRecord(entry) ? entry['password'] : undefined;
    const valid = (v: unknown): boolean => v === undefined || typeof v === 'string';
    if (!isRecord(entry) || !valid(username) || !valid(password)) {
      throw new ProviderResponseError(`"auth" entry "${key}" is not {username, password}`);
    }
    auths[key] = {
      ...(typeof username === 'string' ? { username } : {}),
      ...(typeof password === 'string' ? { password } : {}),
    };
  }
  return auths;
}

/** Parses stdout of provider `name` that was sent `apiVersion`. */
export function parseProviderResponse(
  name: string,
  apiVersion: string,
  stdout: Buffer,
): ProviderResponse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout.toString('utf8'));
  } catch {
    throw new ProviderResponseError('printed something that is not JSON');
  }
  if (!isRecord(parsed) || parsed['kind'] !== 'CredentialProviderResponse') {
    throw new ProviderResponseError('printed no CredentialProviderResponse');
  }
  if (parsed['apiVersion'] !== apiVersion) {
    throw new ProviderResponseError(`answered another apiVersion than ${apiVersion}`);
  }
  const keyType = parsed['cacheKeyType'];
  if (keyType !== 'Image' && keyType !== 'Registry' && keyType !== 'Global') {
    throw new ProviderResponseError('cacheKeyType is not Image, Registry or Global');
  }
  const duration = parsed['cacheDuration'];
  let cacheDurationMs: number | undefined;
  if (duration !== undefined && duration !== null) {
    cacheDurationMs = typeof duration === 'string' ? parseGoDuration(duration) : undefined;
    if (cacheDurationMs === undefined) {
      throw new ProviderResponseError('cacheDuration is not a duration');
    }
  }
  const auths = authOf(parsed['auth']);
  const source = parseDockerConfigJson(name, JSON.stringify({ auths }));
  return {
    cacheKeyType: keyType,
    cacheDurationMs,
    source: { ...source, kind: 'credential provider' },
  };
}
