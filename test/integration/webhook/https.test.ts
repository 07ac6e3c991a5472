// The webhook over real HTTPS on 127.0.0.1: reviews, telemetry, a certificate swapped on disk
// mid-test (the open keep-alive connection survives, new handshakes see the new certificate),
// and the built artifact's graceful SIGTERM drain (readyz fails, the listener closes, the review in
// flight is answered, exit 0).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { startWebhook, type RunningWebhook } from '../../../webhook/src/cli/webhook.ts';
import { parseConfig, readFlags } from '../../../webhook/src/config.ts';
import { selfSignedKeyPair } from '../../../webhook/src/tls/certificates.ts';

const REVIEW = readFileSync(
  new URL('../../fixtures/admission/command-only/review.json', import.meta.url),
  'utf8',
);

interface Answer {
  status: number;
  body: string;
  fingerprint: string;
  socketId: number;
}

let socketIds = 0;
const socketIdOf = new WeakMap<object, number>();

function post(port: number, agent: Agent, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate',
        method: 'POST',
        agent,
        rejectUnauthorized: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        if (!socketIdOf.has(socket)) socketIdOf.set(socket, ++socketIds);
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        const socketId = socketIdOf.get(socket) ?? 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            fingerprint,
            socketId,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('webhook over HTTPS with certificate files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-inject-tls-'));
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  let running: RunningWebhook;

  before(async () => {
    const first = await selfSignedKeyPair();
    writeFileSync(certFile, first.cert);
    writeFileSync(keyFile, first.key);
    const { flags } = readFlags(
      [
        '--listen=127.0.0.1:0',
        '--telemetry-listen=127.0.0.1:0',
        `--tls-cert-file=${certFile}`,
        `--tls-key-file=${keyFile}`,
        '--tls-reload-interval=100ms',
        '--shutdown-delay=0s',
      ],
      {},
    );
    running = await startWebhook({ config: parseConfig(flags), logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await running.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers reviews and serves telemetry', async () => {
    const agent = new Agent({ keepAlive: true });
    const res = await post(running.admissionPort, agent, REVIEW);
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).response.allowed, true);
    agent.destroy();
    assert.equal((await get(running.telemetryPort, '/healthz')).status, 200);
    assert.equal((await get(running.telemetryPort, '/readyz')).status, 200);
    const metrics = (await get(running.telemetryPort, '/metrics')).body;
    assert.match(
      metrics,
      /vault_inject_admission_requests_total\{operation="CREATE",result="mutated"\} \d+/,
    );
    assert.match(metrics, /vault_inject_tls_certificate_expiry_timestamp_seconds \d+/);
    assert.match(metrics, /vault_inject_admission_duration_seconds_bucket/);
  });

  it('picks up a certificate swapped on disk without dropping an open connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const before1 = await post(running.admissionPort, agent, REVIEW);
    const second = await selfSignedKeyPair();
    // Write the key first: until the pair matches again, the old one stays in use.
    writeFileSync(keyFile, second.key);
    writeFileSync(certFile, second.cert);
    const fresh = new Agent({ keepAlive: false });
    await until('the new certificate', async () => {
      const r = await post(running.admissionPort, fresh, REVIEW);
      return r.fingerprint !== before1.fingerprint;
    });
    // The connection opened before the swap still works and still has the old certificate.
    const after1 = await post(running.admissionPort, agent, REVIEW);
    assert.equal(after1.status, 200);
    assert.equal(after1.socketId, before1.socketId, 'same keep-alive connection');
    assert.equal(after1.fingerprint, before1.fingerprint);
    agent.destroy();
    fresh.destroy();
  });
});

/** Resolves true when a new TCP connection to `port` is refused (the listener is closed). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('the built artifact: vault-inject webhook --self-signed', () => {
  const bin = new URL('../../../dist/webhook/vault-inject.js', import.meta.url).pathname;

  it('on SIGTERM fails /readyz, closes its listener, finishes the in-flight review, exits 0', async () => {
    const child = spawn(
      process.execPath,
      [
        bin,
        'webhook',
        '--self-signed',
        '--listen=127.0.0.1:0',
        '--telemetry-listen=127.0.0.1:0',
        '--shutdown-delay=300ms',
        '--read-sources=false',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    child.stdout.on('data', (c: Buffer) => {
      buffered += c.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const p of parts) lines.push(JSON.parse(p));
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await until('listening', async () => lines.some((l) => l.msg === 'webhook listening'), 30_000);
    const ports = lines.find((l) => l.msg === 'webhook listening') as {
      admissionPort: number;
      telemetryPort: number;
    };
    assert.equal((await get(ports.telemetryPort, '/readyz')).status, 200);

    // A review whose body is still arriving when SIGTERM comes, and after the listener closed.
    const agent = new Agent({ keepAlive: true });
    let req: ReturnType<typeof httpsRequest> | undefined;
    const answer = new Promise<Answer>((resolve, reject) => {
      req = httpsRequest(
        {
          host: '127.0.0.1',
          port: ports.admissionPort,
          path: '/mutate',
          method: 'POST',
          agent,
          rejectUnauthorized: false,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(REVIEW),
          },
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString('utf8')));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body, fingerprint: '', socketId: 0 }),
          );
        },
      );
      req.on('error', reject);
    });
    const inFlight = req as NonNullable<typeof req>;
    await new Promise<void>((resolve) => inFlight.write(REVIEW.slice(0, 100), () => resolve()));
    await until('the connection to be open', async () => inFlight.socket !== null);
    child.kill('SIGTERM');

    await until(
      '/readyz failing',
      async () => (await get(ports.telemetryPort, '/readyz')).status === 503,
    );
    await until('the HTTPS listener to close', () => refused(ports.admissionPort));
    assert.equal(child.exitCode, null, 'the process waits for the review in flight');

    inFlight.end(REVIEW.slice(100));
    const res = await answer;
    assert.equal(res.status, 200, res.body);
    const response = JSON.parse(res.body).response;
    assert.equal(response.allowed, true);
    assert.equal(typeof response.patch, 'string', 'the review in flight was answered in full');
    agent.destroy();
    assert.equal(await exited, 0);
    const messages = lines.map((l) => l.msg);
    const review = lines.find((l) => l.msg === 'admission review');
    assert.equal(review?.result, 'mutated');
    assert.equal(review?.pod, 'app');
    assert.ok(
      messages.indexOf('signal received') < messages.indexOf('admission review') &&
        messages.indexOf('admission review') < messages.indexOf('shut down'),
      `SIGTERM, then the review, then the end: ${messages.join(', ')}`,
    );
  });
});
