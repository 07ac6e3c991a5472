/**
 * `auto` certificates: every replica polls the Secret every `intervalMs` and serves the pair it
 * holds (handed to `onChange`, which swaps the server's secure context). The replica that holds
 * the Lease also moves the Secret along the rotation schedule (./schedule.ts), one step per tick,
 * and keeps its MutatingWebhookConfiguration's caBundle equal to the Secret's `ca.crt`.
 *
 * Order matters when trust changes: a CA joins the caBundle before the Secret names it (so no
 * serving certificate from it can be out before the API server trusts it), and leaves the
 * caBundle only after the Secret dropped it.
 *
 * The Secret and the caBundle may be reset from outside: a GitOps sync or `helm upgrade` that
 * writes back the chart's empty Secret, or the webhook configuration without its caBundle. The
 * leader puts back what it last served (the same CA, so no handshake fails) rather than make a
 * new one, and patches the caBundle again on its next tick.
 */
import type { Logger } from 'pino';
import { keyPair, type KeyPair } from '../certificates.ts';
import type { ServingNames } from '../authority.ts';
import { describeError, statusOf, type CertificateObjects, type StoredSecret } from './kube.ts';
import { nextStep, type RotationPolicy } from './schedule.ts';
import { EMPTY, applyStep, isEmpty, parseContent, type SecretContent } from './state.ts';

export interface AutoCertificateOptions {
  readonly objects: CertificateObjects;
  readonly secretName: string;
  readonly leaseName: string;
  /** The MutatingWebhookConfiguration whose caBundle is kept; '' for none. */
  readonly webhookConfigName: string;
  /** This replica's name in the Lease. */
  readonly identity: string;
  readonly names: ServingNames;
  readonly policy: RotationPolicy;
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly onChange: (pair: KeyPair) => void;
}

export interface AutoCertificates {
  /** Runs one poll now (tests). */
  tick(): Promise<void>;
  isLeader(): boolean;
  /** Stops polling and gives the Lease up. */
  close(): Promise<void>;
}

/** How long a leader that stopped renewing keeps the Lease. */
export function leaseDurationMs(intervalMs: number): number {
  return Math.max(3 * intervalMs, 3000);
}

/** Writes the Secret; on a conflict (a previous leader wrote in between), re-reads it instead. */
async function writeSecret(
  o: AutoCertificateOptions,
  content: SecretContent,
  stored: StoredSecret | undefined,
  done: Record<string, string>,
): Promise<StoredSecret | undefined> {
  try {
    const written = await o.objects.writeSecret(o.secretName, content, stored);
    o.logger.info(done, 'certificate Secret updated');
    return written;
  } catch (err) {
    // The next tick decides again from what is there now.
    if (statusOf(err) === 409) return o.objects.readSecret(o.secretName);
    throw err;
  }
}

export function startAutoCertificates(o: AutoCertificateOptions): AutoCertificates {
  let leader = false;
  let served: { cert: string; key: string } | undefined;
  /** The whole content the served pair came from: what a reset Secret gets back. */
  let known: SecretContent | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const reported = new Set<string>();
  const warnOnce = (what: string, err: unknown): void => {
    const reason = describeError(err);
    const key = `${what}: ${reason}`;
    if (reported.has(key)) return;
    reported.add(key);
    o.logger.warn({ reason }, what);
  };

  const advance = async (stored: StoredSecret | undefined): Promise<StoredSecret | undefined> => {
    if (known !== undefined && (stored === undefined || isEmpty(stored.content))) {
      // Reset from outside: the pair every replica serves goes back, and its CA with it.
      return writeSecret(o, known, stored, {
        step: 'restore',
        reason: 'the Secret was emptied or deleted',
      });
    }
    const now = Date.now();
    const content = stored?.content ?? EMPTY;
    const step = nextStep(parseContent(content, o.names).view, o.policy, now);
    if (step.kind === 'wait') return stored;
    let next = await applyStep(step, content, { names: o.names, policy: o.policy, now });
    if (step.kind === 'add-ca' && o.webhookConfigName !== '') {
      // Trust first: the API server must know the new CA before anything is signed by it.
      await o.objects.patchCaBundle(o.webhookConfigName, next.caBundle);
      next = { ...next, caAddedAt: Date.now() };
    }
    return writeSecret(o, next, stored, { step: step.kind, reason: step.reason });
  };

  const load = (stored: StoredSecret | undefined): void => {
    const content = stored?.content ?? EMPTY;
    const { cert, key } = content;
    if (cert === '' || key === '') return;
    if (served?.cert === cert && served.key === key) {
      known = content;
      return;
    }
    try {
      const pair = keyPair(cert, key);
      served = { cert, key };
      known = content;
      o.onChange(pair);
    } catch (err) {
      warnOnce('the certificate Secret holds no valid serving pair yet', err);
    }
  };

  const once = async (): Promise<void> => {
    try {
      const wasLeader = leader;
      leader = await o.objects.lead(
        o.leaseName,
        o.identity,
        leaseDurationMs(o.intervalMs),
        Date.now(),
      );
      if (leader !== wasLeader) o.logger.info({ leader }, 'certificate lease');
    } catch (err) {
      leader = false;
      warnOnce('certificate lease not reachable', err);
    }
    try {
      let stored = await o.objects.readSecret(o.secretName);
      if (leader) {
        stored = await advance(stored);
        if (stored && o.webhookConfigName !== '') {
          const changed = await o.objects.patchCaBundle(
            o.webhookConfigName,
            stored.content.caBundle,
          );
          if (changed) o.logger.info({ webhook: o.webhookConfigName }, 'caBundle updated');
        }
      }
      load(stored);
    } catch (err) {
      warnOnce('certificate Secret not synchronised', err);
    }
  };

  const schedule = (): void => {
    if (closed) return;
    timer = setTimeout(() => {
      running = once().finally(schedule);
    }, o.intervalMs);
    timer.unref();
  };
  running = once().finally(schedule);

  return {
    tick: async () => {
      await running;
      running = once();
      await running;
    },
    isLeader: () => leader,
    async close() {
      closed = true;
      clearTimeout(timer);
      await running;
      if (!leader) return;
      leader = false;
      try {
        await o.objects.release(o.leaseName, o.identity);
      } catch (err) {
        warnOnce('certificate lease not released', err);
      }
    },
  };
}
