/**
 * A docker config's `registrytoken`: a token the registry accepts as it is, sent as
 * `Authorization: Bearer …` to a Bearer challenge without asking the realm for one.
 */
import type { RegistryCredential } from '../docker-config.ts';

export function registryTokenAuthorization(
  credential: Pick<RegistryCredential, 'registryToken'> | undefined,
): string | undefined {
  return credential?.registryToken !== undefined ? `Bearer ${credential.registryToken}` : undefined;
}
