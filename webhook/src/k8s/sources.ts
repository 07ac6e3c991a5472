/**
 * The SourceReader of the running webhook: reads Secrets and ConfigMaps with
 * @kubernetes/client-node (in-cluster config, or KUBECONFIG). Values are decoded here and handed
 * straight to `summarize` by the caller; errors keep their HTTP status and nothing of the body.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { SourceName, SourceReader } from '../mutation/sources.ts';

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function decode(data: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {}))
    out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}

function timeout(ms: number): Promise<never> {
  return new Promise((_, reject) => {
    setTimeout(
      () => reject(Object.assign(new Error('timed out'), { name: 'Timeout' })),
      ms,
    ).unref();
  });
}

export function kubernetesSourceReader(options: {
  timeoutMs: number;
  kubeConfig?: KubeConfig;
}): SourceReader {
  const kc = options.kubeConfig ?? new KubeConfig();
  if (!options.kubeConfig) kc.loadFromDefault();
  const api = kc.makeApiClient(CoreV1Api);
  const read = async (
    namespace: string,
    s: SourceName,
  ): Promise<Record<string, string> | undefined> => {
    try {
      if (s.kind === 'secret') {
        const secret = await api.readNamespacedSecret({ name: s.name, namespace });
        return decode(secret.data);
      }
      const cm = await api.readNamespacedConfigMap({ name: s.name, namespace });
      return { ...cm.data };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      // Rethrow only the status: the client's error message quotes the response body.
      throw Object.assign(new Error(`HTTP ${statusOf(err) ?? 'error'}`), {
        code: statusOf(err) ?? 'E_READ',
      });
    }
  };
  return {
    read: (namespace, s) => Promise.race([read(namespace, s), timeout(options.timeoutMs)]),
  };
}
