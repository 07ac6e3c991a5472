/**
 * OpenBao for the stack: a dev server on a free loopback port (in memory, unsealed, KV v2 at
 * `secret/`), and its Kubernetes auth configured against our kube-apiserver, over bao's HTTP API:
 *   - `kubernetes_host` = the apiserver, `kubernetes_ca_cert` = its CA, `disable_local_ca_jwt`
 *     (there is no in-cluster service-account file), `token_reviewer_jwt` = the admin token
 *     (a static token works; it need not be a JWT);
 *   - roles bound to service accounts in namespaces, with `audience=vault`.
 *
 * Binary: $VAULT_INJECT_BAO, else `scripts/components/openbao.sh path`. The dev server writes its
 * root token to ~/.vault-token and also listens on PORT+1: HOME is a temporary directory and both
 * ports are checked free (docs/real-stack.md).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { componentPath } from './kube.ts';
import { freePort, startProcess, tail, waitUntil, type ServerProcess } from './processes.ts';

export interface VaultApi {
  /** http://127.0.0.1:PORT */
  readonly addr: string;
  readonly token: string;
}

export interface Bao extends VaultApi {
  readonly dir: string;
  readonly process: ServerProcess;
  logs(lines?: number): string;
  stop(): Promise<void>;
}

/** One call to the Vault HTTP API; throws with the status and Vault's `errors` on failure. */
export async function vaultRequest<T = unknown>(
  api: VaultApi,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'LIST',
  apiPath: string,
  body?: unknown,
): Promise<T | undefined> {
  const res = await fetch(`${api.addr}/v1/${apiPath.replace(/^\/+/, '')}`, {
    method,
    headers: { 'x-vault-token': api.token, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`vault ${method} ${apiPath}: HTTP ${res.status} ${text.slice(0, 300)}`);
  }
  return text === '' ? undefined : (JSON.parse(text) as T);
}

export async function startBao(
  options: { persistent?: boolean; baseDir?: string; rootToken?: string } = {},
): Promise<Bao> {
  const bao = await componentPath('openbao', 'VAULT_INJECT_BAO');
  const dir = await mkdtemp(path.join(options.baseDir ?? tmpdir(), 'vault-inject-bao-'));
  const home = path.join(dir, 'home');
  await mkdir(home);
  const port = await freePort(2);
  const token = options.rootToken ?? 'root';
  const addr = `http://127.0.0.1:${port}`;
  const proc = startProcess({
    name: 'openbao',
    command: bao,
    args: [
      'server',
      '-dev',
      `-dev-root-token-id=${token}`,
      `-dev-listen-address=127.0.0.1:${port}`,
    ],
    logPath: path.join(dir, 'openbao.log'),
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home },
    persistent: options.persistent ?? false,
  });
  try {
    await waitUntil(
      'openbao /v1/sys/health',
      async () => (await fetch(`${addr}/v1/sys/health`)).ok,
      {
        process: proc,
      },
    );
  } catch (err) {
    await proc.stop();
    throw err;
  }
  let stopped = false;
  return {
    addr,
    token,
    dir,
    process: proc,
    logs: (lines = 40) => `--- openbao (${proc.logPath}) ---\n${tail(proc.logPath, lines)}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      await proc.stop();
      if (process.env['VAULT_INJECT_KEEP_TEST_DIRS'] === undefined) {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

export interface KubernetesTarget {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  readonly caPem: string;
  /** A token allowed to create TokenReviews (the admin token). */
  readonly reviewerToken: string;
}

/** Enables (if needed) and configures the Kubernetes auth method at `mount`. */
export async function configureKubernetesAuth(
  api: VaultApi,
  kube: KubernetesTarget,
  mount = 'kubernetes',
): Promise<void> {
  const auths = await vaultRequest<Record<string, unknown>>(api, 'GET', 'sys/auth');
  const mounts = (auths?.['data'] ?? auths ?? {}) as Record<string, unknown>;
  if (!(`${mount}/` in mounts)) {
    await vaultRequest(api, 'POST', `sys/auth/${mount}`, { type: 'kubernetes' });
  }
  await vaultRequest(api, 'POST', `auth/${mount}/config`, {
    kubernetes_host: kube.server,
    kubernetes_ca_cert: kube.caPem,
    disable_local_ca_jwt: true,
    token_reviewer_jwt: kube.reviewerToken,
  });
}

export interface KubernetesRole {
  readonly name: string;
  readonly serviceAccounts: readonly string[];
  readonly namespaces: readonly string[];
  readonly policies: readonly string[];
  readonly audience?: string;
  readonly mount?: string;
}

export async function createKubernetesRole(api: VaultApi, role: KubernetesRole): Promise<void> {
  await vaultRequest(api, 'POST', `auth/${role.mount ?? 'kubernetes'}/role/${role.name}`, {
    bound_service_account_names: role.serviceAccounts,
    bound_service_account_namespaces: role.namespaces,
    audience: role.audience ?? 'vault',
    token_policies: role.policies,
    token_ttl: '10m',
  });
}

export async function writePolicy(api: VaultApi, name: string, hcl: string): Promise<void> {
  await vaultRequest(api, 'PUT', `sys/policies/acl/${name}`, { policy: hcl });
}

/** Writes a KV v2 secret at `mount/data/secretPath` (KV v2 at `secret/` is the dev default). */
export async function kvPut(
  api: VaultApi,
  secretPath: string,
  data: Record<string, string>,
  mount = 'secret',
): Promise<void> {
  await vaultRequest(api, 'POST', `${mount}/data/${secretPath}`, { data });
}
