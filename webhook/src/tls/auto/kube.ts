/**
 * The Kubernetes objects behind the certificates: the Secret (get, create, update with its
 * resourceVersion, so that a stale writer gets 409 and re-reads), the caBundle of a
 * MutatingWebhookConfiguration (get, then a JSON patch guarded by its resourceVersion) and the
 * Lease that names the one replica allowed to write (get, create, update).
 *
 * Nothing here logs; errors keep the API status as `code` and never any object body.
 */
import {
  AdmissionregistrationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  V1MicroTime,
  type KubeConfig,
  type V1Lease,
  type V1Secret,
} from '@kubernetes/client-node';
import { ANNOTATIONS, SECRET_KEYS, type SecretContent } from './state.ts';

export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** An API error reduced to its status and reason, safe to log. */
export function describeError(err: unknown): string {
  const status = statusOf(err);
  const body = (err as { body?: unknown } | null)?.body;
  let reason = '';
  if (typeof body === 'string') {
    try {
      reason = String((JSON.parse(body) as { reason?: unknown }).reason ?? '');
    } catch {
      reason = '';
    }
  }
  if (status !== undefined) return `HTTP ${status}${reason ? ` ${reason}` : ''}`;
  return (err as Error | null)?.message ?? String(err);
}

export interface StoredSecret {
  readonly content: SecretContent;
  readonly object: V1Secret;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string =>
  s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8');

function timeOf(text: string | undefined): number | undefined {
  const t = text === undefined ? NaN : Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

export function contentOf(secret: V1Secret): SecretContent {
  const data = secret.data ?? {};
  const notes = secret.metadata?.annotations ?? {};
  const caAddedAt = timeOf(notes[ANNOTATIONS.caAddedAt]);
  const servingIssuedAt = timeOf(notes[ANNOTATIONS.servingIssuedAt]);
  return {
    caBundle: unb64(data[SECRET_KEYS.caBundle]),
    caKey: unb64(data[SECRET_KEYS.caKey]),
    cert: unb64(data[SECRET_KEYS.cert]),
    key: unb64(data[SECRET_KEYS.key]),
    ...(caAddedAt !== undefined ? { caAddedAt } : {}),
    ...(servingIssuedAt !== undefined ? { servingIssuedAt } : {}),
  };
}

/** `base` (its labels, other annotations and data keys kept) with `content` written in. */
export function secretWith(base: V1Secret, content: SecretContent): V1Secret {
  const annotations = { ...base.metadata?.annotations };
  if (content.caAddedAt !== undefined)
    annotations[ANNOTATIONS.caAddedAt] = new Date(content.caAddedAt).toISOString();
  if (content.servingIssuedAt !== undefined)
    annotations[ANNOTATIONS.servingIssuedAt] = new Date(content.servingIssuedAt).toISOString();
  return {
    ...base,
    apiVersion: 'v1',
    kind: 'Secret',
    type: base.type ?? 'kubernetes.io/tls',
    metadata: { ...base.metadata, annotations },
    data: {
      ...base.data,
      [SECRET_KEYS.caBundle]: b64(content.caBundle),
      [SECRET_KEYS.caKey]: b64(content.caKey),
      [SECRET_KEYS.cert]: b64(content.cert),
      [SECRET_KEYS.key]: b64(content.key),
    },
  };
}

export class CertificateObjects {
  readonly #core: CoreV1Api;
  readonly #admission: AdmissionregistrationV1Api;
  readonly #coordination: CoordinationV1Api;
  readonly namespace: string;

  constructor(kubeConfig: KubeConfig, namespace: string) {
    this.namespace = namespace;
    this.#core = kubeConfig.makeApiClient(CoreV1Api);
    this.#admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    this.#coordination = kubeConfig.makeApiClient(CoordinationV1Api);
  }

  async readSecret(name: string): Promise<StoredSecret | undefined> {
    try {
      const object = await this.#core.readNamespacedSecret({ name, namespace: this.namespace });
      return { object, content: contentOf(object) };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** Creates the Secret, or replaces `previous` (409 when someone wrote in between). */
  async writeSecret(
    name: string,
    content: SecretContent,
    previous: StoredSecret | undefined,
  ): Promise<StoredSecret> {
    if (previous) {
      const object = await this.#core.replaceNamespacedSecret({
        name,
        namespace: this.namespace,
        body: secretWith(previous.object, content),
      });
      return { object, content: contentOf(object) };
    }
    const base: V1Secret = { metadata: { name, namespace: this.namespace } };
    const object = await this.#core.createNamespacedSecret({
      namespace: this.namespace,
      body: secretWith(base, content),
    });
    return { object, content: contentOf(object) };
  }

  /** The caBundle of each webhook in the configuration (PEM; '' where unset). */
  async readCaBundles(name: string): Promise<string[]> {
    const mwc = await this.#admission.readMutatingWebhookConfiguration({ name });
    return (mwc.webhooks ?? []).map((w) => unb64(w.clientConfig.caBundle));
  }

  /** Sets every webhook's caBundle to `bundle`; true when something changed. */
  async patchCaBundle(name: string, bundle: string): Promise<boolean> {
    const mwc = await this.#admission.readMutatingWebhookConfiguration({ name });
    const webhooks = mwc.webhooks ?? [];
    const value = b64(bundle);
    if (webhooks.every((w) => w.clientConfig.caBundle === value)) return false;
    await this.#admission.patchMutatingWebhookConfiguration({
      name,
      body: [
        // The indexes below are those of this resourceVersion.
        { op: 'test', path: '/metadata/resourceVersion', value: mwc.metadata?.resourceVersion },
        ...webhooks.map((_, i) => ({
          op: 'add',
          path: `/webhooks/${i}/clientConfig/caBundle`,
          value,
        })),
      ],
    });
    return true;
  }

  /**
   * Takes or renews the Lease for `identity`: true when this identity holds it afterwards. A Lease
   * held by someone else is taken once it has not been renewed for its duration.
   */
  async lead(name: string, identity: string, durationMs: number, now: number): Promise<boolean> {
    const seconds = Math.max(1, Math.ceil(durationMs / 1000));
    let lease;
    try {
      lease = await this.#coordination.readNamespacedLease({ name, namespace: this.namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      return this.#createLease({ name, identity, seconds, now });
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const expired = renewed + (spec.leaseDurationSeconds ?? seconds) * 1000 < now;
    if (holder !== identity && holder !== '' && !expired) return false;
    const taking = holder !== identity;
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: seconds,
        renewTime: new V1MicroTime(now),
        ...(taking
          ? {
              acquireTime: new V1MicroTime(now),
              leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
            }
          : {}),
      },
    };
    return this.#conflictIsFalse(
      this.#coordination.replaceNamespacedLease({ name, namespace: this.namespace, body }),
    );
  }

  #createLease(l: { name: string; identity: string; seconds: number; now: number }) {
    return this.#conflictIsFalse(
      this.#coordination.createNamespacedLease({
        namespace: this.namespace,
        body: {
          metadata: { name: l.name, namespace: this.namespace },
          spec: {
            holderIdentity: l.identity,
            leaseDurationSeconds: l.seconds,
            acquireTime: new V1MicroTime(l.now),
            renewTime: new V1MicroTime(l.now),
            leaseTransitions: 0,
          },
        },
      }),
    );
  }

  /** True once `write` succeeded; false when someone else wrote first (409). */
  async #conflictIsFalse(write: Promise<unknown>): Promise<boolean> {
    try {
      await write;
      return true;
    } catch (err) {
      if (statusOf(err) === 409) return false;
      throw err;
    }
  }

  /** Gives the Lease up (on shutdown) so that another replica takes it at once. */
  async release(name: string, identity: string): Promise<void> {
    const lease = await this.#coordination.readNamespacedLease({
      name,
      namespace: this.namespace,
    });
    if (lease.spec?.holderIdentity !== identity) return;
    await this.#coordination.replaceNamespacedLease({
      name,
      namespace: this.namespace,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: '' } },
    });
  }
}
