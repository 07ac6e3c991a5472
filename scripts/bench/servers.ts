// The two webhook servers of the webhook bench, each a process of its own on 127.0.0.1 with the
// same serving certificate: ours (dist/webhook/vault-inject.js on Node with the node flags the image
// ships, read from Dockerfile.webhook) and Bank-Vaults' vault-secrets-webhook (configured by env,
// pods at /pods). Neither reaches off the machine: the kubeconfig names a closed loopback port, the
// review's containers all have a command (no registry lookup), VAULT_ADDR is loopback, and any
// HTTP client that honours HTTP(S)_PROXY is sent to a closed loopback port.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { freePort } from './proc.ts';
import { body, mutated } from './review.ts';

export interface Server {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  /** Ours: the telemetry server's /metrics (V8 heap and external memory). */
  readonly metricsUrl?: string;
  stop(): Promise<void>;
}

/** A closed port on loopback: what every client of the peers is pointed at. */
const NOWHERE = 'http://127.0.0.1:9';

/** A serving certificate for 127.0.0.1 (P-256, one day) and a kubeconfig naming a closed port. */
export function fixtures(dir: string): { cert: string; key: string; kubeconfig: string } {
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  const r = spawnSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1'],
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]',
      'users: [{name: u, user: {token: bench}}]',
      'contexts: [{name: c, context: {cluster: c, user: u, namespace: bench}}]',
      'current-context: c',
      '',
    ].join('\n'),
  );
  return { cert, key, kubeconfig };
}

const DOCKERFILE = 'Dockerfile.webhook';

/** The node flags between `node` and the script in the Dockerfile's exec-form ENTRYPOINT. */
export function shippedNodeFlags(text = readFileSync(DOCKERFILE, 'utf8')): string[] {
  const m = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(text);
  if (!m?.[1]) throw new Error(`${DOCKERFILE}: no ENTRYPOINT [...] line`);
  const argv = JSON.parse(m[1]) as string[];
  const script = argv.findIndex((a) => a.endsWith('.js'));
  if (script < 1) throw new Error(`${DOCKERFILE}: ENTRYPOINT runs no .js file`);
  return argv.slice(1, script);
}

/** The variables of the Dockerfile's ENV lines that affect Node and glibc (NODE_, MALLOC_, UV_). */
export function shippedEnv(text = readFileSync(DOCKERFILE, 'utf8')): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^ENV\s+(.+)$/gm)) {
    for (const kv of (m[1] ?? '').trim().split(/\s+/)) {
      const [k, v] = kv.split('=');
      if (k && v !== undefined && /^(NODE_|MALLOC_|UV_)/.test(k)) env[k] = v;
    }
  }
  return env;
}

interface Fixtures {
  readonly cert: string;
  readonly key: string;
  readonly kubeconfig: string;
}

export interface OursOptions {
  readonly nodeFlags: readonly string[];
  /** Environment on top of PATH and KUBECONFIG (the image's ENV, or a variant to compare). */
  readonly env: Readonly<Record<string, string>>;
  readonly name: string;
}

export async function startOurs(fx: Fixtures, options: OursOptions): Promise<Server> {
  const port = await freePort();
  const telemetry = await freePort();
  const { nodeFlags } = options;
  const child = spawn(
    process.execPath,
    [
      ...nodeFlags,
      resolve('dist/webhook/vault-inject.js'),
      'webhook',
      `--tls-cert-file=${fx.cert}`,
      `--tls-key-file=${fx.key}`,
      `--listen=127.0.0.1:${port}`,
      `--telemetry-listen=127.0.0.1:${telemetry}`,
      '--shutdown-delay=0s',
      '--read-sources=false',
      '--vault-addr=https://127.0.0.1:8200',
    ],
    {
      env: { PATH: process.env['PATH'] ?? '', KUBECONFIG: fx.kubeconfig, ...options.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const server = await started(options.name, child, `https://127.0.0.1:${port}/mutate`);
  return { ...server, metricsUrl: `http://127.0.0.1:${telemetry}/metrics` };
}

export async function startBankVaults(binary: string, fx: Fixtures): Promise<Server> {
  const port = await freePort();
  const child = spawn(binary, [], {
    env: {
      PATH: process.env['PATH'] ?? '',
      KUBECONFIG: fx.kubeconfig,
      KUBERNETES_NAMESPACE: 'bench',
      LISTEN_ADDRESS: `127.0.0.1:${port}`,
      TELEMETRY_LISTEN_ADDRESS: '',
      TLS_CERT_FILE: fx.cert,
      TLS_PRIVATE_KEY_FILE: fx.key,
      VAULT_ADDR: 'https://127.0.0.1:8200',
      ...{ HTTP_PROXY: NOWHERE, HTTPS_PROXY: NOWHERE, http_proxy: NOWHERE, https_proxy: NOWHERE },
      NO_PROXY: '',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return started('vault-secrets-webhook', child, `https://127.0.0.1:${port}/pods`);
}

/** Resolves once the server answers the bench's review with a mutation; fails if it exits. */
async function started(name: string, child: ChildProcess, url: string): Promise<Server> {
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) =>
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${stderr}`)),
    ),
  );
  exited.catch(() => undefined);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const answer = await Promise.race([post(url).catch(() => undefined), exited]);
    if (answer !== undefined) {
      if (!mutated(answer)) {
        child.kill('SIGKILL');
        throw new Error(`${name} did not mutate the bench's pod: ${answer.slice(0, 400)}`);
      }
      break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not answer within 20 s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = child.pid as number;
  return {
    name,
    pid,
    url,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

/** One POST of the bench's review; resolves with the body of a 200, rejects otherwise. */
function post(url: string): Promise<string> {
  return new Promise((done, fail) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () =>
          res.statusCode === 200 ? done(data) : fail(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}
