/**
 * Shared setup of the end-to-end tests: one real stack per test file (started in `before`,
 * stopped in `after` even when a test throws; with `node: true` its real node too, which files
 * take in turn), its logs printed after a failed test, the
 * test namespace's Vault secrets and the Kubernetes Secrets/ConfigMaps that carry references.
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before } from 'node:test';
import { startStack, WEBHOOK_BUILT, type Stack, type StackOptions } from '../env/stack.ts';
import { kvPut } from '../env/vault-kubernetes.ts';

/** A value that lives only in Vault; every test that can see a stored object looks for it. */
export const CANARY = `canary-${randomBytes(12).toString('hex')}`;

/** The secret every test pod reads. Values are made per run, so nothing can be hard-coded. */
export const APP_SECRET = {
  password: CANARY,
  user: `user-${randomBytes(4).toString('hex')}`,
  api_key: `key-${randomBytes(8).toString('hex')}`,
  token: `tok-${randomBytes(8).toString('hex')}`,
} as const;

export const REF = {
  password: 'vault:secret/data/e2e/app#password',
  user: 'vault:secret/data/e2e/app#user',
  apiKey: 'vault:secret/data/e2e/app#api_key',
  token: 'vault:secret/data/e2e/app#token',
} as const;

export interface Harness {
  readonly stack: Stack;
  /** A Pod Security `restricted` namespace with service account `app`, Vault role `app`, references in a Secret and a ConfigMap. */
  readonly ns: string;
}

/** Starts the stack for this test file; the returned object is filled in `before`. */
export function useStack(options: StackOptions = {}): Harness {
  const h = {} as { stack: Stack; ns: string };
  before(async () => {
    h.stack = await startStack(options);
    h.ns = await h.stack.appNamespace('e2e');
    await kvPut(h.stack.bao, 'e2e/app', { ...APP_SECRET });
    await createReferenceSources(h.stack.kube.core, h.ns);
    await h.stack.waitForWebhook(h.ns);
  });
  afterEach((t) => {
    if ('passed' in t && !t.passed && h.stack)
      console.error(`\nlogs after failed test "${t.name}":\n${h.stack.logs(30)}`);
  });
  after(async () => {
    await h.stack?.stop();
  });
  return h;
}

/** Secret `app-refs` (valueFrom), ConfigMap `app-config` (valueFrom), Secret `app-env` (envFrom). */
export async function createReferenceSources(core: CoreV1Api, namespace: string): Promise<void> {
  await core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'app-refs' }, stringData: { password: REF.password } },
  });
  await core.createNamespacedConfigMap({
    namespace,
    body: {
      metadata: { name: 'app-config' },
      data: { api_key: REF.apiKey, plain: 'not-a-reference' },
    },
  });
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: 'app-env' },
      stringData: { ENV_TOKEN: REF.token, ENV_PLAIN: 'plain-value' },
    },
  });
}

/** The env of the app container in every form docs/references.md describes. */
export const APP_ENV = [
  { name: 'DIRECT', value: REF.password },
  { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'app-refs', key: 'password' } } },
  {
    name: 'FROM_CONFIGMAP',
    valueFrom: { configMapKeyRef: { name: 'app-config', key: 'api_key' } },
  },
  {
    name: 'INLINE',
    value: `postgres://\${${REF.user}}:\${${REF.password}}@db:5432/app`,
  },
  { name: 'PLAIN', value: 'left-alone' },
];

export const APP_ENV_FROM = [{ secretRef: { name: 'app-env' } }];

/** What the app must see once everything is resolved. */
export const RESOLVED: Record<string, string> = {
  DIRECT: APP_SECRET.password,
  FROM_SECRET: APP_SECRET.password,
  FROM_CONFIGMAP: APP_SECRET.api_key,
  INLINE: `postgres://${APP_SECRET.user}:${APP_SECRET.password}@db:5432/app`,
  PLAIN: 'left-alone',
  ENV_TOKEN: APP_SECRET.token,
  ENV_PLAIN: 'plain-value',
};

/** The Kubernetes API error's message (client-node puts the Status JSON in `body`). */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return (err as Error).message;
}

/** `vault-inject mutate -f - -o json` of the BUILT artifact; resolves with the parsed List. */
export function previewCli(
  input: string,
  args: readonly string[],
): Promise<{ items: unknown[]; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [WEBHOOK_BUILT, 'mutate', '-f', '-', '-o', 'json', ...args],
      {
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        const parsed = JSON.parse(stdout) as { items?: unknown[] };
        resolve({ items: parsed.items ?? [parsed], stderr, code });
      } catch (err) {
        reject(new Error(`preview printed no JSON (exit ${code}): ${stderr}`, { cause: err }));
      }
    });
    child.stdin.end(input);
  });
}
