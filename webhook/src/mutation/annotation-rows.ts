/**
 * The rows of the annotation table (annotations.ts) that came with Bank-Vaults' pod annotations
 * beyond the connection settings: the init program's delay, log level and format, transit batch
 * size and token file, exec probes, the copy container's user and group, and the service account
 * the `role` template may name. Each has its Bank-Vaults meaning (docs/configuration.md).
 */
import {
  Env,
  TOKEN_AUTH_MOUNT_PATH,
  parseDurationMs,
} from '../../../init-binary/src/contract/index.ts';
import { row, type Context } from './annotation-row.ts';
import * as V from './values.ts';

/** A duration as Go's time.ParseDuration reads it (or seconds); zero is no delay (unset). */
function delay(value: string): string | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  const ms = parseDurationMs(v);
  if (ms === undefined || ms < 0) {
    throw new V.ValueError(`${V.quote(v)} is not a duration such as 5s, 500ms or 1m`);
  }
  return ms === 0 ? undefined : v;
}

/** A whole number from 1 to `max`; empty is unset. */
function wholeNumber(max: number, what: string): (value: string) => number | undefined {
  return (value) => {
    const v = value.trim();
    if (v === '') return undefined;
    const n = /^\d{1,10}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= max)) {
      throw new V.ValueError(`${V.quote(v)} is not ${what} from 1 to ${max}`);
    }
    return n;
  };
}

/** The levels the init program reads (init-binary/src/config.ts), with Bank-Vaults' spellings. */
const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'warning', 'trace', 'fatal', 'panic'];

function logLevel(value: string): string | undefined {
  const v = value.trim();
  return v === '' ? undefined : V.oneOf(LOG_LEVELS, true)(v);
}

/** `VOLUME:KEY` of `token-auth-mount`: a volume of the pod and the file in it holding the token. */
export interface TokenAuthMount {
  readonly volume: string;
  readonly key: string;
}

const KEY = /^[-._a-zA-Z0-9]+$/;

function tokenAuthMount(value: string): TokenAuthMount | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  const [volume = '', key = '', ...rest] = v.split(':');
  if (rest.length > 0 || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(volume)) {
    throw new V.ValueError(
      `${V.quote(v)} is not VOLUME:KEY (a volume of the pod and a file in it)`,
    );
  }
  if (!KEY.test(key) || key === '.' || key === '..') {
    throw new V.ValueError(`${V.quote(v)}: ${V.quote(key)} is not a file name (a Secret key)`);
  }
  return { volume, key };
}

/** The largest user or group ID Kubernetes accepts. */
const MAX_ID = 2147483647;

/** Like `skip-verify`: only when the webhook allows it, else ignored with a warning. */
function registrySkipVerify(value: string, ctx: Context): boolean | undefined {
  const wanted = V.bool(value);
  if (wanted !== true || ctx.config.allowRegistrySkipVerify) return wanted;
  ctx.warnings.push(
    `${ctx.key} ignored: this webhook does not allow skipping registry TLS verification (--allow-registry-skip-verify); its operator can list the host in --registry-insecure-skip-verify`,
  );
  return false;
}

export const REGISTRY_SKIP_VERIFY = row(
  { name: 'registry-skip-verify', bankVaults: 'registry-skip-verify' },
  {
    setting: 'registrySkipVerify',
    parse: registrySkipVerify,
    fallback: () => false,
    defaultFlag: '--allow-registry-skip-verify',
    doc: "don't verify the registry's certificate when looking up this pod's images; only with `--allow-registry-skip-verify`, else ignored with a warning",
  },
);
export const DELAY = row(
  { name: 'delay', bankVaults: 'vault-env-delay' },
  {
    setting: 'delay',
    parse: delay,
    env: Env.ENV_DELAY,
    doc: 'the init program waits this long after resolving, before starting the app (a Go duration)',
  },
);
export const LOG_LEVEL = row(
  { name: 'log-level', bankVaults: 'log-level' },
  {
    setting: 'logLevel',
    parse: logLevel,
    env: Env.LOG_LEVEL,
    defaultFlag: '--init-log-level',
    doc: "the init program's log level: debug, info, warn or error (a container's own `VAULT_LOG_LEVEL` wins)",
  },
);
export const JSON_LOG = row(
  { name: 'json-log', bankVaults: 'enable-json-log' },
  {
    setting: 'jsonLog',
    parse: V.bool,
    env: Env.JSON_LOG,
    doc: '`false`: the init program logs text lines instead of JSON lines',
  },
);
export const TRANSIT_BATCH_SIZE = row(
  { name: 'transit-batch-size', bankVaults: 'transit-batch-size' },
  {
    setting: 'transitBatchSize',
    parse: wholeNumber(10000, 'a number of ciphertexts'),
    env: Env.TRANSIT_BATCH_SIZE,
    doc: 'at most this many transit ciphertexts per decrypt call (default: all in one)',
  },
);
export const TOKEN_AUTH_MOUNT = row(
  { name: 'token-auth-mount', bankVaults: 'token-auth-mount' },
  {
    setting: 'tokenAuthMount',
    parse: tokenAuthMount,
    env: Env.TOKEN_FILE,
    envValue: (m: TokenAuthMount) => `${TOKEN_AUTH_MOUNT_PATH}/${m.key}`,
    doc: `\`VOLUME:KEY\`: log in with the token in file KEY of the pod's volume VOLUME (e.g. a Secret), mounted at \`${TOKEN_AUTH_MOUNT_PATH}\`; sets \`token\` auth`,
  },
);
export const MUTATE_PROBES = row(
  { name: 'mutate-probes', bankVaults: 'mutate-probes' },
  {
    setting: 'mutateProbes',
    parse: V.bool,
    fallback: () => false,
    doc: 'exec probes of injected containers run through the init program, so they see the secrets',
  },
);
export const RUN_AS_USER = row(
  { name: 'run-as-user', bankVaults: 'run-as-user' },
  {
    setting: 'runAsUser',
    parse: wholeNumber(MAX_ID, 'a non-root user ID'),
    doc: "the copy init container's user (not 0: Pod Security `restricted`); default: the pod's, else 65534",
  },
);
export const RUN_AS_GROUP = row(
  { name: 'run-as-group', bankVaults: 'run-as-group' },
  {
    setting: 'runAsGroup',
    parse: wholeNumber(MAX_ID, 'a non-root group ID'),
    doc: "the copy init container's group (not 0); default: the pod's",
  },
);
export const SERVICE_ACCOUNT = row(
  { name: 'serviceaccount', bankVaults: 'vault-serviceaccount' },
  {
    setting: 'serviceAccount',
    parse: V.text,
    doc: 'the value of `{{.serviceaccount}}` in a `role` template (its only use for pods, as in Bank-Vaults)',
  },
);
