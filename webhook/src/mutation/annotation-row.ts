/**
 * The shape of a row of the annotation table (annotations.ts): its names, the setting it gives,
 * how it is parsed and defaulted, the init variable it sets and how a container's own value of
 * that variable is policed.
 */
import type { EnvName } from '../../../init-binary/src/contract/index.ts';
import type { InjectionConfig } from './settings.ts';
import type { Pod } from './types.ts';

export const PREFIX = 'vault-inject.dev/';
export const BANK_VAULTS_PREFIX = 'vault.security.banzaicloud.io/';
/** The Vault Agent Injector's (vault-k8s) prefix: its annotations are aliases where they map. */
export const VAULT_K8S_PREFIX = 'vault.hashicorp.com/';

/** What a parser or a default may consult besides the value. */
export interface Context {
  /** The annotation as the pod wrote it (ours or an alias), for messages. */
  readonly key: string;
  readonly config: InjectionConfig;
  readonly pod: Pod;
  /** Facts worth telling the user (admission warnings). */
  readonly warnings: string[];
}

export interface Annotation {
  /** Our name, e.g. `vault-inject.dev/role`. */
  readonly key: string;
  /** The Bank-Vaults name, e.g. `vault.security.banzaicloud.io/vault-role`, if there is one. */
  readonly alias?: string;
  /** Every other name, in order of precedence (the Bank-Vaults name first). */
  readonly aliases: readonly string[];
  /** One line for docs/configuration.md. */
  readonly doc: string;
  /** The docs' alias cell when it is not simply the aliases (e.g. an inverse). */
  readonly docAlias?: string;
}

/** An annotation that gives a pod setting. */
export interface SettingRow<S extends string = string, T = unknown> extends Annotation {
  /** The field of PodSettings it fills. */
  readonly setting: S;
  /** The value as written → the setting (undefined: unset); throws V.ValueError. */
  parse(value: string, ctx: Context): T | undefined;
  /** The setting when the annotation is absent or unset. */
  fallback?(ctx: Omit<Context, 'key'>): T;
  /** The webhook flag giving the default, e.g. `--vault-addr`. */
  readonly defaultFlag?: string;
  /** The init program variable it sets. */
  readonly env?: EnvName;
  /** The variable's value for a setting (default: the setting as text; undefined: not set). */
  envValue?(setting: T): string | undefined;
  /**
   * How a container that sets `env` itself is policed (own-env.ts, docs/configuration.md): `check`
   * — a value the webhook can read must pass `parse`; `strict` — and one it cannot read (a
   * fieldRef, an unreadable Secret) denies the pod. Unset: not policed.
   */
  readonly own?: 'check' | 'strict';
  /**
   * Instead of `own`: what the webhook writes over the container's own value (`undefined`: the
   * value the webhook could not read), or undefined to keep it.
   */
  override?(value: string | undefined, ctx: Context): string | undefined;
}

interface Names {
  readonly name: string;
  readonly bankVaults?: string;
  readonly others?: readonly string[];
  /** The Vault Agent Injector's name, after `vault.hashicorp.com/`. */
  readonly vaultK8s?: string;
}

export function names({ name, bankVaults, others = [], vaultK8s }: Names) {
  const alias = bankVaults === undefined ? undefined : BANK_VAULTS_PREFIX + bankVaults;
  const rest = vaultK8s === undefined ? others : [...others, VAULT_K8S_PREFIX + vaultK8s];
  return {
    key: PREFIX + name,
    ...(alias === undefined ? {} : { alias }),
    aliases: alias === undefined ? rest : [alias, ...rest],
  };
}

type Spec<S extends string, T> = Omit<SettingRow<S, T>, 'key' | 'alias' | 'aliases'>;
/** A row whose setting always has a value (it has a default). */
export type Defaulted<S extends string, T> = SettingRow<S, T> &
  Required<Pick<SettingRow<S, T>, 'fallback'>>;

export function row<S extends string, T>(
  n: Names,
  spec: Spec<S, T> & Required<Pick<Spec<S, T>, 'fallback'>>,
): Defaulted<S, T>;
export function row<S extends string, T>(n: Names, spec: Spec<S, T>): SettingRow<S, T>;
export function row<S extends string, T>(n: Names, spec: Spec<S, T>): SettingRow<S, T> {
  return { ...names(n), ...spec };
}
