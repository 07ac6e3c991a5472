/**
 * When the `auto` certificates change, and how: a pure function of what the Secret holds, the
 * policy and the clock. The leader calls it on every tick and applies the step it returns.
 *
 * A serving certificate is renewed once two thirds of its lifetime (`servingValidityMs`) have
 * passed; the CA likewise at two thirds of `caValidityMs`. One that would outlive a certificate
 * issued now under the policy is replaced at once (a policy change, or a takeover). Changing the serving certificate under
 * the same CA needs no care: every replica swaps its secure context atomically. Changing the CA
 * would fail handshakes if done at once, so it takes three steps, each `overlapMs` apart (long
 * enough for every replica to load the Secret and for the API server to reload its webhook
 * configuration):
 *
 *   1. add-ca         the new CA joins the trust bundle (caBundle = new + old); it signs nothing yet
 *   2. issue-serving  once the bundle has been out for `overlapMs`: a serving certificate from the
 *                     new CA; replicas switch to it as they poll
 *   3. drop-old-cas   once that certificate has been out for `overlapMs`: caBundle = new CA only
 *
 * Rotation never reads a certificate's notBefore (it is backdated, see ../authority.ts): the
 * times of steps 1 and 2 are kept in the Secret's annotations, so a new leader picks up a
 * rotation half-way.
 */

export interface CertView {
  readonly notAfter: number;
  readonly fingerprint: string;
}

export interface ServingView extends CertView {
  /** The key in the Secret belongs to the certificate. */
  readonly keyMatches: boolean;
  /** The certificate names every DNS name and IP the webhook is configured with. */
  readonly coversNames: boolean;
  /** Fingerprint of the trusted CA that signed it; undefined when none did. */
  readonly issuer: string | undefined;
}

/** What the Secret holds, parsed (see state.ts). */
export interface SecretView {
  /** The CAs of `ca.crt`, the trust bundle. */
  readonly trusted: readonly CertView[];
  /** The trusted CA whose key is `ca.key`; undefined when there is no usable key. */
  readonly signer: CertView | undefined;
  readonly serving: ServingView | undefined;
  /** When the signer joined the bundle (annotation); undefined: long ago. */
  readonly caAddedAt: number | undefined;
  /** When the serving certificate was written (annotation); undefined: long ago. */
  readonly servingIssuedAt: number | undefined;
}

export interface RotationPolicy {
  readonly servingValidityMs: number;
  readonly caValidityMs: number;
  readonly overlapMs: number;
}

export type Step =
  /** Nothing usable is served: a new CA and serving certificate at once, bundle = the new CA. */
  | { readonly kind: 'create'; readonly reason: string }
  | { readonly kind: 'add-ca'; readonly reason: string }
  | { readonly kind: 'issue-serving'; readonly reason: string }
  | { readonly kind: 'drop-old-cas'; readonly reason: string }
  /** Nothing to do before `at` (ms since the epoch). */
  | { readonly kind: 'wait'; readonly at: number; readonly reason: string };

/** When a certificate with lifetime `validityMs` should be replaced: a third before its end. */
export function renewAt(notAfter: number, validityMs: number): number {
  return notAfter - Math.floor(validityMs / 3);
}

/**
 * A certificate that ends later than one issued now would: made by someone else (`vault-inject
 * certs`, the chart) or under a longer validity. It is replaced, so the configured lifetimes hold
 * from the first tick. (One second of slack: certificate times have whole seconds.)
 */
function outlivesPolicy(notAfter: number, validityMs: number, now: number): boolean {
  return notAfter > now + validityMs + 1000;
}

/** Checks the policy's proportions, so that each rotation finishes before the next is due. */
export function policyProblem(p: RotationPolicy): string | undefined {
  if (p.servingValidityMs <= 0 || p.caValidityMs <= 0) return 'validities must be more than 0';
  if (p.caValidityMs < 3 * p.servingValidityMs) {
    return 'the CA validity must be at least three times the serving certificate validity';
  }
  if (3 * p.overlapMs >= p.servingValidityMs) {
    return 'the overlap must be shorter than a third of the serving certificate validity';
  }
  return undefined;
}

function servingUsable(s: ServingView | undefined, now: number): s is ServingView {
  return s !== undefined && s.keyMatches && s.issuer !== undefined && s.notAfter > now;
}

/** A step the signing CA itself needs (missing, due, or outliving the policy), or the CA. */
function caStep(view: SecretView, policy: RotationPolicy, now: number): Step | CertView {
  const { signer } = view;
  if (signer === undefined) return { kind: 'add-ca', reason: 'no CA key to sign with' };
  if (now >= renewAt(signer.notAfter, policy.caValidityMs)) {
    return { kind: 'add-ca', reason: 'the CA is two thirds through its lifetime' };
  }
  if (outlivesPolicy(signer.notAfter, policy.caValidityMs, now)) {
    return { kind: 'add-ca', reason: 'the CA outlives the configured validity' };
  }
  return signer;
}

export function nextStep(view: SecretView, policy: RotationPolicy, now: number): Step {
  const { serving } = view;
  const usable = servingUsable(serving, now);
  if (!usable && view.signer === undefined) {
    return { kind: 'create', reason: 'no usable CA and serving certificate' };
  }
  const signer = caStep(view, policy, now);
  if ('kind' in signer) return signer;
  if (!usable) return { kind: 'issue-serving', reason: 'no usable serving certificate' };
  if (serving.issuer !== signer.fingerprint) {
    const at = (view.caAddedAt ?? 0) + policy.overlapMs;
    if (now < at) return { kind: 'wait', at, reason: 'the new CA is being distributed' };
    return { kind: 'issue-serving', reason: 'switch to the new CA' };
  }
  if (!serving.coversNames) {
    return { kind: 'issue-serving', reason: 'the names of the serving certificate changed' };
  }
  const servingDue = renewAt(serving.notAfter, policy.servingValidityMs);
  if (now >= servingDue || outlivesPolicy(serving.notAfter, policy.servingValidityMs, now)) {
    return { kind: 'issue-serving', reason: 'the serving certificate is two thirds through' };
  }
  if (view.trusted.some((ca) => ca.fingerprint !== signer.fingerprint)) {
    const at = (view.servingIssuedAt ?? 0) + policy.overlapMs;
    if (now < at) return { kind: 'wait', at, reason: 'replicas are switching to the new CA' };
    return { kind: 'drop-old-cas', reason: 'every replica serves from the new CA' };
  }
  const at = Math.min(servingDue, renewAt(signer.notAfter, policy.caValidityMs));
  return { kind: 'wait', at, reason: 'up to date' };
}
