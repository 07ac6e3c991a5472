/**
 * Turns the references of the app's environment into values: one call per distinct path (+version,
 * or +body for writes), distinct calls run concurrently, transit ciphertexts decrypted in one
 * batch; then each variable is rendered in order. Pure logic over a SecretApi (tests use a fake).
 */
import { ConfigError, InitError, MissingSecretError } from './errors.ts';
import { MissingKeyError, TemplateError } from './contract/errors.ts';
import { selectKey } from './contract/templates.ts';
import {
  describeRef,
  referencesOf,
  type ParsedValue,
  type SecretRef,
} from './contract/references.ts';
import type { FromPath } from './contract/paths.ts';
import type { Logger } from './log.ts';

/** A renewable credential behind a secret (dynamic secrets, database creds, …). */
export interface Lease {
  readonly id: string;
  readonly ttlSeconds: number;
  readonly renewable: boolean;
}

export interface Secret {
  readonly data: Readonly<Record<string, unknown>>;
  readonly lease?: Lease;
}

/** What resolution needs from Vault. Failures are InitErrors (already translated). */
export interface SecretApi {
  /** A KV (v1 or v2, with or without `data/`) or any readable path; undefined when missing. */
  read(path: string, version?: number): Promise<Secret | undefined>;
  write(path: string, body: Readonly<Record<string, unknown>>): Promise<Secret>;
  /** Transit batch decryption; undefined where one ciphertext could not be decrypted. */
  decrypt(ciphertexts: readonly string[]): Promise<readonly (string | undefined)[]>;
}

export interface Reference {
  readonly name: string;
  readonly parsed: Exclude<ParsedValue, { kind: 'plain' }>;
}

export interface ResolveInput {
  readonly variables: readonly Reference[];
  readonly fromPaths: readonly FromPath[];
  /** Names the container sets itself: from-path keys never override them. */
  readonly explicitNames: ReadonlySet<string>;
  readonly ignoreMissing: boolean;
  readonly transitConfigured: boolean;
  /** How many Vault calls may be in flight at once. */
  readonly concurrency?: number;
}

export interface ResolveResult {
  /** Variable name → value, in the order of the input, then the from-path keys. */
  readonly values: ReadonlyMap<string, string>;
  /** Variables left out of the app's environment (ignore-missing). */
  readonly skipped: readonly string[];
  readonly leases: readonly Lease[];
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

export async function resolve(
  input: ResolveInput,
  api: SecretApi,
  log: Logger,
): Promise<ResolveResult> {
  const limit = limiter(input.concurrency ?? 8);
  const calls = new Map<string, Promise<Settled<Secret | undefined>>>();
  const fetch = (key: string, run: () => Promise<Secret | undefined>): void => {
    if (!calls.has(key)) calls.set(key, settle(limit(run)));
  };

  const ciphertexts = new Set<string>();
  for (const v of input.variables) {
    for (const ref of referencesOf(v.parsed)) {
      if (ref.kind === 'read')
        fetch(readKey(ref.path, ref.version), () => api.read(ref.path, ref.version));
      else if (ref.kind === 'write')
        fetch(writeKey(ref.path, ref.body), () => api.write(ref.path, ref.body));
      else if (ref.kind === 'transit') {
        if (!input.transitConfigured) {
          throw new ConfigError(
            `${v.name}: a transit ciphertext, but VAULT_TRANSIT_KEY_ID is not set`,
          );
        }
        ciphertexts.add(ref.ciphertext);
      } else {
        throw new ConfigError(`${v.name}: "vault:login" is only valid as the value of VAULT_TOKEN`);
      }
    }
  }
  for (const { path, version } of input.fromPaths) {
    fetch(readKey(path, version), () => api.read(path, version));
  }
  const batch = [...ciphertexts];
  const decrypted = batch.length > 0 ? settle(limit(() => api.decrypt(batch))) : undefined;

  const results = new Map<string, Settled<Secret | undefined>>();
  await Promise.all([...calls].map(async ([k, p]) => results.set(k, await p)));
  const plain = decrypted ? await decrypted : undefined;
  const transit = (ciphertext: string): string => {
    if (!plain) throw new ConfigError('transit ciphertext was not decrypted');
    if (!plain.ok) throw plain.error;
    const text = plain.value[batch.indexOf(ciphertext)];
    if (text === undefined) throw new ConfigError('Vault could not decrypt the transit ciphertext');
    return text;
  };

  const values = new Map<string, string>();
  const skipped: string[] = [];
  const render = (ref: SecretRef): string => renderRef(ref, results, transit);
  for (const v of input.variables) {
    try {
      values.set(v.name, renderValue(v.parsed, render));
    } catch (err) {
      const named = withVariable(err, v.name);
      if (!(input.ignoreMissing && named instanceof MissingSecretError)) throw named;
      log.warn(`${named.message}; ${v.name} is left out (ignore-missing)`);
      skipped.push(v.name);
    }
  }
  fromPathValues(input, results, { values, skipped }, log);
  return { values, skipped, leases: leasesOf(results) };
}

function fromPathValues(
  input: ResolveInput,
  results: ReadonlyMap<string, Settled<Secret | undefined>>,
  out: { readonly values: Map<string, string>; readonly skipped: string[] },
  log: Logger,
): void {
  const { values, skipped } = out;
  // Like envFrom: the later path wins; names the container sets itself always win.
  for (const { path, version } of input.fromPaths) {
    let secret: Secret;
    try {
      const label = version === undefined ? path : `${path}#${version}`;
      secret = secretAt(results, readKey(path, version), label);
    } catch (err) {
      const named = withVariable(err, 'VAULT_ENV_FROM_PATH');
      if (!(input.ignoreMissing && named instanceof MissingSecretError)) throw named;
      log.warn(`${named.message}; skipped (ignore-missing)`);
      continue;
    }
    for (const key of Object.keys(secret.data)) {
      if (key === '' || key.includes('=') || key.includes('\0')) {
        log.warn(`VAULT_ENV_FROM_PATH: key of ${path} is not a valid variable name; skipped`);
        continue;
      }
      if (input.explicitNames.has(key) || skipped.includes(key)) continue;
      values.set(key, selectKey({ kind: 'key', name: key }, secret.data, path));
    }
  }
}

function renderValue(parsed: Reference['parsed'], render: (ref: SecretRef) => string): string {
  if (parsed.kind === 'whole') return render(parsed.ref);
  return parsed.parts.map((p) => (p.kind === 'text' ? p.text : render(p.ref))).join('');
}

function renderRef(
  ref: SecretRef,
  results: ReadonlyMap<string, Settled<Secret | undefined>>,
  transit: (ciphertext: string) => string,
): string {
  switch (ref.kind) {
    case 'read':
      return pick(ref, secretAt(results, readKey(ref.path, ref.version), describeRef(ref)));
    case 'write':
      return pick(ref, secretAt(results, writeKey(ref.path, ref.body), describeRef(ref)));
    case 'transit':
      return transit(ref.ciphertext);
    case 'login':
      throw new ConfigError('"vault:login" is only valid as the value of VAULT_TOKEN');
  }
}

function pick(ref: SecretRef & { kind: 'read' | 'write' }, secret: Secret): string {
  try {
    return selectKey(ref.key, secret.data, ref.path);
  } catch (err) {
    if (err instanceof MissingKeyError) {
      throw new MissingSecretError(`key "${err.key}" not found in ${ref.path}`, { cause: err });
    }
    if (err instanceof TemplateError) {
      throw new ConfigError(`${describeRef(ref)}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function secretAt(
  results: ReadonlyMap<string, Settled<Secret | undefined>>,
  key: string,
  label: string,
): Secret {
  const r = results.get(key);
  if (!r) throw new ConfigError(`${label} was not fetched`);
  if (!r.ok) throw r.error;
  if (r.value === undefined) throw new MissingSecretError(`secret ${label} not found`);
  return r.value;
}

/** The same error class with the variable named first, so the one stderr line says which. */
function withVariable(err: unknown, name: string): Error {
  if (err instanceof InitError) {
    const Ctor = err.constructor as new (message: string, options?: ErrorOptions) => InitError;
    return new Ctor(`${name}: ${err.message}`, { cause: err });
  }
  if (err instanceof Error) return new ConfigError(`${name}: ${err.message}`, { cause: err });
  return new ConfigError(`${name}: could not be resolved`, { cause: err });
}

function leasesOf(results: ReadonlyMap<string, Settled<Secret | undefined>>): Lease[] {
  const byId = new Map<string, Lease>();
  for (const r of results.values()) {
    if (r.ok && r.value?.lease) byId.set(r.value.lease.id, r.value.lease);
  }
  return [...byId.values()];
}

function readKey(path: string, version: number | undefined): string {
  return `r\0${path}\0${version ?? ''}`;
}

function writeKey(path: string, body: Readonly<Record<string, unknown>>): string {
  return `w\0${path}\0${stableJson(body)}`;
}

/** JSON with object keys sorted, so equal bodies written differently share one write. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/** At most `n` of the returned function's tasks run at once. */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
