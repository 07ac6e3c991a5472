/**
 * A real OpenBao dev server on 127.0.0.1 for integration tests and the stack: started in its own
 * temporary directory on a free port (the cluster port, PORT+1, checked free too), in its own
 * process group with its output in `openbao.log`, ready when /v1/sys/health answers, stopped on
 * `stop()` and killed when the Node process exits even when a test throws (test/env/processes.ts).
 * `setUpFixtures` mounts and configures what the init tests use. With `tls: true` it serves HTTPS
 * (`-dev-tls`: a CA generated for the run, `caFile`, and a certificate for 127.0.0.1 and localhost).
 *
 * The dev server writes its root token to ~/.vault-token: HOME is `home`, a directory of its own,
 * so the user's token is never touched (docs/real-stack.md).
 * Set VAULT_INJECT_KEEP_TEST_DIRS=1 to keep the directory (log, home, TLS files) after `stop()`.
 *
 *   const bao = await startOpenBao();
 *   after(() => bao.stop());
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { retryOnAddressInUse } from './ports.ts';
import { freePort, startProcess, waitUntil, type ServerProcess } from './processes.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

export interface OpenBao {
  readonly addr: string;
  readonly rootToken: string;
  /** The PEM file of the CA that signed the server's certificate (`tls: true` only). */
  readonly caFile?: string;
  /** The server's temporary directory: `openbao.log`, `home/`, `tls/`. */
  readonly dir: string;
  /** The server's HOME (where it writes `.vault-token`). */
  readonly home: string;
  readonly logPath: string;
  readonly process: ServerProcess;
  /** Everything the server wrote so far (also after `stop()`). */
  log(): string;
  /** A call with the root token; throws with Vault's errors on a non-2xx. */
  api(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * The server binary. VAULT_FLAVOR=vault: HashiCorp Vault (VAULT_INJECT_VAULT, else
 * `scripts/components/vault.sh path`; same dev-server flags); unset or `openbao`: bao
 * (VAULT_INJECT_BAO, else the components script's cached build). A missing one is an error, never
 * a silent fall-back to the other.
 */
export function baoPath(): string {
  const flavor = process.env['VAULT_FLAVOR'] ?? 'openbao';
  if (flavor === 'vault') return vaultPath();
  if (flavor !== 'openbao' && flavor !== '') {
    throw new Error(`VAULT_FLAVOR must be openbao (the default) or vault, not "${flavor}"`);
  }
  const fromEnv = process.env['VAULT_INJECT_BAO'];
  if (fromEnv) return fromEnv;
  const r = spawnSync(join(repoRoot, 'scripts/components/openbao.sh'), ['path'], {
    encoding: 'utf8',
  });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === '') {
    throw new Error(
      `OpenBao is not available (run scripts/components/openbao.sh): ${r.stderr.trim()}`,
    );
  }
  return path;
}

function vaultPath(): string {
  const fromEnv = process.env['VAULT_INJECT_VAULT'];
  if (fromEnv) return fromEnv;
  const r = spawnSync(join(repoRoot, 'scripts/components/vault.sh'), ['path'], {
    encoding: 'utf8',
  });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === '') {
    throw new Error(
      'VAULT_FLAVOR=vault: HashiCorp Vault is not available (scripts/components/vault.sh says why; ' +
        `docs/real-stack.md): ${r.stderr.trim()}`,
    );
  }
  return path;
}

export interface OpenBaoOptions {
  /** Default `root-token-for-tests`. */
  readonly rootToken?: string;
  /** Serve HTTPS with a CA generated for this server (`caFile`). */
  readonly tls?: boolean;
  /** Parent of the server's temporary directory (default: the OS temp dir). */
  readonly baseDir?: string;
  /** Keep running after this Node process exits (scripts/dev-env.sh). */
  readonly persistent?: boolean;
}

/** Starts the dev server; again on other ports when its ports were taken meanwhile. */
export function startOpenBao(options: OpenBaoOptions = {}): Promise<OpenBao> {
  return retryOnAddressInUse('OpenBao', () => startOpenBaoOnce(options));
}

async function startOpenBaoOnce(options: OpenBaoOptions): Promise<OpenBao> {
  const rootToken = options.rootToken ?? 'root-token-for-tests';
  const bao = baoPath();
  const dir = await mkdtemp(join(options.baseDir ?? tmpdir(), 'vault-inject-bao-'));
  const home = join(dir, 'home');
  await mkdir(home);
  const port = await freePort(2); // the dev server also listens on PORT+1 (cluster port)
  const addr = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const tlsDir = join(dir, 'tls');
  const args = [
    'server',
    '-dev',
    `-dev-root-token-id=${rootToken}`,
    `-dev-listen-address=127.0.0.1:${port}`,
  ];
  if (options.tls) {
    mkdirSync(tlsDir);
    args.push('-dev-tls', `-dev-tls-cert-dir=${tlsDir}`);
  }
  const caFile = options.tls ? join(tlsDir, 'vault-ca.pem') : undefined;
  const logPath = join(dir, 'openbao.log');
  const proc = startProcess({
    name: 'openbao',
    command: bao,
    args,
    logPath,
    cwd: home,
    // A clean environment: HOME its own (the root token file), nothing of the caller's VAULT_*.
    env: { HOME: home, PATH: '/usr/bin:/bin' },
    persistent: options.persistent ?? false,
  });
  let finalLog: string | undefined;
  const log = (): string => {
    if (finalLog !== undefined) return finalLog;
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };

  let ca: string | undefined;
  const send = (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; text: string }> => {
    if (caFile !== undefined && ca === undefined) ca = readFileSync(caFile, 'utf8');
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = options.tls ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        `${addr}/v1/${path}`,
        {
          method,
          ca,
          headers: { 'x-vault-token': rootToken, 'content-type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        },
      );
      req.setTimeout(15_000, () => req.destroy(new Error(`OpenBao ${method} ${path}: no answer`)));
      req.on('error', reject);
      req.end(payload);
    });
  };
  const api = async (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<Record<string, unknown>> => {
    const { status, text } = await send(method, path, body);
    if (status < 200 || status > 299)
      throw new Error(`OpenBao ${method} ${path}: ${status} ${text.slice(0, 300)}`);
    return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await proc.stop();
    finalLog = log();
    if (process.env['VAULT_INJECT_KEEP_TEST_DIRS'] === undefined) {
      await rm(dir, { recursive: true, force: true });
    }
  };

  try {
    await waitUntil(
      'openbao /v1/sys/health',
      async () => {
        try {
          return (await send('GET', 'sys/health')).status === 200;
        } catch (err) {
          ca = undefined; // with TLS, the CA file may not have been written yet
          throw err;
        }
      },
      { process: proc, timeoutMs: 20_000 },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    addr,
    rootToken,
    ...(caFile ? { caFile } : {}),
    dir,
    home,
    logPath,
    process: proc,
    log,
    api,
    stop,
  };
}

/** The policy `setUpFixtures` writes: everything it mounts, for the roles that use it. */
export const FIXTURES_POLICY = 'app';

export interface Fixtures {
  /** Signs a JWT accepted by the `jwt` auth mount for role `app` (subject, audience set). */
  signJwt(claims?: Record<string, unknown>): string;
  readonly approle: { readonly roleId: string; readonly secretId: string };
  readonly transitKey: string;
}

/**
 * KV v2 at secret/ (dev default), KV v1 at kv/, transit with key `app`, PKI with role `app`,
 * a password policy `app`, policy `app` that can use all of it (and `sys/tools/random`), jwt auth (role `app`, our key)
 * and approle auth (role `app`). Kubernetes auth comes through kube-apiserver elsewhere.
 */
export async function setUpFixtures(bao: Pick<OpenBao, 'api'>): Promise<Fixtures> {
  await bao.api('POST', 'sys/mounts/kv', { type: 'kv', options: { version: '1' } });
  await bao.api('POST', 'sys/mounts/transit', { type: 'transit' });
  await bao.api('POST', 'transit/keys/app', {});
  await bao.api('POST', 'sys/mounts/pki', { type: 'pki', config: { max_lease_ttl: '87600h' } });
  await bao.api('POST', 'pki/root/generate/internal', { common_name: 'test-ca', ttl: '87600h' });
  await bao.api('POST', 'pki/roles/app', {
    allowed_domains: 'example.test',
    allow_subdomains: true,
    max_ttl: '72h',
  });
  await bao.api('POST', 'sys/policies/password/app', {
    policy:
      'length = 24\nrule "charset" {\n  charset = "abcdefghijklmnopqrstuvwxyz0123456789"\n}\n',
  });
  await bao.api('PUT', `sys/policies/acl/${FIXTURES_POLICY}`, {
    policy: [
      'path "secret/*" { capabilities = ["read"] }',
      'path "kv/*" { capabilities = ["read"] }',
      'path "transit/decrypt/app" { capabilities = ["update"] }',
      'path "pki/issue/app" { capabilities = ["update"] }',
      'path "sys/policies/password/app/generate" { capabilities = ["read", "update"] }',
      'path "sys/tools/random/*" { capabilities = ["update"] }',
      'path "transit/datakey/plaintext/app" { capabilities = ["update"] }',
    ].join('\n'),
  });

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await bao.api('POST', 'sys/auth/jwt', { type: 'jwt' });
  await bao.api('POST', 'auth/jwt/config', {
    jwt_validation_pubkeys: [publicKey.export({ type: 'spki', format: 'pem' }).toString()],
  });
  await bao.api('POST', 'auth/jwt/role/app', {
    role_type: 'jwt',
    user_claim: 'sub',
    bound_subject: 'system:serviceaccount:default:app',
    bound_audiences: ['vault'],
    token_policies: [FIXTURES_POLICY],
    token_ttl: '1h',
  });

  await bao.api('POST', 'sys/auth/approle', { type: 'approle' });
  await bao.api('POST', 'auth/approle/role/app', {
    token_policies: [FIXTURES_POLICY],
    token_ttl: '1h',
  });
  const roleId = (await bao.api('GET', 'auth/approle/role/app/role-id'))['data'] as {
    role_id: string;
  };
  const secretId = (await bao.api('POST', 'auth/approle/role/app/secret-id', {}))['data'] as {
    secret_id: string;
  };

  return {
    signJwt: (claims = {}) => signJwt(privateKey, claims),
    approle: { roleId: roleId.role_id, secretId: secretId.secret_id },
    transitKey: 'app',
  };
}

function signJwt(key: KeyObject, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({
    sub: 'system:serviceaccount:default:app',
    aud: 'vault',
    iat: now,
    nbf: now - 5,
    exp: now + 600,
    ...claims,
  })}`;
  return `${body}.${sign('sha256', Buffer.from(body), key).toString('base64url')}`;
}
