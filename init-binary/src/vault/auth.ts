/**
 * Login for the four methods of docs/init-program.md. Each returns the client token and what the
 * daemon needs to keep it alive. Credentials come from the Config (or files it names), never from
 * anywhere else.
 */
import type { Config } from '../config.ts';
import { Env } from '../contract/names.ts';
import { ConfigError, DeniedError } from '../errors.ts';
import type { VaultHttp } from './http.ts';
import { record } from './kv.ts';

export interface LoginResult {
  readonly token: string;
  /** Seconds; 0 for a token that does not expire (root, or unknown for `token` auth). */
  readonly ttlSeconds: number;
  readonly renewable: boolean;
  /**
   * Who Vault knows this session as, for the message of a later denial: the method, the mount,
   * the role and the token's policies, e.g. `the login as role "app" at auth/jwt (policies: app,
   * default)`, or `the token of VAULT_TOKEN (token auth)`.
   * Never a credential: no token, no secret ID, no role ID (AppRole's RoleID is half a secret).
   */
  readonly identity: string;
}

export async function login(http: VaultHttp, config: Config): Promise<LoginResult> {
  switch (config.authMethod) {
    case 'token':
      return {
        token: staticToken(config),
        ttlSeconds: 0,
        renewable: false,
        identity: `the token of ${config.tokenFile !== undefined ? Env.TOKEN_FILE : Env.TOKEN} (token auth)`,
      };
    case 'kubernetes':
    case 'jwt': {
      const role = required(config.role, Env.ROLE, config.authMethod);
      const jwt = readCredential(config.saTokenFile, Env.SA_TOKEN);
      return loginAt(http, {
        authPath: config.authPath,
        body: { role, jwt },
        secrets: [jwt],
        who: `role "${role}"`,
        role: `its role "${role}" (${Env.ROLE}) admits this token`,
        identity: () => `role "${role}"`,
      });
    }
    case 'approle': {
      const roleId = required(config.roleId, Env.ROLE_ID, 'approle');
      const body: Record<string, string> = { role_id: roleId };
      if (config.secretId !== undefined) body['secret_id'] = config.secretId;
      return loginAt(http, {
        authPath: config.authPath,
        body,
        secrets: Object.values(body),
        who: 'approle',
        role: `the role ID (${Env.ROLE_ID}) is one of its roles`,
        // AppRole names the role in the login's metadata; the role ID itself is not shown.
        identity: (metadata) => {
          const name = metadata?.['role_name'];
          return typeof name === 'string' && name !== ''
            ? `approle role "${name}"`
            : `the approle role ID of ${Env.ROLE_ID}`;
        },
      });
    }
  }
}

interface LoginRequest {
  readonly authPath: string;
  readonly body: Readonly<Record<string, string>>;
  /** The credentials in `body`: cut out of whatever Vault answers. */
  readonly secrets: readonly string[];
  /** For messages: `role "app"`, `approle`. */
  readonly who: string;
  /** What a 403 asks to check about the role. */
  readonly role: string;
  /** The role as the login's answer (its `auth.metadata`) or the request names it. */
  readonly identity: (metadata: Readonly<Record<string, unknown>> | undefined) => string;
}

async function loginAt(http: VaultHttp, check: LoginRequest): Promise<LoginResult> {
  const { authPath, who } = check;
  const res = await http.write(`auth/${authPath}/login`, check.body, {
    action: `the login at auth/${authPath} with ${who}`,
    login: true,
    secrets: check.secrets,
    // Vault and OpenBao answer 403 where no auth method is enabled, as for a refused login.
    hints: {
      403: `check that auth/${authPath} is an enabled auth method (${Env.AUTH_PATH}) and that ${check.role}`,
    },
  });
  const auth = record(res['auth']);
  const token = auth?.['client_token'];
  if (typeof token !== 'string' || token === '') {
    throw new DeniedError(`the login at auth/${authPath} with ${who} returned no token`);
  }
  const ttl = auth?.['lease_duration'];
  return {
    token,
    ttlSeconds: typeof ttl === 'number' && ttl > 0 ? ttl : 0,
    renewable: auth?.['renewable'] === true,
    identity: `the login as ${check.identity(record(auth?.['metadata']))} at auth/${authPath}${policiesOf(auth)}`,
  };
}

/** ` (policies: a, b)` from a login's answer (at most 8 names), or nothing when it names none. */
function policiesOf(auth: Readonly<Record<string, unknown>> | undefined): string {
  const policies = auth?.['policies'];
  const names = Array.isArray(policies)
    ? policies.filter((p): p is string => typeof p === 'string' && p !== '')
    : [];
  if (names.length === 0) return '';
  const more = names.length > 8 ? `, and ${names.length - 8} more` : '';
  return ` (policies: ${names.slice(0, 8).join(', ')}${more})`;
}

/** VAULT_TOKEN_FILE before VAULT_TOKEN, as vault-env reads them. */
function staticToken(config: Config): string {
  if (config.tokenFile !== undefined) return readCredential(config.tokenFile, Env.TOKEN_FILE);
  if (config.token !== undefined) return config.token;
  throw new ConfigError(
    `${Env.AUTH_METHOD}=token needs ${Env.TOKEN} (a token, not vault:login) or ${Env.TOKEN_FILE}`,
  );
}

// Small local files, read synchronously: node:fs/promises would cost ms at every start.
function readCredential(file: string, variable: string): string {
  let text: string;
  try {
    text = process.getBuiltinModule('node:fs').readFileSync(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`${variable}: cannot read ${file} (${code})`, { cause });
  }
  const trimmed = text.trim();
  if (trimmed === '') throw new ConfigError(`${variable}: ${file} is empty`);
  return trimmed;
}

function required(value: string | undefined, variable: string, method: string): string {
  if (value === undefined) throw new ConfigError(`${variable} is required for ${method} auth`);
  return value;
}
