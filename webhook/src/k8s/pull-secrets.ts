/**
 * The PullSecretReader of the running webhook (@kubernetes/client-node; in-cluster config or
 * KUBECONFIG): a pod's `imagePullSecrets` and its service account's, for the registry lookup.
 * A Secret that is missing, of another type or forbidden is left out, as kubelet leaves out a pull
 * secret it cannot use; what is left out is reported by name and HTTP status only. A read that gets
 * no answer in time is retried within the review's time and then denies the review naming the
 * timeout (read-retry.ts): leaving it out would deny the pod as "no credentials match", or admit it
 * unmutated under --registry-failure-policy=admit. What this returns (`type` and `data`) goes to
 * the lookup and nowhere else: never into a log or an error.
 */
import { KubeConfig } from '@kubernetes/client-node';
import {
  DOCKER_CFG_TYPE,
  DOCKER_CONFIG_JSON_TYPE,
  type PullSecret,
} from '../registry/oci/docker-config.ts';
import type { PullSecretReader } from '../registry/oci/pod-command.ts';
import { sharedCoreApi } from './api-client.ts';
import { httpStatusOf, readWithRetry, type FailedRead, type RetryPolicy } from './read-retry.ts';

/** A read that was left out: the object and the HTTP status the apiserver answered. */
interface SkippedRead {
  readonly kind: 'secret' | 'serviceaccount';
  readonly namespace: string;
  readonly name: string;
  readonly status: number;
}

interface PullSecretReaderOptions {
  /** Per attempt; a read gets two within the review's time. */
  readonly timeoutMs: number;
  readonly kubeConfig?: KubeConfig;
  /** Told about every read that was left out except a 404 (an absent secret is normal). */
  readonly onSkip?: (skipped: SkippedRead) => void;
  /** Told about every attempt that got no answer (timeout, reset, 5xx), with its cause. */
  readonly onFailedAttempt?: (failed: FailedRead) => void;
}

const PULL_SECRET_TYPES = new Set<string>([DOCKER_CONFIG_JSON_TYPE, DOCKER_CFG_TYPE]);

export function kubernetesPullSecretReader(options: PullSecretReaderOptions): PullSecretReader {
  const kc = options.kubeConfig ?? new KubeConfig();
  if (!options.kubeConfig) kc.loadFromDefault();
  const { api, renew } = sharedCoreApi(kc);
  const policy: RetryPolicy = {
    timeoutMs: options.timeoutMs,
    beforeRetry: renew,
    ...(options.onFailedAttempt ? { onFailedAttempt: options.onFailedAttempt } : {}),
  };
  /** An HTTP answer (403, 404, …) leaves the object out; anything else is the review's failure. */
  const skipped = (read: Omit<SkippedRead, 'status'>, err: unknown): undefined => {
    const status = httpStatusOf(err);
    if (status === undefined) throw err;
    if (status !== 404) options.onSkip?.({ ...read, status });
    return undefined;
  };

  const readSecret = async (
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<PullSecret | undefined> => {
    const target = { kind: 'secret', namespace, name } as const;
    try {
      const secret = await readWithRetry(
        target,
        () => api.readNamespacedSecret({ name, namespace }),
        policy,
        signal,
      );
      if (secret.type === undefined || !PULL_SECRET_TYPES.has(secret.type)) return undefined;
      // Only what the lookup reads; the client's object (and any error it makes) stays here.
      return { metadata: { namespace, name }, type: secret.type, data: { ...secret.data } };
    } catch (err) {
      return skipped(target, err);
    }
  };

  return {
    async readSecrets(namespace, names, signal) {
      const found = await Promise.all(names.map((name) => readSecret(namespace, name, signal)));
      return found.filter((s): s is PullSecret => s !== undefined);
    },
    async serviceAccountPullSecrets(namespace, name, signal) {
      const target = { kind: 'serviceaccount', namespace, name } as const;
      try {
        const account = await readWithRetry(
          target,
          () => api.readNamespacedServiceAccount({ name, namespace }),
          policy,
          signal,
        );
        return (account.imagePullSecrets ?? [])
          .map((ref) => ref.name ?? '')
          .filter((n) => n !== '');
      } catch (err) {
        skipped(target, err);
        return [];
      }
    },
  };
}
