/**
 * The Authorization header for a challenge, one unit per scheme: Basic (basic.ts), Bearer with a
 * registry token as it is (registry-token.ts) or a token from the realm (bearer-token.ts: anonymous,
 * Basic or OAuth2 refresh token). Undefined when the lookup has nothing to offer the scheme.
 */
import type { LookupContext } from '../request-context.ts';
import { basicAuthorization } from './basic.ts';
import type { BearerTokens } from './bearer-token.ts';
import type { Challenge } from './challenge.ts';
import { registryTokenAuthorization } from './registry-token.ts';

interface AuthorizeRequest {
  readonly challenge: Challenge;
  /** The challenge's own `scope`, when the registry named one. */
  readonly scope: string | undefined;
  /** Ask for a new token, never the cached one (the last one was refused or none was sent). */
  readonly fresh: boolean;
}

export async function authorize(
  ctx: LookupContext,
  tokens: BearerTokens,
  { challenge, scope, fresh }: AuthorizeRequest,
): Promise<string | undefined> {
  const credential = ctx.credential?.credential;
  if (challenge.scheme === 'basic') return basicAuthorization(credential);
  if (challenge.scheme !== 'bearer') return undefined;
  const asIs = registryTokenAuthorization(credential);
  if (asIs !== undefined) return asIs;
  const wanted = { challenge, scope: scope ?? `repository:${ctx.ref.repository}:pull`, fresh };
  return `Bearer ${await tokens.token(ctx, wanted)}`;
}
