/**
 * Every name that crosses the boundary between the webhook, the pod spec and the init process
 * (docs/init-program.md, docs/webhook.md). It imports nothing.
 */

/** Where the bundle is mounted in every injected container. */
export const MOUNT_PATH = '/vault-inject';
/** The init program inside the bundle; the injected container's new `command`. */
export const INIT_PROGRAM = `${MOUNT_PATH}/bin/vault-inject-env`;
/** The shared volume and the copy init container. */
export const VOLUME_NAME = 'vault-inject';
export const COPY_CONTAINER_NAME = 'vault-inject-copy';
/**
 * The copy init container runs `[INIT_PROGRAM, COPY_FLAG, COPY_TARGET]` from the init image (no
 * shell needed): the bundle copies itself into the shared volume, mounted there.
 */
export const COPY_FLAG = '--copy-bundle';
export const COPY_TARGET = '/vault-inject-volume';
/** Where the `tls-secret` CA is mounted, and the projected `token-audience` token. */
export const TLS_MOUNT_PATH = '/vault-inject-tls';
export const TLS_VOLUME_NAME = 'vault-inject-tls';
export const TOKEN_MOUNT_PATH = '/vault-inject-token';
export const TOKEN_VOLUME_NAME = 'vault-inject-token';
export const TOKEN_FILE_NAME = 'token';
/** Where the volume named by `token-auth-mount` is mounted for the init program's token auth. */
export const TOKEN_AUTH_MOUNT_PATH = '/vault-inject-token-auth';
/**
 * `vault-inject.dev/agent: sidecar` (docs/configuration.md#sidecar): a restartable init container
 * runs `[INIT_PROGRAM, SIDECAR_FLAG]` from the init image, writes each receiving container's files
 * into that container's own volume, mounted at SIDECAR_FILES_ROOT/N, and SIDECAR_READY_FILE after
 * the first render; its startup probe runs `[INIT_PROGRAM, SIDECAR_READY_FLAG]`.
 */
export const SIDECAR_CONTAINER_NAME = 'vault-inject-agent';
export const SIDECAR_FLAG = '--sidecar';
export const SIDECAR_READY_FLAG = '--sidecar-ready';
export const SIDECAR_FILES_ROOT = '/vault-inject-files';
export const SIDECAR_STATE_VOLUME = 'vault-inject-agent';
export const SIDECAR_STATE_DIR = '/vault-inject-agent';
export const SIDECAR_READY_FILE = `${SIDECAR_STATE_DIR}/ready`;
/** The directories the sidecar writes into, `:`-separated; written by the webhook only. */
export const SIDECAR_DIRS_ENV = 'VAULT_INJECT_SIDECAR_DIRS';
/** Another place for the ready marker (SIDECAR_READY_FILE when unset); for runs outside a pod. */
export const SIDECAR_READY_ENV = 'VAULT_INJECT_SIDECAR_READY_FILE';
/** The Kubernetes-automounted service account token. */
export const DEFAULT_SA_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Webhook → init process settings: Bank-Vaults' `vault-env` names (docs/init-program.md). */
export const Env = {
  ADDR: 'VAULT_ADDR',
  ROLE: 'VAULT_ROLE',
  AUTH_PATH: 'VAULT_PATH',
  AUTH_METHOD: 'VAULT_AUTH_METHOD',
  NAMESPACE: 'VAULT_NAMESPACE',
  SKIP_VERIFY: 'VAULT_SKIP_VERIFY',
  CACERT: 'VAULT_CACERT',
  CLIENT_TIMEOUT: 'VAULT_CLIENT_TIMEOUT',
  IGNORE_MISSING_SECRETS: 'VAULT_IGNORE_MISSING_SECRETS',
  ENV_PASSTHROUGH: 'VAULT_ENV_PASSTHROUGH',
  ENV_DAEMON: 'VAULT_ENV_DAEMON',
  ENV_FROM_PATH: 'VAULT_ENV_FROM_PATH',
  TRANSIT_KEY_ID: 'VAULT_TRANSIT_KEY_ID',
  TRANSIT_PATH: 'VAULT_TRANSIT_PATH',
  LOG_LEVEL: 'VAULT_LOG_LEVEL',
  JSON_LOG: 'VAULT_JSON_LOG',
  TOKEN: 'VAULT_TOKEN',
  TOKEN_FILE: 'VAULT_TOKEN_FILE',
  ROLE_ID: 'VAULT_ROLE_ID',
  SECRET_ID: 'VAULT_SECRET_ID',
  SA_TOKEN: 'KUBERNETES_SERVICE_ACCOUNT_TOKEN',
  ENV_DELAY: 'VAULT_ENV_DELAY',
  TRANSIT_BATCH_SIZE: 'VAULT_TRANSIT_BATCH_SIZE',
  /** The secret files to render (contract/secret-files.ts); written by the webhook only. */
  SECRET_FILES: 'VAULT_INJECT_SECRET_FILES',
  /** Daemon refresh (contract/refresh.ts): how often, and how the app learns of a change. */
  REFRESH_INTERVAL: 'VAULT_INJECT_REFRESH_INTERVAL',
  RELOAD: 'VAULT_INJECT_RELOAD',
  RELOAD_SIGNAL: 'VAULT_INJECT_RELOAD_SIGNAL',
} as const;
export type EnvName = (typeof Env)[keyof typeof Env];

/** Every setting the init process removes from the app's environment before exec. */
export const INIT_SETTINGS: readonly EnvName[] = Object.values(Env);

/**
 * Connection settings handed to the app, with the init process's token, when the app asks for it
 * with `VAULT_TOKEN=vault:login`.
 */
export const LOGIN_PASSTHROUGH: readonly EnvName[] = [
  Env.ADDR,
  Env.NAMESPACE,
  Env.CACERT,
  Env.SKIP_VERIFY,
  Env.TOKEN,
];

/**
 * Bank-Vaults' vault-env settings (vault-env 1.23.0 main.go: the variables it removes from the
 * app's environment, and VAULT_ENV_LOG_SERVER, which it reads). Those the init program does not
 * read (not in INIT_SETTINGS) are removed from the app's environment all the same, but the
 * VAULT_ENV_PASSTHROUGH names, and named in one warning: a Bank-Vaults manifest never hands them
 * to the app, and a setting that does nothing is said.
 */
export const BANK_VAULTS_SETTINGS: readonly string[] = [
  'VAULT_TOKEN',
  'VAULT_ADDR',
  'VAULT_AGENT_ADDR',
  'VAULT_CACERT',
  'VAULT_CAPATH',
  'VAULT_CLIENT_CERT',
  'VAULT_CLIENT_KEY',
  'VAULT_CLIENT_TIMEOUT',
  'VAULT_SRV_LOOKUP',
  'VAULT_SKIP_VERIFY',
  'VAULT_NAMESPACE',
  'VAULT_TLS_SERVER_NAME',
  'VAULT_WRAP_TTL',
  'VAULT_MFA',
  'VAULT_MAX_RETRIES',
  'VAULT_CLUSTER_ADDR',
  'VAULT_REDIRECT_ADDR',
  'VAULT_CLI_NO_COLOR',
  'VAULT_RATE_LIMIT',
  'VAULT_ROLE',
  'VAULT_PATH',
  'VAULT_AUTH_METHOD',
  'VAULT_TRANSIT_KEY_ID',
  'VAULT_TRANSIT_PATH',
  'VAULT_TRANSIT_BATCH_SIZE',
  'VAULT_IGNORE_MISSING_SECRETS',
  'VAULT_ENV_PASSTHROUGH',
  'VAULT_JSON_LOG',
  'VAULT_LOG_LEVEL',
  'VAULT_REVOKE_TOKEN',
  'VAULT_ENV_DAEMON',
  'VAULT_ENV_FROM_PATH',
  'VAULT_ENV_DELAY',
  'VAULT_ENV_LOG_SERVER',
];

/**
 * The Vault client settings vault-env leaves to the app with `VAULT_TOKEN=vault:login` (besides
 * LOGIN_PASSTHROUGH): they configure the app's own client, so they are the app's then.
 */
export const BANK_VAULTS_LOGIN: readonly string[] = [
  'VAULT_AGENT_ADDR',
  'VAULT_CAPATH',
  'VAULT_CLIENT_CERT',
  'VAULT_CLIENT_KEY',
  'VAULT_CLIENT_TIMEOUT',
  'VAULT_SRV_LOOKUP',
  'VAULT_TLS_SERVER_NAME',
  'VAULT_WRAP_TTL',
  'VAULT_MFA',
  'VAULT_MAX_RETRIES',
];

export const AUTH_METHODS = ['kubernetes', 'jwt', 'token', 'approle'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

export const Defaults = {
  AUTH_PATH: 'kubernetes',
  AUTH_METHOD: 'kubernetes' as AuthMethod,
  CLIENT_TIMEOUT: '10s',
  TRANSIT_PATH: 'transit',
} as const;

/** `vault-inject-env` exit codes for its own failures (docs/init-program.md; sysexits.h values). */
export const ExitCode = {
  /** Bad reference, missing secret or key, bad configuration (EX_CONFIG). */
  CONFIG: 78,
  /** Vault denied the login or a read (EX_NOPERM). */
  DENIED: 77,
  /** Vault unreachable within the client timeout (EX_UNAVAILABLE). */
  UNAVAILABLE: 69,
  /** The command was not found. */
  NOT_FOUND: 127,
  /** The command was found but cannot be executed. */
  NOT_EXECUTABLE: 126,
  /** Anything else (EX_SOFTWARE). */
  SOFTWARE: 70,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
