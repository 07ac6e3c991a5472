/**
 * Registry credentials from docker config files, as kubelet reads image pull secrets:
 * `kubernetes.io/dockerconfigjson` (`{"auths": {KEY: ENTRY}}`) and the legacy
 * `kubernetes.io/dockercfg` (`{KEY: ENTRY}`). ENTRY holds `auth` (base64 `user:password`) or
 * `username`/`password`, optionally `identitytoken` (an OAuth2 refresh token) or `registrytoken`
 * (a bearer token used as is).
 *
 * KEY matching follows kubelet's keyring: the scheme is ignored; the host may use `*` for one DNS
 * label (`*.example.com`); a port must match exactly; a path is a prefix of the repository
 * (`registry.example/team` serves `registry.example/team/app`); Docker Hub's legacy
 * `https://index.docker.io/v1/` means Docker Hub. The most specific matching key of a source wins;
 * sources are tried in the caller's order and the first with a match decides.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { normaliseRegistryHost } from './reference.ts';

export interface RegistryCredential {
  readonly username?: string;
  readonly password?: string;
  readonly identityToken?: string;
  readonly registryToken?: string;
}

interface ConfigEntry {
  readonly host: string;
  readonly path: string;
  readonly credential: RegistryCredential;
}

/** One docker config, named for logs (`pod secret team-a/regcred`); never holds a name's value. */
export interface CredentialSource {
  readonly name: string;
  readonly entries: readonly ConfigEntry[];
}

export const DOCKER_CONFIG_JSON_TYPE = 'kubernetes.io/dockerconfigjson';
export const DOCKER_CFG_TYPE = 'kubernetes.io/dockercfg';
export const DOCKER_CONFIG_JSON_KEY = '.dockerconfigjson';
export const DOCKER_CFG_KEY = '.dockercfg';

export class DockerConfigError extends Error {
  readonly code = 'E_DOCKER_CONFIG';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DockerConfigError';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function parseEntry(sourceName: string, key: string, value: unknown): RegistryCredential {
  if (!isRecord(value))
    throw new DockerConfigError(`${sourceName}: entry "${key}" is not an object`);
  let username = optionalString(value['username']);
  let password = optionalString(value['password']);
  const auth = optionalString(value['auth']);
  if (auth !== undefined) {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // The entry's key is safe to name; the decoded value is not.
    if (colon <= 0)
      throw new DockerConfigError(`${sourceName}: entry "${key}" has a malformed auth`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  const identityToken = optionalString(value['identitytoken']);
  const registryToken = optionalString(value['registrytoken']);
  return {
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(identityToken !== undefined ? { identityToken } : {}),
    ...(registryToken !== undefined ? { registryToken } : {}),
  };
}

function parseKey(key: string): { host: string; path: string } {
  const withoutScheme = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = withoutScheme.indexOf('/');
  const host = normaliseRegistryHost(slash === -1 ? withoutScheme : withoutScheme.slice(0, slash));
  let path = slash === -1 ? '' : withoutScheme.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  // `https://index.docker.io/v1/` and friends name a registry, not a repository prefix.
  if (/^v[12]$/.test(path)) path = '';
  return { host, path };
}

function parseText(sourceName: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new DockerConfigError(`${sourceName}: not valid JSON`, { cause: error });
  }
}

function entriesOf(sourceName: string, auths: Record<string, unknown>): ConfigEntry[] {
  return Object.entries(auths).map(([key, value]) => ({
    ...parseKey(key),
    credential: parseEntry(sourceName, key, value),
  }));
}

/** `{"auths": {...}}`, the content of a `kubernetes.io/dockerconfigjson` secret or config.json. */
export function parseDockerConfigJson(sourceName: string, text: string): CredentialSource {
  const parsed = parseText(sourceName, text);
  if (!isRecord(parsed)) throw new DockerConfigError(`${sourceName}: not a JSON object`);
  const auths = parsed['auths'] ?? {};
  if (!isRecord(auths)) throw new DockerConfigError(`${sourceName}: "auths" is not an object`);
  return { name: sourceName, entries: entriesOf(sourceName, auths) };
}

/** The legacy `.dockercfg` form: registry keys at the top level. */
export function parseDockerCfg(sourceName: string, text: string): CredentialSource {
  const parsed = parseText(sourceName, text);
  if (!isRecord(parsed)) throw new DockerConfigError(`${sourceName}: not a JSON object`);
  return { name: sourceName, entries: entriesOf(sourceName, parsed) };
}

/** The fields of a Kubernetes Secret this module reads (`data` values are base64). */
export interface PullSecret {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly type?: string;
  readonly data?: Readonly<Record<string, string>> | null;
}

/**
 * A credential source from an image pull secret of either type. A secret of another type, or
 * without the expected key, yields no source (kubelet ignores it too).
 */
export function credentialSourceFromSecret(secret: PullSecret): CredentialSource | undefined {
  const name = `secret ${secret.metadata?.namespace ?? ''}/${secret.metadata?.name ?? ''}`;
  const data = secret.data ?? {};
  const json = data[DOCKER_CONFIG_JSON_KEY];
  if (secret.type === DOCKER_CONFIG_JSON_TYPE && json !== undefined) {
    return parseDockerConfigJson(name, Buffer.from(json, 'base64').toString('utf8'));
  }
  const cfg = data[DOCKER_CFG_KEY];
  if (secret.type === DOCKER_CFG_TYPE && cfg !== undefined) {
    return parseDockerCfg(name, Buffer.from(cfg, 'base64').toString('utf8'));
  }
  return undefined;
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === host) return true;
  if (!pattern.includes('*')) return false;
  const [patternName = '', patternPort] = splitPort(pattern);
  const [hostName = '', hostPort] = splitPort(host);
  if (patternPort !== hostPort) return false;
  const patternLabels = patternName.split('.');
  const hostLabels = hostName.split('.');
  if (patternLabels.length !== hostLabels.length) return false;
  return patternLabels.every((label, i) => {
    const glob = new RegExp(`^${label.split('*').map(escapeRegExp).join('[^.]*')}$`);
    return glob.test(hostLabels[i] ?? '');
  });
}

function splitPort(host: string): [string, string | undefined] {
  const match = /^(.*?)(?::(\d+))?$/.exec(host);
  return [match?.[1] ?? host, match?.[2]];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function pathMatches(prefix: string, repository: string): boolean {
  return prefix === '' || repository === prefix || repository.startsWith(`${prefix}/`);
}

function specificity(entry: ConfigEntry): number {
  return entry.path.length * 2 + (entry.host.includes('*') ? 0 : 1);
}

export interface FoundCredential {
  /** The source's name, safe to log. */
  readonly source: string;
  readonly credential: RegistryCredential;
  /**
   * An opaque key for caches: the same credential gives the same identity within this process; it
   * is a keyed hash, so it reveals nothing about the credential even if it leaked.
   */
  readonly identity: string;
}

const IDENTITY_KEY = randomBytes(32);

export function credentialIdentity(credential: RegistryCredential): string {
  const material = [
    credential.username,
    credential.password,
    credential.identityToken,
    credential.registryToken,
  ].join('\u0000');
  return createHmac('sha256', IDENTITY_KEY).update(material).digest('hex').slice(0, 32);
}

/** The credential for `registry`/`repository` from the first source that has one. */
export function findCredential(
  sources: readonly CredentialSource[],
  registry: string,
  repository: string,
): FoundCredential | undefined {
  const host = normaliseRegistryHost(registry);
  for (const source of sources) {
    const best = source.entries
      .filter((entry) => hostMatches(entry.host, host) && pathMatches(entry.path, repository))
      .sort((a, b) => specificity(b) - specificity(a))[0];
    if (best !== undefined) {
      return {
        source: source.name,
        credential: best.credential,
        identity: credentialIdentity(best.credential),
      };
    }
  }
  return undefined;
}
