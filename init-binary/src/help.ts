/**
 * `vault-inject-env --help`: every variable the program reads, with its default. The table is
 * typed by the contract's names, so a new setting does not compile until it is described here;
 * docs/init-program.md holds the same table (a unit test compares them).
 */
import { DEFAULT_SA_TOKEN_PATH, Defaults, Env, type EnvName } from './contract/names.ts';
import { DEFAULT_PATH } from './command.ts';

export const HELP_FLAG = '--help';

export interface SettingHelp {
  /** The default as text; '' when the setting is unset by default. */
  readonly default: string;
  readonly help: string;
}

export const SETTINGS_HELP: Readonly<Record<EnvName, SettingHelp>> = {
  [Env.ADDR]: { default: '', help: "Vault's address (http:// or https://); needed for references" },
  [Env.AUTH_METHOD]: {
    default: Defaults.AUTH_METHOD,
    help: 'kubernetes, jwt, token or approle; unset with VAULT_TOKEN or VAULT_TOKEN_FILE: token',
  },
  [Env.AUTH_PATH]: { default: Defaults.AUTH_PATH, help: 'the auth mount to log in at' },
  [Env.ROLE]: { default: '', help: 'the role of kubernetes and jwt logins' },
  [Env.NAMESPACE]: { default: '', help: 'sent as X-Vault-Namespace with every call' },
  [Env.SKIP_VERIFY]: { default: 'false', help: "do not verify Vault's TLS certificate" },
  [Env.CACERT]: { default: '', help: "a PEM file of the CA that signed Vault's certificate" },
  [Env.CLIENT_TIMEOUT]: {
    default: Defaults.CLIENT_TIMEOUT,
    help: 'the budget for login, reads and retries (a Go duration, or seconds)',
  },
  [Env.IGNORE_MISSING_SECRETS]: {
    default: 'false',
    help: 'leave out a variable whose secret or key is missing',
  },
  [Env.ENV_PASSTHROUGH]: { default: '', help: 'comma list of these names the app keeps' },
  [Env.ENV_DAEMON]: {
    default: 'false',
    help: 'stay the parent and renew the token and leases',
  },
  [Env.ENV_FROM_PATH]: {
    default: '',
    help: 'comma list of secret paths whose keys all become variables',
  },
  [Env.TRANSIT_KEY_ID]: { default: '', help: 'the transit key that decrypts vault:vN: values' },
  [Env.TRANSIT_PATH]: { default: Defaults.TRANSIT_PATH, help: 'the transit mount' },
  [Env.LOG_LEVEL]: { default: 'info', help: 'debug, info, warn or error' },
  [Env.JSON_LOG]: { default: 'true', help: 'log JSON lines (false: text lines)' },
  [Env.TOKEN]: {
    default: '',
    help: 'the token of token auth; vault:login hands ours to the app',
  },
  [Env.TOKEN_FILE]: { default: '', help: 'a file holding the token of token auth' },
  [Env.ROLE_ID]: { default: '', help: 'the role ID of approle auth' },
  [Env.SECRET_ID]: { default: '', help: 'the secret ID of approle auth' },
  [Env.SA_TOKEN]: {
    default: DEFAULT_SA_TOKEN_PATH,
    help: 'the token file of kubernetes and jwt logins',
  },
  [Env.ENV_DELAY]: {
    default: '0s',
    help: 'wait this long after resolving, before starting the app',
  },
  [Env.TRANSIT_BATCH_SIZE]: {
    default: '0',
    help: 'at most this many ciphertexts per transit call (0: all in one)',
  },
  [Env.SECRET_FILES]: {
    default: '',
    help: 'the secret files to render before CMD (written by the webhook from its annotations)',
  },
  [Env.REFRESH_INTERVAL]: {
    default: '',
    help: 'daemon mode: resolve the files and environment again this often (e.g. 5m)',
  },
  [Env.RELOAD]: {
    default: '',
    help: 'on a change: signal (send the reload signal) or restart (the app, with the new environment)',
  },
  [Env.RELOAD_SIGNAL]: { default: '', help: 'the signal sent on a change (e.g. SIGHUP)' },
};

/** Whether `args` ask for help: `--help` alone, unless a command of that name exists. */
export function wantsHelp(
  args: readonly string[],
  commandExists: (name: string) => boolean,
): boolean {
  return args.length === 1 && args[0] === HELP_FLAG && !commandExists(HELP_FLAG);
}

export function helpText(): string {
  const rows: [string, string, string][] = Object.entries(SETTINGS_HELP).map(([name, s]) => [
    name,
    s.default === '' ? 'unset' : s.default,
    s.help,
  ]);
  rows.push(['PATH', DEFAULT_PATH, 'where CMD is looked up']);
  rows.push([
    'HTTPS_PROXY, HTTP_PROXY, NO_PROXY',
    'unset',
    'the proxy to Vault, unless NO_PROXY names it (lowercase wins; kept for CMD)',
  ]);
  const lines = rows.map(([n, d, h]) => `  ${n}  (default: ${d})\n      ${h}`);
  return [
    'Usage: vault-inject-env [--] CMD [ARGS...]',
    '       vault-inject-env exec -- CMD [ARGS...]   (in a running container: see exec --help)',
    '       vault-inject-env --copy-bundle DIR',
    '       vault-inject-env --sidecar | --sidecar-ready   (the files sidecar and its probe)',
    '',
    'Logs in to Vault, replaces every vault:PATH#KEY reference in the environment with its',
    'value, removes the settings below and execs CMD. `-- CMD` always runs CMD (even one',
    'named --help). Exit codes: 78 bad setting, reference or missing secret; 77 denied;',
    '69 Vault unreachable; 127/126 command not found/not executable; 70 anything else.',
    '',
    'Variables:',
    ...lines,
    '',
    'Docs: docs/init-program.md and docs/references.md of vault-inject.',
    '',
  ].join('\n');
}
