/**
 * The PullSecretReader of the running webhook (@kubernetes/client-node; in-cluster config or
 * KUBECONFIG): a pod's `imagePullSecrets` and its service account's, for the registry lookup.
 * A Secret that is missing, of another type, forbidden or slow is left out, as kubelet leaves out a
 * pull secret it cannot use; what is left out is reported by name and HTTP status only. What this
 * returns (`type` and `data`) goes to the lookup and nowhere else: never into a log or an error.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import {
  DOCKER_CFG_TYPE,
  DOCKER_CONFIG_JSON_TYPE,
  type PullSecret,
} from '../registry/oci/docker-config.ts';
import type { PullSecretReader } from '../registry/oci/pod-command.ts';

/** A read that was left out: the object, and the HTTP status or `timeout`/`aborted`/`error`. */
export interface SkippedRead {
  readonly kind: 'secret' | 'serviceaccount';
  readonly namespace: string;
  readonly name: string;
  readonly status: number | 'timeout' | 'aborted' | 'error';
}

export interface PullSecretReaderOptions {
  /** Per read. */
  readonly timeoutMs: number;
  readonly kubeConfig?: KubeConfig;
  /** Told about every read that was left out except a 404 (an absent secret is normal). */
  readonly onSkip?: (skipped: SkippedRead) => void;
}

const PULL_SECRET_TYPES = new Set<string>([DOCKER_CONFIG_JSON_TYPE, DOCKER_CFG_TYPE]);

function statusOf(err: unknown): SkippedRead['status'] {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return code;
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'TimeoutError' ? 'timeout' : name === 'AbortError' ? 'aborted' : 'error';
}

/** `work`, or a rejection when the time is up or the review gave up (the read is left behind). */
function bounded<T>(work: Promise<T>, timeoutMs: number, signal: AbortSignal): Promise<T> {
  const limit = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
  if (limit.aborted) return Promise.reject(limit.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const stop = (): void => reject(limit.reason as Error);
    limit.addEventListener('abort', stop, { once: true });
    work.then(
      (value) => (limit.removeEventListener('abort', stop), resolve(value)),
      (err: unknown) => (limit.removeEventListener('abort', stop), reject(err as Error)),
    );
  });
}

export function kubernetesPullSecretReader(options: PullSecretReaderOptions): PullSecretReader {
  const kc = options.kubeConfig ?? new KubeConfig();
  if (!options.kubeConfig) kc.loadFromDefault();
  const api = kc.makeApiClient(CoreV1Api);
  const skipped = (read: Omit<SkippedRead, 'status'>, err: unknown): undefined => {
    const status = statusOf(err);
    if (status !== 404) options.onSkip?.({ ...read, status });
    return undefined;
  };

  const readSecret = async (
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<PullSecret | undefined> => {
    try {
      const secret = await bounded(
        api.readNamespacedSecret({ name, namespace }),
        options.timeoutMs,
        signal,
      );
      if (secret.type === undefined || !PULL_SECRET_TYPES.has(secret.type)) return undefined;
      // Only what the lookup reads; the client's object (and any error it makes) stays here.
      return { metadata: { namespace, name }, type: secret.type, data: { ...secret.data } };
    } catch (err) {
      return skipped({ kind: 'secret', namespace, name }, err);
    }
  };

  return {
    async readSecrets(namespace, names, signal) {
      const found = await Promise.all(names.map((name) => readSecret(namespace, name, signal)));
      return found.filter((s): s is PullSecret => s !== undefined);
    },
    async serviceAccountPullSecrets(namespace, name, signal) {
      try {
        const account = await bounded(
          api.readNamespacedServiceAccount({ name, namespace }),
          options.timeoutMs,
          signal,
        );
        return (account.imagePullSecrets ?? [])
          .map((ref) => ref.name ?? '')
          .filter((n) => n !== '');
      } catch (err) {
        skipped({ kind: 'serviceaccount', namespace, name }, err);
        return [];
      }
    },
  };
}
