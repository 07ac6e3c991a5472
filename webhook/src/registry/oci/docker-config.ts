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
 * `https://index.docker.io/v1/` means Docker Hub.
 *
 * Every matching entry is a candidate, in kubelet's order (`findCredentials`): kubelet merges a
 * pod's pull secrets into one keyring whose keys are tried most specific first (the same key in
 * several secrets: in the secrets' order), then the node's default keyring. Here sources of the same
 * `kind` in a row form one keyring; a source without a kind is a keyring of its own.
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

/** Where a source comes from: the pod's pull secrets, its service account's, the webhook's own. */
export type CredentialSourceKind = 'pod' | 'service account' | 'default' | 'credential provider';

/** One docker config, named for logs (`secret team-a/regcred`); never holds a name's value. */
export interface CredentialSource {
  readonly name: string;
  /** Sources of one kind in a row are one keyring (kubelet's order); none: a keyring of its own. */
  readonly kind?: CredentialSourceKind;
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
  readonly kind?: CredentialSourceKind;
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

/**
 * Which credential a lookup used, for its log line and event: `pod secret team-a/regcred`,
 * `service account secret team-a/sa`, `default` (the webhook's docker config), `anonymous`.
 */
export function credentialLabel(found: FoundCredential | undefined): string {
  if (found === undefined) return 'anonymous';
  if (found.kind === 'default') return 'default';
  return found.kind === undefined ? found.source : `${found.kind} ${found.source}`;
}

/** The same, inside a sentence (`… with credentials from the default docker config`). */
export function credentialPhrase(found: FoundCredential | undefined): string {
  if (found === undefined) return 'anonymous access';
  const label = credentialLabel(found);
  return `credentials from ${label === 'default' ? 'the default docker config' : label}`;
}

/** Consecutive sources of one kind; a source without a kind alone. */
function keyrings(sources: readonly CredentialSource[]): CredentialSource[][] {
  const rings: CredentialSource[][] = [];
  let kind: CredentialSourceKind | undefined;
  for (const source of sources) {
    const last = rings.at(-1);
    if (last !== undefined && source.kind !== undefined && source.kind === kind) last.push(source);
    else rings.push([source]);
    kind = source.kind;
  }
  return rings;
}

/**
 * Every credential for `registry`/`repository`, in the order kubelet tries them: keyring by keyring
 * (the caller's order); inside one, the most specific key first, equal keys in the sources' order.
 * A credential equal to one before it is left out (it would be refused again).
 */
export function findCredentials(
  sources: readonly CredentialSource[],
  registry: string,
  repository: string,
): FoundCredential[] {
  const host = normaliseRegistryHost(registry);
  const found: FoundCredential[] = [];
  const seen = new Set<string>();
  for (const ring of keyrings(sources)) {
    const matches = ring.flatMap((source) =>
      source.entries
        .filter((entry) => hostMatches(entry.host, host) && pathMatches(entry.path, repository))
        .map((entry) => ({ source, entry })),
    );
    // Array.prototype.sort is stable: equal keys keep the sources' and entries' order.
    matches.sort((a, b) => specificity(b.entry) - specificity(a.entry));
    for (const { source, entry } of matches) {
      const identity = credentialIdentity(entry.credential);
      if (seen.has(identity)) continue;
      seen.add(identity);
      found.push({
        source: source.name,
        ...(source.kind !== undefined ? { kind: source.kind } : {}),
        credential: entry.credential,
        identity,
      });
    }
  }
  return found;
}

/** The credential kubelet tries first, if any. */
export function findCredential(
  sources: readonly CredentialSource[],
  registry: string,
  repository: string,
): FoundCredential | undefined {
  return findCredentials(sources, registry, repository)[0];
}
