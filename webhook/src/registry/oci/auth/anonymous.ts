/**
 * The distribution token GET (`REALM?service=…&scope=…`): anonymous when the lookup has no
 * credential (or one without a user name), with Basic credentials when it has them. An anonymous
 * token is what a public repository on Docker Hub, GHCR or Quay asks for.
 */
import type { RegistryCredential } from '../docker-config.ts';
import { basicAuthorization } from './basic.ts';
import { refreshTokenRequest, type TokenRequest, type TokenScope } from './refresh-token.ts';

export function tokenGetRequest(
  realm: URL,
  credential: Pick<RegistryCredential, 'username' | 'password'> | undefined,
  { service, scope }: TokenScope,
): TokenRequest {
  const url = new URL(realm);
  if (service !== undefined) url.searchParams.set('service', service);
  url.searchParams.set('scope', scope);
  return { method: 'GET', url, authorization: basicAuthorization(credential) };
}

/**
 * The token request for a credential: an OAuth2 refresh-token POST for an identity token, else the
 * token GET (anonymous or with Basic credentials).
 */
export function tokenRequest(
  realm: URL,
  credential: RegistryCredential | undefined,
  scope: TokenScope,
): TokenRequest {
  if (credential?.identityToken !== undefined) {
    return refreshTokenRequest(realm, credential.identityToken, scope);
  }
  return tokenGetRequest(realm, credential, scope);
}
