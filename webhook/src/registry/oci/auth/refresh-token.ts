/**
 * A docker config's `identitytoken`: an OAuth2 refresh token, exchanged at the Bearer realm by a
 * form POST (`grant_type=refresh_token`) for an access token, as docker and containerd do.
 */

/** What a token request sends, before the client adds its limits. */
export interface TokenRequest {
  readonly method: 'GET' | 'POST';
  readonly url: URL;
  readonly authorization: string | undefined;
  readonly body?: string;
  readonly contentType?: string;
}

export interface TokenScope {
  /** The challenge's `service`, when it names one. */
  readonly service: string | undefined;
  /** `repository:REPO:pull`, or the challenge's own. */
  readonly scope: string;
}

export function refreshTokenRequest(
  realm: URL,
  identityToken: string,
  { service, scope }: TokenScope,
): TokenRequest {
  const form = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: identityToken,
    client_id: 'vault-inject',
    scope,
    ...(service !== undefined ? { service } : {}),
  });
  return {
    method: 'POST',
    url: realm,
    authorization: undefined,
    body: form.toString(),
    contentType: 'application/x-www-form-urlencoded',
  };
}
