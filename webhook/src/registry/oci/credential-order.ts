/**
 * Credentials tried as kubelet tries them: every matching one in order (the request's sources: the
 * pod's pull secrets, then its service account's; then the node's: the webhook's default docker
 * config, then the credential provider plugins that match the image), the next after a 401/403 from the registry or its token service,
 * the first that works wins; anonymous only when none matches (kubelet never falls back to an
 * anonymous pull after its credentials failed).
 */
import type { LookupContext } from './request-context.ts';
import type { CredentialProviders } from './credential-provider/providers.ts';
import { CredentialProviderError } from './credential-provider/providers.ts';
import { findCredentials, type CredentialSource } from './docker-config.ts';
import { RegistryError } from './errors.ts';
import {
  identityOf,
  lookupError,
  type FlightValue,
  type ImageLookupRequest,
  type Prepared,
  type Resolved,
} from './lookup-types.ts';
import type { Platform } from './platform.ts';
import { parseImageReference, type ImageReference } from './reference.ts';

/** The node's credentials: the webhook's default docker config, then the credential providers. */
export interface NodeCredentials {
  readonly defaults: readonly CredentialSource[];
  readonly providers: CredentialProviders | undefined;
}

/**
 * The reference parsed, and the candidates in order (`[undefined]`: anonymous). Runs the credential
 * providers that match the image (cached as they say); one that fails fails the lookup.
 */
export async function prepareLookup(
  request: ImageLookupRequest,
  node: NodeCredentials,
  platform: Platform,
): Promise<Prepared> {
  const ref = parseImageReference(request.image);
  const provided = await providerSources(node.providers, ref, request.signal);
  const sources = [...(request.credentials ?? []), ...node.defaults, ...provided];
  const found = findCredentials(sources, ref.registry, ref.repository);
  return {
    ref,
    platform: request.platform ?? platform,
    candidates: found.length > 0 ? found : [undefined],
    attempt: { tried: 0 },
  };
}

async function providerSources(
  providers: CredentialProviders | undefined,
  ref: ImageReference,
  signal: AbortSignal | undefined,
): Promise<CredentialSource[]> {
  if (providers === undefined) return [];
  try {
    return await providers.sources(`${ref.registry}/${ref.repository}`, signal);
  } catch (error) {
    if (!(error instanceof CredentialProviderError)) throw error;
    const details = { image: ref.original, registry: ref.registry, reason: error.message };
    throw new RegistryError('credential_provider', details, { cause: error });
  }
}

/** One credential's try: the walk with that credential's request context. */
type TryCredential = (ctx: LookupContext, identity: string) => Promise<Resolved>;

interface CredentialSequence {
  readonly p: Prepared;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  /** Updated as the sequence goes, for the event of a caller that gives up before it ends. */
  readonly progress: { tried: number };
}

/**
 * Each candidate in turn until one answers. Only a refusal (401/403 from the registry or its token
 * service) moves on: another credential cannot change a missing tag, a timeout or a bad body.
 * Kubelet moves on after any failed pull; here the rest fail the same way.
 */
export async function tryInOrder(
  sequence: CredentialSequence,
  attempt: TryCredential,
): Promise<FlightValue> {
  const { p, signal, timeoutMs, progress } = sequence;
  const refused: RegistryError[] = [];
  let upstreamRequests = 0;
  for (const [index, credential] of p.candidates.entries()) {
    progress.tried = index + 1;
    const ctx: LookupContext = { ref: p.ref, credential, signal, timeoutMs, upstreamRequests: 0 };
    try {
      const resolved = await attempt(ctx, identityOf(credential));
      upstreamRequests += ctx.upstreamRequests;
      return { resolved, upstreamRequests, winner: index, tried: index + 1 };
    } catch (error) {
      upstreamRequests += ctx.upstreamRequests;
      const refusal =
        credential !== undefined && error instanceof RegistryError && error.code === 'unauthorized';
      if (!refusal) throw error;
      refused.push(error);
    }
  }
  const n = refused.length;
  throw lookupError(
    p,
    'unauthorized',
    `${n} credential${n === 1 ? '' : 's'} tried, none accepted: ${refused.map((e) => e.reason).join('; ')}`,
    n === 1 ? refused[0] : new AggregateError(refused, `${n} credentials refused`),
  );
}
