/**
 * What the registry tests that drive the BUILT webhook (dist/webhook/vault-inject.js, `make build`)
 * share: its path, an AdmissionReview of one container without command, and a POST /mutate over
 * HTTPS to a `--self-signed` webhook (its certificate is not what these tests are about).
 */
import { request as httpsRequest } from 'node:https';

export const BUILT_WEBHOOK = new URL('../../../dist/webhook/vault-inject.js', import.meta.url)
  .pathname;

type Json = Record<string, unknown>;

/** The answer to a review, as text (to look for what must not be in it) and parsed. */
export function postReview(port: number, body: unknown): Promise<{ text: string; json: Json }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate',
        method: 'POST',
        rejectUnauthorized: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ text, json: JSON.parse(text) as Json });
        });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** The parsed answer to a review. */
export async function postJson(port: number, body: unknown): Promise<Json> {
  return (await postReview(port, body)).json;
}

/** A Pod CREATE review: one container `container` without command, running `image`. */
export function imageReview(
  uid: string,
  image: string,
  container = 'app',
  reference = 'vault:secret/data/db#password',
) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'apps',
      object: {
        metadata: { name: `pod-${uid}` },
        spec: { containers: [{ name: container, image, env: [{ name: 'A', value: reference }] }] },
      },
    },
  };
}
