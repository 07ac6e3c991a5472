/**
 * One CoreV1Api, and one keep-alive connection pool, per KubeConfig for every apiserver read of
 * the webhook (pull secrets, service accounts, Secrets and ConfigMaps behind valueFrom/envFrom).
 *
 * @kubernetes/client-node builds a new undici Agent for every request (its
 * `applySecurityAuthentication`), so every read opened a new TLS connection to the apiserver.
 * Here the headers (the bearer token, re-read as the client does) still come from the KubeConfig
 * on every request, but the first request's dispatcher is kept and given to every later one.
 * After a read got no answer, `renew()` starts a new pool for the next reads (a retry must not
 * queue behind a connection that stalled); the old one finishes what it has, within a grace.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { VERSION } from '../version.ts';
import {
  CoreV1Api,
  ServerConfiguration,
  createConfiguration,
  type RequestContext,
  type SecurityAuthentication,
} from '@kubernetes/client-node';

type Dispatcher = ReturnType<RequestContext['getDispatcher']>;

/** How long a replaced pool may finish its requests before its connections are destroyed. */
const RENEW_GRACE_MS = 10_000;

/** Authentication from the KubeConfig, over one dispatcher for every request. */
class SharedConnections implements SecurityAuthentication {
  readonly #kc: KubeConfig;
  #dispatcher: Dispatcher;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
  }

  getName(): string {
    return 'kubeconfig, one connection pool';
  }

  async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await this.#kc.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (this.#dispatcher === undefined) {
      this.#dispatcher = fresh;
      return;
    }
    context.setDispatcher(this.#dispatcher);
    // The client's new Agent has no connection yet: close it so it holds nothing.
    if (fresh !== undefined && fresh !== this.#dispatcher)
      void fresh.close().catch(() => undefined);
  }

  /** The next request starts a new pool; the old one is closed (destroyed after a grace). */
  renew(): void {
    const old = this.#dispatcher;
    this.#dispatcher = undefined;
    if (old === undefined) return;
    const destroy = setTimeout(() => void old.destroy().catch(() => undefined), RENEW_GRACE_MS);
    destroy.unref();
    old.close().then(
      () => clearTimeout(destroy),
      () => undefined,
    );
  }
}

/** The API, and `renew()` for after a read that got no answer. */
interface SharedCoreApi {
  readonly api: CoreV1Api;
  renew(): void;
}

const apis = new WeakMap<KubeConfig, SharedCoreApi>();

/** The CoreV1Api of this KubeConfig, with one connection pool shared by every reader. */
export function sharedCoreApi(kc: KubeConfig): SharedCoreApi {
  let shared = apis.get(kc);
  if (shared === undefined) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('No active cluster!');
    const connections = new SharedConnections(kc);
    const api = new CoreV1Api(
      createConfiguration({
        baseServer: new ServerConfiguration(cluster.server, {}),
        authMethods: { default: connections },
        // What the client's own makeApiClient sends, with our name (the apiserver's audit log).
        promiseMiddleware: [
          {
            pre: (context) => {
              context.setHeaderParam('User-Agent', `vault-inject/${VERSION}`);
              return Promise.resolve(context);
            },
            post: (response) => Promise.resolve(response),
          },
        ],
      }),
    );
    shared = { api, renew: () => connections.renew() };
    apis.set(kc, shared);
  }
  return shared;
}
