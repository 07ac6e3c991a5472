import type { AuthMethod } from '../../../init-binary/src/contract/index.ts';
import type { ResourceRequirements } from './types.ts';

/** How the init bundle reaches the pod (docs/webhook.md, docs/deploy.md). */
export type Delivery = 'emptydir' | 'image';

/**
 * Webhook-wide defaults of pod settings (config/defaults.ts): a pod's annotation wins over each.
 * Unset fields have no default; the pod's annotation or the init program's own default applies.
 */
export interface PodDefaults {
  /** The role as configured: a template is kept raw and rendered per pod like the annotation. */
  readonly role?: string;
  readonly namespace?: string;
  /** Secret in the pod's namespace whose `ca.crt` is mounted for the init program. */
  readonly tlsSecret?: string;
  /** A duration as written (`10s`). */
  readonly clientTimeout?: string;
  readonly transitKey?: string;
  readonly transitPath?: string;
  readonly ignoreMissing: boolean;
  readonly envPassthrough?: string;
  /** Only ever true together with `allowSkipVerify` (refused at start otherwise). */
  readonly skipVerify: boolean;
}

/** The webhook-wide settings the mutation needs; parsed once from flags and env (config.ts). */
export interface InjectionConfig {
  /** Default `VAULT_ADDR` for pods without a `vault-addr` annotation. */
  readonly vaultAddr: string;
  /** Addresses a `vault-addr` annotation may name. Empty means: only `vaultAddr`. */
  readonly allowedVaultAddrs: readonly string[];
  readonly authPath: string;
  readonly authMethod: AuthMethod;
  /** Whether a pod may ask for `skip-verify`. */
  readonly allowSkipVerify: boolean;
  /** The defaults of the other pod settings. */
  readonly defaults: PodDefaults;
  /** Whether a pod may ask for `registry-skip-verify` (its image lookups). */
  readonly allowRegistrySkipVerify: boolean;
  readonly initImage: string;
  readonly initImagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  readonly delivery: Delivery;
  /** emptyDir medium: disk unless configured as `Memory`. */
  readonly emptyDirMedium: '' | 'Memory';
  readonly copyResources: ResourceRequirements;
  /** `VAULT_LOG_LEVEL` for the init program; unset leaves its default. */
  readonly initLogLevel: string;
}
