/**
 * OpenBao for the stack: the dev server of test/env/openbao.ts (in memory, unsealed, KV v2 at
 * `secret/`, HOME and both ports its own), and its Kubernetes auth configured against our
 * kube-apiserver, over bao's HTTP API:
 *   - `kubernetes_host` = the apiserver, `kubernetes_ca_cert` = its CA, `disable_local_ca_jwt`
 *     (there is no in-cluster service-account file), `token_reviewer_jwt` = the admin token
 *     (a static token works; it need not be a JWT);
 *   - roles bound to service accounts in namespaces, with `audience=vault`.
 */
import { tail, type ServerProcess } from './processes.ts';
import { startOpenBao, type OpenBao } from './openbao.ts';

export interface VaultApi {
  /** http://127.0.0.1:PORT */
  readonly addr: string;
  readonly token: string;
}

export interface Bao extends VaultApi {
  readonly dir: string;
  /** A call with the root token; throws with Vault's errors on a non-2xx (test/env/openbao.ts). */
  api: OpenBao['api'];
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

/** The stack's OpenBao dev server (root token `root` unless given). */
export async function startBao(
  options: { persistent?: boolean; baseDir?: string; rootToken?: string } = {},
): Promise<Bao> {
  const bao = await startOpenBao({
    rootToken: options.rootToken ?? 'root',
    ...(options.baseDir !== undefined ? { baseDir: options.baseDir } : {}),
    ...(options.persistent !== undefined ? { persistent: options.persistent } : {}),
  });
  return {
    addr: bao.addr,
    token: bao.rootToken,
    dir: bao.dir,
    api: bao.api,
    process: bao.process,
    logs: (lines = 40) => `--- openbao (${bao.logPath}) ---\n${tail(bao.logPath, lines)}`,
    stop: () => bao.stop(),
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
