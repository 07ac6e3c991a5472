/**
 * The certificate Secret's content, parsed for the schedule, and each schedule step applied to it.
 * Key names are those of a `kubernetes.io/tls` Secret plus `ca.crt` (the trust bundle, newest CA
 * first) and `ca.key` (the signing CA's key); the chart, cert-manager and `vault-inject certs` all
 * agree on them.
 */
import {
  certFacts,
  coversNames,
  createAuthority,
  issueServing,
  joinPem,
  keyMatches,
  signedBy,
  splitPem,
  type Authority,
  type CertFacts,
  type ServingNames,
} from '../authority.ts';
import type { RotationPolicy, SecretView, Step } from './schedule.ts';

export const SECRET_KEYS = {
  caBundle: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
} as const;

export const ANNOTATIONS = {
  caAddedAt: 'vault-inject.dev/ca-added-at',
  servingIssuedAt: 'vault-inject.dev/serving-issued-at',
} as const;

export interface SecretContent {
  readonly caBundle: string;
  readonly caKey: string;
  readonly cert: string;
  readonly key: string;
  readonly caAddedAt?: number;
  readonly servingIssuedAt?: number;
}

export const EMPTY: SecretContent = { caBundle: '', caKey: '', cert: '', key: '' };

/** No certificate or key at all: a Secret just created empty (the chart's), or emptied. */
export function isEmpty(content: SecretContent): boolean {
  return (
    content.caBundle === '' && content.caKey === '' && content.cert === '' && content.key === ''
  );
}

interface Parsed {
  readonly view: SecretView;
  readonly trusted: readonly CertFacts[];
  readonly signer: Authority | undefined;
}

export function parseContent(content: SecretContent, names: ServingNames): Parsed {
  const trusted = splitPem(content.caBundle)
    .map(certFacts)
    .filter((c): c is CertFacts => c !== undefined && c.x509.ca);
  const signerFacts =
    content.caKey === '' ? undefined : trusted.find((ca) => keyMatches(ca, content.caKey));
  const served = content.cert === '' ? undefined : certFacts(splitPem(content.cert)[0] ?? '');
  const issuer = served ? trusted.find((ca) => signedBy(served, ca)) : undefined;
  return {
    trusted,
    signer: signerFacts ? { cert: signerFacts.pem, key: content.caKey } : undefined,
    view: {
      trusted: trusted.map(({ notAfter, fingerprint }) => ({ notAfter, fingerprint })),
      signer: signerFacts
        ? { notAfter: signerFacts.notAfter, fingerprint: signerFacts.fingerprint }
        : undefined,
      serving: served
        ? {
            notAfter: served.notAfter,
            fingerprint: served.fingerprint,
            keyMatches: keyMatches(served, content.key),
            coversNames: coversNames(served, names),
            issuer: issuer?.fingerprint,
          }
        : undefined,
      caAddedAt: content.caAddedAt,
      servingIssuedAt: content.servingIssuedAt,
    },
  };
}

export interface StepContext {
  readonly names: ServingNames;
  readonly policy: RotationPolicy;
  readonly now: number;
}

/** The Secret's content after `step` (certificates are generated here); `wait` changes nothing. */
export async function applyStep(
  step: Step,
  content: SecretContent,
  ctx: StepContext,
): Promise<SecretContent> {
  const parsed = parseContent(content, ctx.names);
  const serve = async (ca: Authority): Promise<{ cert: string; key: string }> =>
    issueServing({ ca, names: ctx.names, validityMs: ctx.policy.servingValidityMs, now: ctx.now });
  switch (step.kind) {
    case 'wait':
      return content;
    case 'create': {
      const ca = await createAuthority({ validityMs: ctx.policy.caValidityMs, now: ctx.now });
      const pair = await serve(ca);
      return {
        caBundle: joinPem([ca.cert]),
        caKey: ca.key,
        ...pair,
        caAddedAt: ctx.now,
        servingIssuedAt: ctx.now,
      };
    }
    case 'add-ca': {
      const ca = await createAuthority({ validityMs: ctx.policy.caValidityMs, now: ctx.now });
      // Expired CAs leave the bundle now; the others stay until the serving certificate moved.
      const kept = parsed.trusted.filter((c) => c.notAfter > ctx.now).map((c) => c.pem);
      return {
        ...content,
        caBundle: joinPem([ca.cert, ...kept]),
        caKey: ca.key,
        caAddedAt: ctx.now,
      };
    }
    case 'issue-serving': {
      if (!parsed.signer) throw new Error('issue-serving without a signing CA');
      return { ...content, ...(await serve(parsed.signer)), servingIssuedAt: ctx.now };
    }
    case 'drop-old-cas': {
      if (!parsed.signer) throw new Error('drop-old-cas without a signing CA');
      return { ...content, caBundle: joinPem([parsed.signer.cert]) };
    }
  }
}
