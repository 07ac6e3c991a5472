import type { AuthMethod } from '../../../init-binary/src/contract/index.ts';
import type { ResourceRequirements } from './types.ts';

/** How the init bundle reaches the pod (docs/webhook.md, docs/deploy.md). */
export type Delivery = 'emptydir' | 'image';

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
