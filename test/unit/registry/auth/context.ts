/** A lookup context for the auth units, and a `send` that records what it is asked. */
import type {
  FoundCredential,
  RegistryCredential,
} from '../../../../webhook/src/registry/oci/docker-config.ts';
import { parseImageReference } from '../../../../webhook/src/registry/oci/reference.ts';
import type {
  LookupContext,
  Send,
  SendRequest,
} from '../../../../webhook/src/registry/oci/request-context.ts';
import type { HttpResponse } from '../../../../webhook/src/registry/oci/transport.ts';

export function context(
  credential?: RegistryCredential,
  image = 'r.example/app:v1',
): LookupContext {
  const found: FoundCredential | undefined =
    credential === undefined
      ? undefined
      : {
          source: 'secret ns/regcred',
          kind: 'pod',
          credential,
          identity: `id-${JSON.stringify(credential)}`,
        };
  return {
    ref: parseImageReference(image),
    credential: found,
    signal: new AbortController().signal,
    timeoutMs: 1000,
    upstreamRequests: 0,
  };
}

export function json(value: unknown, status = 200): HttpResponse {
  return { status, headers: {}, body: Buffer.from(JSON.stringify(value)) };
}

export function recordingSend(answer: (request: SendRequest) => HttpResponse): {
  send: Send;
  sent: SendRequest[];
} {
  const sent: SendRequest[] = [];
  return {
    sent,
    send: (_ctx, request) => {
      sent.push(request);
      return Promise.resolve(answer(request));
    },
  };
}
