/**
 * Every pod annotation the webhook reads or writes (CONTRACT section 2). Each is accepted under our
 * prefix and, where Bank-Vaults has one, under its name, so Bank-Vaults manifests work unchanged.
 * When both are set, ours wins.
 */

export const PREFIX = 'vault-inject.dev/';
export const BANK_VAULTS_PREFIX = 'vault.security.banzaicloud.io/';

export interface Annotation {
  /** Our name, e.g. `vault-inject.dev/role`. */
  readonly key: string;
  /** The Bank-Vaults name, e.g. `vault.security.banzaicloud.io/vault-role`, if there is one. */
  readonly alias?: string;
}

function annotation(name: string, bankVaultsName?: string): Annotation {
  return bankVaultsName === undefined
    ? { key: PREFIX + name }
    : { key: PREFIX + name, alias: BANK_VAULTS_PREFIX + bankVaultsName };
}

/**
 * `false`: never touch this pod. `true`: inject even when no env value holds a reference (for
 * `from-path`). The Bank-Vaults alias is the inverse `mutate: skip`, handled in
 * `injectionWanted` (pod-settings.ts).
 */
export const INJECT = annotation('inject');
/** Bank-Vaults' opt-out: `vault.security.banzaicloud.io/mutate: skip`. */
export const BANK_VAULTS_MUTATE = `${BANK_VAULTS_PREFIX}mutate`;
/** Vault address for this pod; must be in the webhook's allowlist. */
export const VAULT_ADDR = annotation('vault-addr', 'vault-addr');
/** Vault role to log in with; default: the pod's service account name. */
export const ROLE = annotation('role', 'vault-role');
/** Auth mount path; default `kubernetes`. */
export const AUTH_PATH = annotation('auth-path', 'vault-path');
/** `kubernetes`, `jwt`, `token` or `approle`; default `kubernetes`. */
export const AUTH_METHOD = annotation('auth-method', 'vault-auth-method');
/** Vault Enterprise / OpenBao namespace. */
export const NAMESPACE = annotation('namespace', 'vault-namespace');
/** Skip TLS verification of Vault; honoured only when the webhook allows it. */
export const SKIP_VERIFY = annotation('skip-verify', 'vault-skip-verify');
/** Secret (in the pod's namespace) whose `ca.crt` verifies Vault; mounted for the init program. */
export const TLS_SECRET = annotation('tls-secret', 'vault-tls-secret');
/** Total budget for login and reads, retries included, as a Go duration (`10s`, `1m30s`). */
export const CLIENT_TIMEOUT = annotation('client-timeout', 'vault-client-timeout');
/** A missing path or key is skipped with a warning instead of failing. */
export const IGNORE_MISSING = annotation('ignore-missing', 'vault-ignore-missing-secrets');
/** Comma list of `VAULT_*` names the app keeps. */
export const ENV_PASSTHROUGH = annotation('env-passthrough', 'vault-env-passthrough');
/** Keep the init program as the app's parent: renew the token and leases, forward signals. */
export const DAEMON = annotation('daemon', 'vault-env-daemon');
/** Comma list of paths whose keys all become env vars; injects the pod without any reference. */
export const FROM_PATH = annotation('from-path', 'vault-env-from-path');
/** Transit key for `vault:v1:` ciphertexts. */
export const TRANSIT_KEY = annotation('transit-key', 'transit-key-id');
/** Transit mount path; default `transit`. */
export const TRANSIT_PATH = annotation('transit-path', 'transit-path');
/** Audience of a projected service-account token mounted for the init program only. */
export const TOKEN_AUDIENCE = annotation('token-audience');
/** Comma list of container names to inject; default: every container with a reference. */
export const CONTAINERS = annotation('containers');
/** Written by the webhook (`injected`); marks a mutated pod. */
export const STATUS = annotation('status');
export const STATUS_INJECTED = 'injected';

/** The value of `a` in `annotations`: ours first, then the Bank-Vaults alias. */
export function readAnnotation(
  annotations: Readonly<Record<string, string>> | undefined,
  a: Annotation,
): { value: string; key: string } | undefined {
  if (!annotations) return undefined;
  const ours = annotations[a.key];
  if (ours !== undefined) return { value: ours, key: a.key };
  if (a.alias === undefined) return undefined;
  const theirs = annotations[a.alias];
  return theirs === undefined ? undefined : { value: theirs, key: a.alias };
}
