/**
 * A small certificate authority for the webhook's own Service: an ECDSA P-256 CA and serving
 * certificates it signs. Used by `vault-inject certs` and by the `auto` mode alike, so both write
 * the same Secret layout (`ca.crt` the trust bundle, `ca.key` the signing CA's key, `tls.crt`,
 * `tls.key`).
 *
 * Every certificate's notBefore is set `BACKDATE_MS` in the past: the API server checks it with
 * its own clock, and a node whose clock runs a little ahead must not make a fresh certificate
 * "not yet valid". Rotation decisions never read notBefore (see auto/schedule.ts).
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { generate } from 'selfsigned';
import { ErrorCode, WebhookError } from '../errors.ts';

export const BACKDATE_MS = 5 * 60 * 1000;

export interface Authority {
  readonly cert: string;
  readonly key: string;
}

export interface ServingNames {
  readonly dnsNames: readonly string[];
  readonly ips: readonly string[];
}

/** The names the API server dials a Service by, then the extras, without duplicates. */
export function serviceDnsNames(
  service: string,
  namespace: string,
  extra: readonly string[] = [],
): string[] {
  const base = [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
  return [...new Set([...base, ...extra])];
}

/** Checks extra names given by a user: DNS names are not IPs and IPs are IPs. */
export function checkNames(names: ServingNames): void {
  for (const ip of names.ips) {
    if (isIP(ip) === 0) throw new WebhookError(ErrorCode.CONFIG, `"${ip}" is not an IP address`);
  }
  for (const dns of names.dnsNames) {
    if (!/^[a-z0-9*]([a-z0-9.-]*[a-z0-9])?$/i.test(dns)) {
      throw new WebhookError(ErrorCode.CONFIG, `"${dns}" is not a DNS name`);
    }
  }
}

function validity(now: number, ms: number, notAfterLimit?: number): { from: Date; to: Date } {
  const to = notAfterLimit === undefined ? now + ms : Math.min(now + ms, notAfterLimit);
  return { from: new Date(now - BACKDATE_MS), to: new Date(to) };
}

/** A new CA; its common name carries a random suffix so that old and new CAs are told apart. */
export async function createAuthority(options: {
  readonly validityMs: number;
  readonly now?: number;
}): Promise<Authority> {
  const { from, to } = validity(options.now ?? Date.now(), options.validityMs);
  const cn = `vault-inject-ca-${randomBytes(4).toString('hex')}`;
  const pems = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: from,
    notAfterDate: to,
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      {
        name: 'keyUsage',
        keyCertSign: true,
        cRLSign: true,
        digitalSignature: true,
        critical: true,
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** A serving certificate signed by `ca`, never outliving it. */
export async function issueServing(options: {
  readonly ca: Authority;
  readonly names: ServingNames;
  readonly validityMs: number;
  readonly now?: number;
}): Promise<{ cert: string; key: string }> {
  const caExpiry = new Date(new X509Certificate(options.ca.cert).validTo).getTime();
  const { from, to } = validity(options.now ?? Date.now(), options.validityMs, caExpiry);
  const cn = options.names.dnsNames[0] ?? options.names.ips[0] ?? 'vault-inject';
  const pems = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: from,
    notAfterDate: to,
    ca: options.ca,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...options.names.dnsNames.map((value) => ({ type: 2 as const, value })),
          ...options.names.ips.map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** The certificates of a PEM bundle, in order. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

export function joinPem(certs: readonly string[]): string {
  return certs.map((c) => (c.endsWith('\n') ? c : `${c}\n`)).join('');
}

export interface CertFacts {
  readonly pem: string;
  readonly notAfter: number;
  readonly fingerprint: string;
  readonly x509: X509Certificate;
}

export function certFacts(pem: string): CertFacts | undefined {
  try {
    const x509 = new X509Certificate(pem);
    return {
      pem,
      notAfter: new Date(x509.validTo).getTime(),
      fingerprint: x509.fingerprint256,
      x509,
    };
  } catch {
    return undefined;
  }
}

/** Whether `key` (PEM) is the private key of `cert`. */
export function keyMatches(cert: CertFacts, key: string): boolean {
  try {
    return cert.x509.checkPrivateKey(createPrivateKey(key));
  } catch {
    return false;
  }
}

/** Whether `cert` names every DNS name and IP (its SANs, exactly, wildcards not counted). */
export function coversNames(cert: CertFacts, names: ServingNames): boolean {
  const san = cert.x509.subjectAltName ?? '';
  const entries = new Set(san.split(', '));
  return (
    names.dnsNames.every((d) => entries.has(`DNS:${d}`)) &&
    names.ips.every((ip) => entries.has(`IP Address:${ip}`))
  );
}

/** Whether `ca` signed `cert`. */
export function signedBy(cert: CertFacts, ca: CertFacts): boolean {
  try {
    return cert.x509.checkIssued(ca.x509) && cert.x509.verify(ca.x509.publicKey);
  } catch {
    return false;
  }
}
