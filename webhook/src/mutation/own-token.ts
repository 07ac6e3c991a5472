/**
 * A Vault token the container brings itself. vault-env (Bank-Vaults 1.23) uses `VAULT_TOKEN_FILE`,
 * else a `VAULT_TOKEN` in the environment, before any login, and the init program does the same
 * when no auth method is set (docs/init-program.md). So the webhook writes `VAULT_AUTH_METHOD`
 * into such a container only when someone asked for a method: an annotation, or an operator
 * default other than `kubernetes`. Pure.
 */
import { Defaults, Env, LOGIN_VALUE } from '../../../init-binary/src/contract/index.ts';
import { AUTH_METHOD, readAnnotation } from './annotations.ts';
import type { InjectionConfig } from './settings.ts';
import type { Container, Pod } from './types.ts';

/**
 * `VAULT_TOKEN` (other than `vault:login`; any `valueFrom`) or `VAULT_TOKEN_FILE` in the
 * container's `env`. Through `envFrom` the webhook does not look: there the method is written.
 */
export function bringsToken(c: Container): boolean {
  return (c.env ?? []).some(
    (e) =>
      e.name === Env.TOKEN_FILE ||
      (e.name === Env.TOKEN && (e.valueFrom !== undefined || (e.value ?? '') !== LOGIN_VALUE)),
  );
}

/** An annotation names the auth method, or the operator's default is not the built-in one. */
export function authMethodAsked(pod: Pod, config: InjectionConfig): boolean {
  return (
    readAnnotation(pod.metadata?.annotations, AUTH_METHOD) !== undefined ||
    config.authMethod !== Defaults.AUTH_METHOD
  );
}
