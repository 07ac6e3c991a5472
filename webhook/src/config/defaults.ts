/**
 * Webhook-wide defaults for pod settings: what a pod gets when it does not set the annotation
 * (the `default from` column of the annotation table, docs/configuration.md). Each default reads
 * its flag, then our variable, then the variable Bank-Vaults' webhook reads for the same setting
 * (`VAULT_ROLE`, `VAULT_PATH`, ...), so that a Bank-Vaults deployment's environment works
 * unchanged. A default is checked at start by the annotation's own parser: a value no pod could
 * write is refused before any pod sees it.
 */
import { AUTH_METHODS, type AuthMethod } from '../../../init-binary/src/contract/index.ts';
import type { PodDefaults } from '../mutation/settings.ts';
import { ROLE_FIELDS, renderRole } from '../mutation/role-template.ts';
import * as V from '../mutation/values.ts';
import type { FlagSpec, Problems } from './flags.ts';

const E = (name: string): string => `VAULT_INJECT_${name}`;

/** The flags giving a pod setting's default; a pod's annotation wins over each. */
export const POD_DEFAULT_FLAGS = [
  {
    flag: 'auth-path',
    env: E('AUTH_PATH'),
    envAlias: 'VAULT_PATH',
    default: 'kubernetes',
    help: 'default Vault auth mount path',
  },
  {
    flag: 'auth-method',
    env: E('AUTH_METHOD'),
    envAlias: 'VAULT_AUTH_METHOD',
    default: 'kubernetes',
    help: `default auth method (${AUTH_METHODS.join(', ')})`,
  },
  {
    flag: 'default-role',
    env: E('DEFAULT_ROLE'),
    envAlias: 'VAULT_ROLE',
    default: '',
    help: "default Vault role, a template like the role annotation (empty: the pod's service account name)",
  },
  {
    flag: 'default-namespace',
    env: E('DEFAULT_NAMESPACE'),
    envAlias: 'VAULT_NAMESPACE',
    default: '',
    help: 'default Vault Enterprise / OpenBao namespace (empty: none)',
  },
  {
    flag: 'default-tls-secret',
    env: E('DEFAULT_TLS_SECRET'),
    envAlias: 'VAULT_TLS_SECRET',
    default: '',
    help: "Secret in each pod's namespace whose ca.crt verifies Vault, mounted into every injected pod (empty: none)",
  },
  {
    flag: 'default-client-timeout',
    env: E('DEFAULT_CLIENT_TIMEOUT'),
    envAlias: 'VAULT_CLIENT_TIMEOUT',
    default: '',
    help: "default budget for login and reads (empty: the init program's own)",
  },
  {
    flag: 'default-transit-key',
    env: E('DEFAULT_TRANSIT_KEY'),
    envAlias: 'TRANSIT_KEY_ID',
    default: '',
    help: 'default transit key for vault:v1: ciphertexts (empty: none)',
  },
  {
    flag: 'default-transit-path',
    env: E('DEFAULT_TRANSIT_PATH'),
    envAlias: 'TRANSIT_PATH',
    default: '',
    help: 'default transit mount path (empty: transit)',
  },
  {
    flag: 'default-ignore-missing',
    env: E('DEFAULT_IGNORE_MISSING'),
    envAlias: 'VAULT_IGNORE_MISSING_SECRETS',
    default: 'false',
    boolean: true,
    help: 'skip a missing path or key with a warning instead of failing',
  },
  {
    flag: 'default-env-passthrough',
    env: E('DEFAULT_ENV_PASSTHROUGH'),
    envAlias: 'VAULT_ENV_PASSTHROUGH',
    default: '',
    help: 'default comma list of VAULT_* names the app keeps',
  },
  {
    flag: 'default-skip-verify',
    env: E('DEFAULT_SKIP_VERIFY'),
    envAlias: 'VAULT_SKIP_VERIFY',
    default: 'false',
    boolean: true,
    help: 'skip TLS verification of Vault for every pod; needs --allow-skip-verify',
  },
] as const satisfies readonly FlagSpec[];

type Name = (typeof POD_DEFAULT_FLAGS)[number]['flag'];

/** The flag's value through an annotation parser; a refused value is added to `p`. */
function checked<T>(p: Problems<Name>, name: Name, parse: (value: string) => T): T | undefined {
  try {
    return parse(p.text(name));
  } catch (err) {
    if (!(err instanceof V.ValueError)) throw err;
    p.add(name, err.message);
    return undefined;
  }
}

/** A default role: a template must render (every field filled), so a bad one stops the start. */
function role(value: string): string | undefined {
  const text = V.text(value);
  if (text) renderRole(text, Object.fromEntries(ROLE_FIELDS.map((f) => [f, f])) as never);
  return text;
}

/** Leaves out the settings without a default, so that the object compares and prints cleanly. */
function present<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * The defaults; every bad value is added to `p`. `allowSkipVerify` is the operator's permission,
 * undefined when that flag itself is bad (then its problem is already reported).
 */
export function readDefaults(
  p: Problems<Name>,
  allowSkipVerify: boolean | undefined,
): { authPath: string; authMethod: AuthMethod; defaults: PodDefaults } {
  const skipVerify = p.bool('default-skip-verify');
  if (skipVerify && allowSkipVerify === false) {
    p.add(
      'default-skip-verify',
      'true needs --allow-skip-verify: only the operator may skip TLS verification',
    );
  }
  const defaults: PodDefaults = present({
    role: checked(p, 'default-role', role),
    namespace: checked(p, 'default-namespace', V.vaultPath),
    tlsSecret: checked(p, 'default-tls-secret', V.objectName),
    clientTimeout: checked(p, 'default-client-timeout', (v) => V.text(v) && V.duration(v)),
    transitKey: checked(p, 'default-transit-key', V.vaultPath),
    transitPath: checked(p, 'default-transit-path', V.vaultPath),
    ignoreMissing: p.bool('default-ignore-missing'),
    envPassthrough: checked(p, 'default-env-passthrough', V.text),
    skipVerify: skipVerify && allowSkipVerify === true,
  });
  return {
    authPath: checked(p, 'auth-path', V.vaultPath) ?? 'kubernetes',
    authMethod: p.oneOf<AuthMethod>('auth-method', AUTH_METHODS),
    defaults: Object.freeze(defaults),
  };
}
