/**
 * The narrow, typed Vault client the init program uses: login, then a SecretApi for resolution,
 * plus what daemon mode needs to keep the token and leases alive.
 */
import type { Config } from '../config.ts';
import { Env } from '../contract/names.ts';
import { ConfigError } from '../errors.ts';
import { uptimeMs, type Logger } from '../log.ts';
import type { Lease, Secret, SecretApi } from '../resolve.ts';
import { login, type LoginResult } from './auth.ts';
import { createVaultHttp, type VaultHttp } from './http.ts';
import { mountLookup, readSecret, record, toSecret, type MountLookup } from './kv.ts';

export interface VaultSession {
  readonly api: SecretApi;
  /**
   * The api again with its own read-once cache, for a later resolution (a daemon's refresh): every
   * path is read anew; the mounts already looked up are kept. Its `reads` are the new cache's
   * GETs, for the templates rendered in the same round (agent-files.ts).
   */
  readonly reread?: () => SecretApi & { readonly reads?: VaultHttp };
  readonly login: LoginResult;
  readonly http: VaultHttp;
  /** `http` with the GETs `api` makes shared (readOnce): a template's read of a path it reads. */
  readonly reads?: VaultHttp;
}

/** Connects and logs in, within the run's deadline. */
export async function openSession(
  config: Config,
  signal: AbortSignal,
  log: Logger,
): Promise<VaultSession> {
  if (config.addr === undefined) {
    throw new ConfigError(`${Env.ADDR} is not set, and the environment holds Vault references`);
  }
  const http = await createVaultHttp({
    addr: config.addr,
    namespace: config.namespace,
    caPem: config.caCertFile === undefined ? undefined : readCa(config.caCertFile),
    skipVerify: config.skipVerify,
    proxy: config.proxy,
    timeoutMs: config.clientTimeoutMs,
    signal,
    log,
  });
  log.debug('client ready', { atMs: uptimeMs() });
  const result = await login(http, config);
  http.setToken(result.token, result.identity);
  log.debug('logged in', {
    method: config.authMethod,
    ttlSeconds: result.ttlSeconds,
    atMs: uptimeMs(),
  });
  const lookups = readOnce(http);
  const mounts = mountLookup(lookups);
  return {
    api: secretApi(http, config, { reads: lookups, mounts }),
    reread: () => {
      const reads = readOnce(http);
      return { ...secretApi(http, config, { reads, mounts }), reads };
    },
    login: result,
    http,
    reads: lookups,
  };
}

function secretApi(
  http: VaultHttp,
  config: Config,
  { reads, mounts }: { reads: VaultHttp; mounts: MountLookup },
): SecretApi {
  return {
    read: (path, version) => readSecret(reads, path, version, mounts),
    write: async (path: string, body: Readonly<Record<string, unknown>>): Promise<Secret> =>
      toSecret(
        await http.write(path, body, {
          action: `writing ${path}`,
          hints: { 405: `${path} takes no write (>>vault:); to read it, use vault:${path}#KEY` },
        }),
        path,
      ),
    decrypt: async (ciphertexts) => {
      // VAULT_TRANSIT_BATCH_SIZE: groups of at most that many, one call each, in order.
      const size = config.transitBatchSize > 0 ? config.transitBatchSize : ciphertexts.length;
      const out: (string | undefined)[] = [];
      for (let at = 0; at < ciphertexts.length; at += size) {
        out.push(...(await decryptBatch(http, config, ciphertexts.slice(at, at + size))));
      }
      return out;
    },
  };
}

async function decryptBatch(
  http: VaultHttp,
  config: Config,
  ciphertexts: readonly string[],
): Promise<(string | undefined)[]> {
  const key = config.transitKeyId ?? '';
  const path = `${config.transitPath}/decrypt/${key}`;
  const res = await http.write(
    path,
    { batch_input: ciphertexts.map((ciphertext) => ({ ciphertext })) },
    { action: `decrypting ${ciphertexts.length} ciphertext(s) with ${path}` },
  );
  const results = record(res['data'])?.['batch_results'];
  return ciphertexts.map((_, i) => {
    const item = Array.isArray(results) ? record(results[i]) : undefined;
    const b64 = item?.['plaintext'];
    return typeof b64 === 'string' && !item?.['error']
      ? Buffer.from(b64, 'base64').toString('utf8')
      : undefined;
  });
}

/**
 * `http` with each GET sent once per run: `vault:secret/app#user` and `vault:secret/data/app#pass`
 * name one KV v2 secret, so they get one read, and both values come from the same version.
 */
export function readOnce(http: VaultHttp): VaultHttp {
  const sent = new Map<string, ReturnType<VaultHttp['read']>>();
  return {
    ...http,
    read: (path, options) => {
      let answer = sent.get(path);
      if (answer === undefined) {
        answer = http.read(path, options);
        sent.set(path, answer);
      }
      return answer;
    },
  };
}

/** Renews the session's token; returns the new TTL in seconds (0 when it no longer renews). */
export async function renewToken(http: VaultHttp): Promise<number> {
  const res = await http.write('auth/token/renew-self', {}, { action: 'renewing the token' });
  const auth = record(res['auth']);
  const ttl = auth?.['lease_duration'];
  return typeof ttl === 'number' && auth?.['renewable'] !== false ? ttl : 0;
}

/** Renews a lease; returns the new TTL in seconds (may be shorter than asked: the max TTL). */
export async function renewLease(http: VaultHttp, lease: Lease): Promise<number> {
  const res = await http.write(
    'sys/leases/renew',
    { lease_id: lease.id, increment: lease.ttlSeconds },
    { action: 'renewing a lease' },
  );
  const ttl = res['lease_duration'];
  return typeof ttl === 'number' ? ttl : 0;
}

function readCa(file: string): string {
  let pem: string;
  try {
    pem = process.getBuiltinModule('node:fs').readFileSync(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`${Env.CACERT}: cannot read ${file} (${code})`, { cause });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`${Env.CACERT}: ${file} holds no PEM certificate`);
  }
  return pem;
}
