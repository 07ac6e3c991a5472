/**
 * The kubelet's `CredentialProviderConfig` (apiVersion `kubelet.config.k8s.io/v1`, YAML or JSON),
 * read and validated as kubelet validates it, so the file the nodes use works here unchanged.
 * Errors name the file and the provider, never an env value.
 */
import { parse as parseYaml } from 'yaml';
import { matchImageProblem } from './match.ts';
import { parseGoDuration } from './duration.ts';

export const CONFIG_API_VERSIONS = [
  'kubelet.config.k8s.io/v1',
  'kubelet.config.k8s.io/v1beta1',
] as const;
export const PLUGIN_API_VERSIONS = [
  'credentialprovider.kubelet.k8s.io/v1',
  'credentialprovider.kubelet.k8s.io/v1beta1',
] as const;

export interface CredentialProviderSpec {
  readonly name: string;
  readonly matchImages: readonly string[];
  readonly defaultCacheDurationMs: number;
  /** The request's and the response's apiVersion. */
  readonly apiVersion: string;
  readonly args: readonly string[];
  /** Added to the webhook's own environment, as kubelet adds them to its own. */
  readonly env: Readonly<Record<string, string>>;
}

export class CredentialProviderConfigError extends Error {
  readonly code = 'E_CREDENTIAL_PROVIDER_CONFIG';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CredentialProviderConfigError';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new CredentialProviderConfigError(`${what} is not a list of strings`);
  }
  return value;
}

function envOf(value: unknown, what: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!Array.isArray(value)) throw new CredentialProviderConfigError(`${what} is not a list`);
  const env: Record<string, string> = {};
  for (const [i, item] of value.entries()) {
    const name = isRecord(item) ? item['name'] : undefined;
    const val = isRecord(item) ? item['value'] : undefined;
    if (typeof name !== 'string' || name === '' || typeof val !== 'string') {
      throw new CredentialProviderConfigError(`${what}[${i}] needs a name and a string value`);
    }
    env[name] = val;
  }
  return env;
}

function providerOf(raw: unknown, index: number, seen: Set<string>): CredentialProviderSpec {
  const at = `providers[${index}]`;
  if (!isRecord(raw)) throw new CredentialProviderConfigError(`${at} is not an object`);
  const name = raw['name'];
  if (typeof name !== 'string' || name === '' || /[/\\]|^\.\.?$/.test(name)) {
    throw new CredentialProviderConfigError(`${at}: name must be a file name in the bin dir`);
  }
  const it = `provider "${name}"`;
  if (seen.has(name)) throw new CredentialProviderConfigError(`${it} is listed twice`);
  seen.add(name);
  const matchImages = stringList(raw['matchImages'], `${it}: matchImages`);
  if (matchImages.length === 0) {
    throw new CredentialProviderConfigError(`${it}: matchImages is required`);
  }
  for (const pattern of matchImages) {
    const problem = matchImageProblem(pattern);
    if (problem)
      throw new CredentialProviderConfigError(`${it}: matchImages "${pattern}" ${problem}`);
  }
  const duration = raw['defaultCacheDuration'];
  const defaultCacheDurationMs =
    typeof duration === 'string' ? parseGoDuration(duration) : undefined;
  if (defaultCacheDurationMs === undefined || defaultCacheDurationMs < 0) {
    throw new CredentialProviderConfigError(
      `${it}: defaultCacheDuration must be a duration such as "12h"`,
    );
  }
  const apiVersion = raw['apiVersion'];
  if (!PLUGIN_API_VERSIONS.some((v) => v === apiVersion)) {
    throw new CredentialProviderConfigError(
      `${it}: apiVersion must be one of ${PLUGIN_API_VERSIONS.join(', ')}`,
    );
  }
  if (raw['tokenAttributes'] !== undefined) {
    throw new CredentialProviderConfigError(
      `${it}: tokenAttributes (a pod's service account token) is not supported by the webhook`,
    );
  }
  return {
    name,
    matchImages,
    defaultCacheDurationMs,
    apiVersion: apiVersion as string,
    args: stringList(raw['args'], `${it}: args`),
    env: envOf(raw['env'], `${it}: env`),
  };
}

/** The providers of a config file's text; `file` names it in errors. */
export function parseCredentialProviderConfig(
  file: string,
  text: string,
): CredentialProviderSpec[] {
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (cause) {
    throw new CredentialProviderConfigError(`${file}: not valid YAML or JSON`, { cause });
  }
  try {
    if (!isRecord(parsed)) throw new CredentialProviderConfigError('not an object');
    if (parsed['kind'] !== 'CredentialProviderConfig') {
      throw new CredentialProviderConfigError('kind is not CredentialProviderConfig');
    }
    if (!CONFIG_API_VERSIONS.some((v) => v === parsed['apiVersion'])) {
      throw new CredentialProviderConfigError(
        `apiVersion is not ${CONFIG_API_VERSIONS.join(' or ')}`,
      );
    }
    const providers = parsed['providers'];
    if (!Array.isArray(providers) || providers.length === 0) {
      throw new CredentialProviderConfigError('providers is empty');
    }
    const seen = new Set<string>();
    return providers.map((raw, i) => providerOf(raw, i, seen));
  } catch (cause) {
    throw new CredentialProviderConfigError(`${file}: ${(cause as Error).message}`, { cause });
  }
}
