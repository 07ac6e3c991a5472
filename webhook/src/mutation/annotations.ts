/**
 * Every pod annotation the webhook reads or writes, in one table: names and aliases (Bank-Vaults'
 * first), the setting it gives, its parser and default, the init variable it sets and its doc line.
 * Pod settings (pod-settings.ts), the init env (mutate.ts) and docs/configuration.md's table come
 * from here. When a pod sets an annotation under several names, ours wins, then the aliases in order.
 */
import {
  AUTH_METHODS,
  DEFAULT_SECRETS_DIR,
  Env,
  TLS_MOUNT_PATH,
  TOKEN_FILE_NAME,
  TOKEN_MOUNT_PATH,
  parseBoolean,
  type AuthMethod,
} from '../../../init-binary/src/contract/index.ts';
import {
  BANK_VAULTS_PREFIX,
  names,
  row,
  type Annotation,
  type Context,
  type Defaulted,
  type SettingRow,
} from './annotation-row.ts';
import {
  DELAY,
  JSON_LOG,
  LOG_LEVEL,
  MUTATE_PROBES,
  REGISTRY_SKIP_VERIFY,
  RUN_AS_GROUP,
  RUN_AS_USER,
  SERVICE_ACCOUNT,
  TOKEN_AUTH_MOUNT,
  TRANSIT_BATCH_SIZE,
} from './annotation-rows.ts';
import type { Delivery } from './settings.ts';
import * as V from './values.ts';
import { allowedVaultAddr } from './vault-addr.ts';
import { SECRET_FILE_KEY_PREFIX, secretsDir } from './secret-files.ts';
import { REFRESH_ROWS } from './refresh-rows.ts';

export { BANK_VAULTS_PREFIX, PREFIX } from './annotation-row.ts';
export type { Annotation, Context, SettingRow } from './annotation-row.ts';
export {
  DELAY,
  JSON_LOG,
  LOG_LEVEL,
  MUTATE_PROBES,
  REGISTRY_SKIP_VERIFY,
  RUN_AS_GROUP,
  RUN_AS_USER,
  SERVICE_ACCOUNT,
  TOKEN_AUTH_MOUNT,
  TRANSIT_BATCH_SIZE,
};

function skipVerifyIgnored(ctx: Context): false {
  ctx.warnings.push(`${ctx.key} ignored: this webhook does not allow skipping TLS verification`);
  return false;
}

function skipVerify(value: string, ctx: Context): boolean | undefined {
  const wanted = V.bool(value);
  if (wanted !== true || ctx.config.allowSkipVerify) return wanted;
  return skipVerifyIgnored(ctx);
}

/** A container's own VAULT_SKIP_VERIFY: anything but a false the webhook can read becomes false. */
function skipVerifyOwn(value: string | undefined, ctx: Context): string | undefined {
  if (ctx.config.allowSkipVerify) return undefined;
  // Unset or false as the init program reads it (Go's ParseBool, around spaces): kept.
  if (value !== undefined && (value.trim() === '' || parseBoolean(value.trim()) === false)) {
    return undefined;
  }
  skipVerifyIgnored(ctx);
  return 'false';
}
const flagEnv = (on: boolean): string | undefined => (on ? 'true' : undefined);

/**
 * `false`: never touch this pod. `true`: inject even when no env value holds a reference (for
 * `from-path`). The Bank-Vaults alias is the inverse `mutate: skip` (pod-settings.ts).
 */
export const INJECT = row(
  { name: 'inject', vaultK8s: 'agent-inject' },
  {
    setting: 'inject',
    parse: V.bool,
    docAlias: `\`${BANK_VAULTS_PREFIX}mutate: skip\` (inverse), \`vault.hashicorp.com/agent-inject\``,
    doc: '`false`: leave the pod alone; `true`: inject every app container even without a reference',
  },
);
/** Bank-Vaults' opt-out: `vault.security.banzaicloud.io/mutate: skip`. */
export const BANK_VAULTS_MUTATE = `${BANK_VAULTS_PREFIX}mutate`;

export const VAULT_ADDR = row(
  { name: 'vault-addr', bankVaults: 'vault-addr', vaultK8s: 'service' },
  {
    setting: 'vaultAddr',
    parse: (v, ctx): string => allowedVaultAddr(v, ctx.config),
    fallback: (ctx) => ctx.config.vaultAddr,
    defaultFlag: '--vault-addr',
    env: Env.ADDR,
    own: 'strict',
    doc: 'Vault address; must be `--vault-addr` or in `--allowed-vault-addrs`, else the pod is denied',
  },
);
export const ROLE = row(
  { name: 'role', bankVaults: 'vault-role', vaultK8s: 'role' },
  {
    setting: 'role',
    parse: V.text,
    // `--default-role` as configured: a template stays raw here, rendered with the annotation's.
    fallback: (ctx) => ctx.config.defaults.role ?? (ctx.pod.spec.serviceAccountName || 'default'),
    defaultFlag: '--default-role',
    env: Env.ROLE,
    doc: "Vault role to log in with, a Go template as in Bank-Vaults (`{{.namespace}}-{{.name}}`, fields below); default: `--default-role`, else the pod's service account name",
  },
);
export const AUTH_PATH = row(
  { name: 'auth-path', bankVaults: 'vault-path', vaultK8s: 'auth-path' },
  {
    setting: 'authPath',
    parse: V.authPath,
    fallback: (ctx) => ctx.config.authPath,
    defaultFlag: '--auth-path',
    env: Env.AUTH_PATH,
    own: 'check',
    doc: 'auth mount path (a Vault path: see the path rules below)',
  },
);
export const AUTH_METHOD = row<'authMethod', AuthMethod>(
  { name: 'auth-method', bankVaults: 'vault-auth-method', vaultK8s: 'auth-type' },
  {
    setting: 'authMethod',
    parse: V.oneOf(AUTH_METHODS),
    fallback: (ctx) => ctx.config.authMethod,
    defaultFlag: '--auth-method',
    env: Env.AUTH_METHOD,
    doc: `auth method: ${AUTH_METHODS.join(', ')}`,
  },
);
export const NAMESPACE = row(
  { name: 'namespace', bankVaults: 'vault-namespace', vaultK8s: 'namespace' },
  {
    setting: 'namespace',
    parse: V.vaultPath,
    fallback: (ctx) => ctx.config.defaults.namespace,
    defaultFlag: '--default-namespace',
    env: Env.NAMESPACE,
    own: 'check',
    doc: 'Vault Enterprise / OpenBao namespace (a Vault path)',
  },
);
export const SKIP_VERIFY = row(
  { name: 'skip-verify', bankVaults: 'vault-skip-verify', vaultK8s: 'tls-skip-verify' },
  {
    setting: 'skipVerify',
    parse: skipVerify,
    fallback: (ctx) => ctx.config.defaults.skipVerify,
    defaultFlag: '--default-skip-verify',
    env: Env.SKIP_VERIFY,
    envValue: flagEnv,
    override: skipVerifyOwn,
    doc: 'skip TLS verification of Vault; only with `--allow-skip-verify`, else ignored with a warning',
  },
);
/** The CA file inside the `tls-secret` Secret. */
export const CA_FILE = 'ca.crt';
export const TLS_SECRET = row(
  { name: 'tls-secret', bankVaults: 'vault-tls-secret' },
  {
    setting: 'tlsSecret',
    parse: V.objectName,
    fallback: (ctx) => ctx.config.defaults.tlsSecret,
    defaultFlag: '--default-tls-secret',
    env: Env.CACERT,
    envValue: () => `${TLS_MOUNT_PATH}/${CA_FILE}`,
    doc: "Secret in the pod's namespace whose `ca.crt` verifies Vault, mounted for the init program",
  },
);
export const CLIENT_TIMEOUT = row(
  { name: 'client-timeout', bankVaults: 'vault-client-timeout' },
  {
    setting: 'clientTimeout',
    parse: V.duration,
    fallback: (ctx) => ctx.config.defaults.clientTimeout,
    defaultFlag: '--default-client-timeout',
    env: Env.CLIENT_TIMEOUT,
    own: 'check',
    doc: 'budget for login and reads, retries included: a Go duration (`10s`, `1m30s`, `1.5s`) or seconds',
  },
);
export const IGNORE_MISSING = row(
  { name: 'ignore-missing', bankVaults: 'vault-ignore-missing-secrets' },
  {
    setting: 'ignoreMissing',
    parse: V.bool,
    fallback: (ctx) => ctx.config.defaults.ignoreMissing,
    defaultFlag: '--default-ignore-missing',
    env: Env.IGNORE_MISSING_SECRETS,
    envValue: flagEnv,
    doc: 'a missing path or key is skipped with a warning instead of failing',
  },
);
export const ENV_PASSTHROUGH = row(
  { name: 'env-passthrough', bankVaults: 'vault-env-passthrough' },
  {
    setting: 'envPassthrough',
    parse: V.text,
    fallback: (ctx) => ctx.config.defaults.envPassthrough,
    defaultFlag: '--default-env-passthrough',
    env: Env.ENV_PASSTHROUGH,
    doc: 'comma list of `VAULT_*` names the app keeps',
  },
);
export const DAEMON = row(
  { name: 'daemon', bankVaults: 'vault-env-daemon' },
  {
    setting: 'daemon',
    parse: V.bool,
    fallback: () => false,
    env: Env.ENV_DAEMON,
    envValue: flagEnv,
    doc: "keep the init program as the app's parent: renew the token and leases, forward signals",
  },
);
export const FROM_PATH = row(
  { name: 'from-path', bankVaults: 'vault-env-from-path' },
  {
    setting: 'fromPath',
    parse: V.vaultPaths,
    env: Env.ENV_FROM_PATH,
    own: 'check',
    doc: 'comma list of Vault paths whose keys all become env vars; injects the pod without any reference',
  },
);
export const TRANSIT_KEY = row(
  { name: 'transit-key', bankVaults: 'transit-key-id' },
  {
    setting: 'transitKey',
    parse: V.vaultPath,
    fallback: (ctx) => ctx.config.defaults.transitKey,
    defaultFlag: '--default-transit-key',
    own: 'check',
    env: Env.TRANSIT_KEY_ID,
    doc: 'transit key for `vault:v1:` ciphertexts (a Vault path)',
  },
);
export const TRANSIT_PATH = row(
  { name: 'transit-path', bankVaults: 'transit-path' },
  {
    setting: 'transitPath',
    parse: V.vaultPath,
    fallback: (ctx) => ctx.config.defaults.transitPath,
    defaultFlag: '--default-transit-path',
    env: Env.TRANSIT_PATH,
    own: 'check',
    doc: 'transit mount path (a Vault path); default `transit`',
  },
);
export const TOKEN_AUDIENCE = row(
  { name: 'token-audience' },
  {
    setting: 'tokenAudience',
    parse: V.text,
    env: Env.SA_TOKEN,
    envValue: () => `${TOKEN_MOUNT_PATH}/${TOKEN_FILE_NAME}`,
    doc: 'audience of a projected service-account token mounted for the init program only',
  },
);
export const CONTAINERS = row(
  { name: 'containers', vaultK8s: 'agent-inject-containers' },
  {
    setting: 'containers',
    parse: V.list,
    doc: 'comma list of container names to inject; default: every container with a reference',
  },
);
function delivery(value: string): Delivery {
  const v = value.trim().toLowerCase();
  if (v === 'image' || v === 'emptydir') return v;
  throw new V.ValueError(`${V.quote(value.trim())} is not image or emptyDir`);
}

/**
 * How the bundle reaches this pod. A pod that already has a delivery (its `vault-inject` volume,
 * or the bundle mounts of containers already injected) keeps it (mutate.ts `podDelivery`).
 */
export const DELIVERY = row(
  { name: 'delivery' },
  {
    setting: 'delivery',
    parse: delivery,
    fallback: (ctx) => ctx.config.delivery,
    defaultFlag: '--delivery',
    doc: '`image` or `emptyDir`: how the bundle reaches this pod (a pod already injected keeps its own)',
  },
);

/**
 * Secret files (secret-files.ts): `secret-file-NAME` is a family of annotations, one per file,
 * read by its prefix; these two rows say where the files go and whether init containers get them.
 */
export const SECRET_FILE: Annotation = {
  key: `${SECRET_FILE_KEY_PREFIX}NAME`,
  aliases: [],
  doc: 'a template (text with `${vault:PATH#KEY}` references, or one `vault:PATH#KEY`) rendered into the file NAME of the secrets directory, on a memory volume, mode 0400 (0440 with an `fsGroup`); any number of them',
};
export const SECRETS_DIR = row(
  { name: 'secrets-dir', vaultK8s: 'secret-volume-path' },
  {
    setting: 'secretsDir',
    parse: secretsDir,
    fallback: () => DEFAULT_SECRETS_DIR,
    doc: `where the secret files are mounted in each receiving container; default \`${DEFAULT_SECRETS_DIR}\``,
  },
);
export const SECRET_FILES_INIT = row(
  { name: 'secret-files-init-containers' },
  {
    setting: 'secretFilesInitContainers',
    parse: V.bool,
    fallback: () => false,
    doc: '`true`: init containers (all, or those `containers` names) get the secret files too',
  },
);

/** Written by the webhook (`injected`); marks a mutated pod. */
export const STATUS: Annotation = {
  ...names({ name: 'status' }),
  doc: 'written by the webhook: `injected` marks a mutated pod',
};
export const STATUS_INJECTED = 'injected';

/** Every annotation that gives a pod setting, in the order they are read and their env is set. */
export const SETTINGS = [
  INJECT,
  VAULT_ADDR,
  ROLE,
  AUTH_PATH,
  AUTH_METHOD,
  NAMESPACE,
  SKIP_VERIFY,
  TLS_SECRET,
  CLIENT_TIMEOUT,
  IGNORE_MISSING,
  ENV_PASSTHROUGH,
  DAEMON,
  FROM_PATH,
  TRANSIT_KEY,
  TRANSIT_PATH,
  TOKEN_AUDIENCE,
  CONTAINERS,
  DELIVERY,
  // Bank-Vaults' further pod annotations (annotation-rows.ts).
  DELAY,
  LOG_LEVEL,
  JSON_LOG,
  TRANSIT_BATCH_SIZE,
  TOKEN_AUTH_MOUNT,
  MUTATE_PROBES,
  RUN_AS_USER,
  RUN_AS_GROUP,
  SERVICE_ACCOUNT,
  REGISTRY_SKIP_VERIFY,
  SECRETS_DIR,
  SECRET_FILES_INIT,
  ...REFRESH_ROWS,
] as const;

type Row = (typeof SETTINGS)[number];
type ValueOf<R> = R extends SettingRow<string, infer T> ? T : never;
/**
 * A pod's settings, one field per row: always set for a row with a default, else optional.
 * Derived from the table, so a new row is a new setting.
 */
export type PodSettings = {
  readonly [R in Row as R extends Defaulted<string, unknown> ? R['setting'] : never]: ValueOf<R>;
} & {
  readonly [R in Row as R extends Defaulted<string, unknown> ? never : R['setting']]?: ValueOf<R>;
};

/** Every annotation, for the docs. */
export const ANNOTATIONS: readonly Annotation[] = [...SETTINGS, SECRET_FILE, STATUS];

/** The value of `a` in `annotations`: ours first, then the aliases in order. */
export function readAnnotation(
  annotations: Readonly<Record<string, string>> | undefined,
  a: Annotation,
): { value: string; key: string } | undefined {
  if (!annotations) return undefined;
  for (const key of [a.key, ...a.aliases]) {
    const value = annotations[key];
    if (value !== undefined) return { value, key };
  }
  return undefined;
}
