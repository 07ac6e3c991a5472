/**
 * The SourceReader of the running webhook: reads Secrets and ConfigMaps with
 * @kubernetes/client-node (in-cluster config, or KUBECONFIG). Values are decoded here and handed
 * straight to `summarize` by the caller; errors keep their HTTP status and nothing of the body. A
 * read that gets no answer in time is retried, then rejects with a WebhookError
 * (E_KUBERNETES_READ) that denies the review: a reference behind the object would otherwise go
 * unseen and the pod be admitted without it.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { SourceName, SourceReader } from '../mutation/sources.ts';
import { sharedCoreApi } from './api-client.ts';
import { httpStatusOf, readWithRetry, type FailedRead } from './read-retry.ts';

function decode(data: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {}))
    out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}

interface SourceReaderOptions {
  /** Per attempt; a read gets two. */
  readonly timeoutMs: number;
  readonly kubeConfig?: KubeConfig;
  /** Told about every attempt that got no answer (timeout, reset, 5xx), with its cause. */
  readonly onFailedAttempt?: (failed: FailedRead) => void;
}

export function kubernetesSourceReader(options: SourceReaderOptions): SourceReader {
  const kc = options.kubeConfig ?? new KubeConfig();
  if (!options.kubeConfig) kc.loadFromDefault();
  const { api, renew } = sharedCoreApi(kc);
  const policy = {
    timeoutMs: options.timeoutMs,
    beforeRetry: renew,
    ...(options.onFailedAttempt ? { onFailedAttempt: options.onFailedAttempt } : {}),
  };
  const fetchData = async (namespace: string, s: SourceName): Promise<Record<string, string>> => {
    if (s.kind === 'secret') {
      return decode((await api.readNamespacedSecret({ name: s.name, namespace })).data);
    }
    return { ...(await api.readNamespacedConfigMap({ name: s.name, namespace })).data };
  };
  return {
    async read(namespace, s) {
      const target = { kind: s.kind, namespace, name: s.name } as const;
      try {
        return await readWithRetry(target, () => fetchData(namespace, s), policy);
      } catch (err) {
        const status = httpStatusOf(err);
        if (status === 404) return undefined;
        if (status === undefined) throw err; // E_KUBERNETES_READ: denies the review
        // Rethrow only the status: the client's error message quotes the response body.
        throw Object.assign(new Error(`HTTP ${status}`), { code: status });
      }
    },
  };
}
