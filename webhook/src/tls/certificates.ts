/**
 * The serving certificate: read from files and reloaded when they change (a Secret volume swaps
 * its files atomically), or generated self-signed for local use. A reload swaps the server's
 * secure context: new handshakes use the new pair, open connections keep theirs, nothing drops.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { generate } from 'selfsigned';
import { ErrorCode, WebhookError } from '../errors.ts';

export interface KeyPair {
  readonly cert: string;
  readonly key: string;
  /** The certificate's notAfter. */
  readonly expires: Date;
}

/** Checks that `cert` and `key` are PEM and belong together; returns the pair with its expiry. */
export function keyPair(cert: string, key: string): KeyPair {
  try {
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key)))
      throw new Error('the key does not match the certificate');
    createSecureContext({ cert, key });
    return { cert, key, expires: new Date(x509.validTo) };
  } catch (cause) {
    throw new WebhookError(
      ErrorCode.TLS,
      `invalid certificate or key: ${(cause as Error).message}`,
      { cause },
    );
  }
}

export async function readKeyPair(certFile: string, keyFile: string): Promise<KeyPair> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  } catch (cause) {
    throw new WebhookError(
      ErrorCode.TLS,
      `cannot read ${certFile} / ${keyFile}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  return keyPair(cert, key);
}

export interface CertificateWatcher {
  /** The pair last loaded, or undefined before the first successful load. */
  current(): KeyPair | undefined;
  close(): void;
}

/**
 * Polls the files every `intervalMs` and calls `onChange` with each new valid pair (the first load
 * included). A half-written or mismatched pair is reported to `onError` and the old one kept.
 */
export function watchKeyPair(options: {
  certFile: string;
  keyFile: string;
  intervalMs: number;
  onChange: (pair: KeyPair) => void;
  onError: (err: WebhookError) => void;
}): CertificateWatcher {
  let current: KeyPair | undefined;
  let lastError = '';
  let running = false;
  const check = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      const pair = await readKeyPair(options.certFile, options.keyFile);
      if (pair.cert !== current?.cert || pair.key !== current.key) {
        current = pair;
        lastError = '';
        options.onChange(pair);
      }
    } catch (err) {
      // Report each distinct problem once, not on every tick.
      if (err instanceof WebhookError && err.message !== lastError) {
        lastError = err.message;
        options.onError(err);
      }
    } finally {
      running = false;
    }
  };
  void check();
  const timer = setInterval(() => void check(), options.intervalMs);
  timer.unref();
  return {
    current: () => current,
    close: () => clearInterval(timer),
  };
}

/** A self-signed pair for localhost, 127.0.0.1, ::1 and the given DNS names (local use only). */
export async function selfSignedKeyPair(dnsNames: readonly string[] = []): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: 'vault-inject' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          ...dnsNames.map((value) => ({ type: 2 as const, value })),
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return keyPair(pems.cert, pems.private);
}
