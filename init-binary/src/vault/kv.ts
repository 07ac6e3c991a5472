/**
 * Reading a path the way the `vault` CLI does: ask Vault which mount holds it
 * (`sys/internal/ui/mounts/PATH`); on a KV v2 mount read `MOUNT/data/REST` whether or not the user
 * wrote `data/`, and unwrap `data.data`; anywhere else read the path as written and take `data` as
 * is (so a KV v1 secret with a field named `data` stays a field). When Vault denies the mount
 * lookup, fall back to the literal path: v2 only when the user wrote `data/` after the mount.
 */
import { ConfigError, MissingSecretError, ProtocolError } from '../errors.ts';
import type { Lease, Secret } from '../resolve.ts';
import type { RawResponse, VaultHttp } from './http.ts';

export interface Mount {
  /** e.g. "secret/" (with the trailing slash, as Vault reports it). */
  readonly path: string;
  readonly kvVersion: 1 | 2 | undefined;
}

/** Vault would not say which mount holds a path: it denied the lookup, or gave no usable answer. */
export interface UnknownMount {
  readonly path: undefined;
  readonly denied: boolean;
}

/** Where Vault says which mount holds a path (as the vault CLI asks). */
const LOOKUP = 'sys/internal/ui/mounts/';

const UNANSWERED: UnknownMount = { path: undefined, denied: false };

/** Failures of the lookup after which the literal path is read (as the vault CLI does). */
const UNANSWERED_CODES: ReadonlySet<unknown> = new Set(['E_CONFIG', 'E_MISSING', 'E_PROTOCOL']);

/** The mount holding `path`, or why it is unknown. */
export async function detectMount(http: VaultHttp, path: string): Promise<Mount | UnknownMount> {
  let res: RawResponse | undefined;
  try {
    res = await http.read(`${LOOKUP}${path}`, { action: `looking up the mount of ${path}` });
  } catch (err) {
    // Denied, or no answer it can give (4xx, or one that is not JSON): read the literal path.
    const code = (err as { code?: unknown }).code;
    if (code === 'E_DENIED') return { path: undefined, denied: true };
    if (UNANSWERED_CODES.has(code)) return UNANSWERED;
    throw err;
  }
  return mountOf(record(res?.['data']));
}

/** The mount a lookup's `data` describes. */
function mountOf(data: Readonly<Record<string, unknown>> | undefined): Mount | UnknownMount {
  const mountPath = data?.['path'];
  if (typeof mountPath !== 'string' || mountPath === '') return UNANSWERED;
  const type = data?.['type'];
  const version = record(data?.['options'])?.['version'];
  const kvVersion = type === 'kv' || type === 'generic' ? (version === '2' ? 2 : 1) : undefined;
  return { path: mountPath.endsWith('/') ? mountPath : `${mountPath}/`, kvVersion };
}

export type MountLookup = (path: string) => Promise<Mount | UnknownMount>;

/**
 * detectMount, once per mount rather than once per path: Vault refuses a mount inside another
 * (and a mount around one), so the mount found for `secret/data/a` is the mount of every path
 * under its path. Paths sharing a first segment wait for the first lookup (their KV v2 read-ahead
 * is already in flight, so no latency is added) and look up on their own only when it does not
 * cover them or told nothing (denied, failed).
 */
export function mountLookup(http: VaultHttp): MountLookup {
  const first = new Map<string, Promise<Mount | UnknownMount>>();
  return async (path) => {
    const segment = path.split('/')[0] ?? path;
    const shared = first.get(segment);
    if (shared === undefined) {
      const own = detectMount(http, path);
      first.set(segment, own);
      return own;
    }
    const mount = await shared.catch(() => undefined);
    return mount?.path !== undefined && path.startsWith(mount.path)
      ? mount
      : detectMount(http, path);
  };
}

/** Reads `path` (pinned `version` for KV v2); undefined when there is no such secret. */
export async function readSecret(
  http: VaultHttp,
  path: string,
  version: number | undefined,
  lookup: MountLookup = (p) => detectMount(http, p),
): Promise<Secret | undefined> {
  const query = version === undefined ? '' : `?version=${version}`;
  // A path written the KV v2 API way (`MOUNT/data/…`) is read while the mount is looked up, and
  // the answer used when the lookup confirms it: one round trip instead of two in the common case.
  // Only the literal path the user wrote is read ahead, so a wrong guess costs no denied request
  // on a path they did not name.
  const ahead = /^[^/]+\/data\//.test(path)
    ? settled(http.read(`${path}${query}`, { action: `reading ${path}` }))
    : undefined;
  const answer = await lookup(path);
  const mount = answer.path === undefined ? undefined : answer;
  const v2 = mount ? mount.kvVersion === 2 : ahead !== undefined;
  if (!v2) return readAsWritten(http, path, version, answer);
  const apiPath = kvV2Path(path, mount);
  const res =
    ahead && apiPath === path
      ? unwrap(await ahead)
      : await http.read(`${apiPath}${query}`, { action: `reading ${path}` });
  return res === undefined ? undefined : kvV2Secret(res, path);
}

/** The API path of `path` on KV v2 mount `mount` (`MOUNT/data/REST`), or `path` as written. */
function kvV2Path(path: string, mount: Mount | undefined): string {
  if (!mount || !path.startsWith(mount.path)) return path;
  const rel = path.slice(mount.path.length);
  return `${mount.path}data/${rel.replace(/^data\//, '')}`;
}

/** The secret of a KV v2 answer: `data.data`; undefined for a deleted or destroyed version. */
function kvV2Secret(res: RawResponse, path: string): Secret | undefined {
  const inner = record(res['data'])?.['data'];
  // A deleted or destroyed version comes back with `data: null`.
  if (inner === null || inner === undefined) return undefined;
  const data = record(inner);
  if (!data) throw new ProtocolError(`${path}: KV v2 answer without a data object`);
  return { data };
}

/** A path that is not (known to be) KV v2: read as written, `data` taken as is. */
async function readAsWritten(
  http: VaultHttp,
  path: string,
  version: number | undefined,
  answer: Mount | UnknownMount,
): Promise<Secret | undefined> {
  if (version !== undefined) {
    throw new ConfigError(
      answer.path === undefined
        ? `${path}: a version (${version}) needs a KV v2 mount, and ${undetected(path, answer)}`
        : `${path} is not on a KV v2 mount, so it has no version ${version}`,
    );
  }
  const res = await http.read(path, {
    action: `reading ${path}`,
    hints: { 405: `${path} takes no read (vault:); to write to it, use >>vault:${path}#KEY` },
  });
  if (res !== undefined) return toSecret(res, path);
  // A KV v2 secret read without data/ answers 404 too: say why it was read that way.
  if (answer.path === undefined && answer.denied) {
    throw new MissingSecretError(`secret ${path} not found; ${undetected(path, answer)}`);
  }
  return undefined;
}

/**
 * Why a path was read as written, and what to do about it (for a KV v2 secret whose path lacks
 * `data/`). Names paths only.
 */
function undetected(path: string, answer: UnknownMount): string {
  const slash = path.indexOf('/');
  const example = slash > 0 ? ` (e.g. ${path.slice(0, slash)}/data/${path.slice(slash + 1)})` : '';
  const why = answer.denied ? 'was denied' : 'gave no answer';
  const grant = answer.denied ? ` or allow reading ${LOOKUP}*` : '';
  return `the KV version of its mount could not be detected (the lookup ${LOOKUP}${path} ${why}); on a KV v2 mount write data/ after the mount${example}${grant}`;
}

export function toSecret(res: RawResponse, path: string): Secret {
  const data = res['data'] === undefined || res['data'] === null ? {} : record(res['data']);
  if (!data) throw new ProtocolError(`${path}: answer without a data object`);
  const lease = leaseOf(res);
  return lease ? { data, lease } : { data };
}

function leaseOf(res: RawResponse): Lease | undefined {
  const id = res['lease_id'];
  const ttl = res['lease_duration'];
  if (typeof id !== 'string' || id === '' || typeof ttl !== 'number' || ttl <= 0) return undefined;
  return { id, ttlSeconds: ttl, renewable: res['renewable'] === true };
}

export function record(v: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settled<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

function unwrap<T>(s: Settled<T>): T {
  if (!s.ok) throw s.error;
  return s.value;
}
