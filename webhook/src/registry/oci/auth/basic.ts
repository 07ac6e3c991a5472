/**
 * HTTP Basic (RFC 7617): the docker config's `username`/`password` (or `auth`), sent to a registry
 * that answers `WWW-Authenticate: Basic`, and to a Bearer realm's token GET.
 */
import type { RegistryCredential } from '../docker-config.ts';

/** `Basic base64(user:password)`, or undefined for a credential without a user name. */
export function basicAuthorization(
  credential: Pick<RegistryCredential, 'username' | 'password'> | undefined,
): string | undefined {
  if (credential?.username === undefined) return undefined;
  const pair = `${credential.username}:${credential.password ?? ''}`;
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}
