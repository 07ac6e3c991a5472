// The webhook over real HTTPS on 127.0.0.1: reviews, telemetry, a certificate swapped on disk
// mid-test (the open keep-alive connection survives, new handshakes see the new certificate),
// the built artifact's graceful SIGTERM drain (readyz fails, the listener closes, the review in
// flight is answered, exit 0), and its connection limits against slow and idle clients: real
// sockets that never handshake, idle after it, trickle headers or a body, linger after a
// response, or come one too many.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
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

  it('times a registry lookup: a container without command, a registry that is not there', async () => {
    const review = JSON.parse(REVIEW);
    const container = review.request.object.spec.containers[0];
    delete container.command;
    container.image = '127.0.0.1:1/app:1.0';
    const agent = new Agent({ keepAlive: false });
    const res = await post(running.admissionPort, agent, JSON.stringify(review));
    agent.destroy();
    assert.equal(JSON.parse(res.body).response.allowed, false);
    const metrics = (await get(running.telemetryPort, '/metrics')).body;
    assert.match(
      metrics,
      /^vault_inject_registry_lookup_duration_seconds_count\{result="failed"\} 1$/m,
    );
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

const BIN = new URL('../../../dist/webhook/vault-inject.js', import.meta.url).pathname;

/** `vault-inject webhook --self-signed` of the built artifact on 127.0.0.1, with its log lines. */
async function startBuilt(extra: readonly string[]) {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'webhook',
      '--self-signed',
      '--listen=127.0.0.1:0',
      '--telemetry-listen=127.0.0.1:0',
      '--read-sources=false',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdout.on('data', (c: Buffer) => {
    buffered += c.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const p of parts) lines.push(JSON.parse(p));
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await until(
    'listening',
    async () => {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${stderr}`);
      return lines.some((l) => l.msg === 'webhook listening');
    },
    30_000,
  );
  const ports = lines.find((l) => l.msg === 'webhook listening') as {
    admissionPort: number;
    telemetryPort: number;
  };
  return { child, lines, exited, ports };
}

describe('the built artifact: vault-inject webhook --self-signed', () => {
  it('on SIGTERM fails /readyz, closes its listener, finishes the in-flight review, exits 0', async () => {
    const { child, lines, exited, ports } = await startBuilt(['--shutdown-delay=300ms']);
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
    for (const line of lines) {
      assert.ok(
        ['debug', 'info', 'warn', 'error'].includes(String(line.level)),
        `level ${line.level}`,
      );
      assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    const review = lines.find((l) => l.msg === 'admission review');
    assert.equal(review?.result, 'mutated');
    assert.equal(review?.user, 'system:serviceaccount:kube-system:replicaset-controller');
    assert.equal(review?.pod, 'app');
    assert.ok(
      messages.indexOf('signal received') < messages.indexOf('admission review') &&
        messages.indexOf('admission review') < messages.indexOf('shut down'),
      `SIGTERM, then the review, then the end: ${messages.join(', ')}`,
    );
  });
});

/** Milliseconds from now until `socket` closes; rejects after `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after ${ms} ms`));
    }, ms);
    // A reset is one way to be closed: the 'close' event follows.
    socket.on('error', () => undefined);
    // Flowing, so that the server's FIN is seen even when an answer comes before it.
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
  });
}

function tlsTo(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () =>
      resolve(socket),
    );
    socket.once('error', reject);
  });
}

function tcpTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes `text` one byte every `everyMs` until the socket closes. */
function trickle(socket: Socket, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer);
    socket.write(text[i++] as string);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

describe('the built artifact: connection limits against slow and idle clients', () => {
  const limits = {
    handshake: 1500,
    idle: 800,
    header: 2000,
    body: 3000,
    keepAlive: 800,
  };
  // Generous: the machine is shared, and Node.js checks header and body timers on an interval.
  const SLACK = 2500;
  let built: Awaited<ReturnType<typeof startBuilt>>;
  let port: number;

  before(async () => {
    built = await startBuilt([
      `--handshake-timeout=${limits.handshake}ms`,
      `--idle-timeout=${limits.idle}ms`,
      `--header-timeout=${limits.header}ms`,
      `--body-timeout=${limits.body}ms`,
      `--keep-alive-timeout=${limits.keepAlive}ms`,
      '--max-connections=4',
      '--shutdown-delay=0s',
    ]);
    port = built.ports.admissionPort;
  });
  after(async () => {
    built.child.kill('SIGTERM');
    assert.equal(await built.exited, 0);
  });

  it('closes a connection that never starts its TLS handshake', async () => {
    const socket = await tcpTo(port);
    const ms = await closedWithin(socket, limits.handshake + SLACK);
    assert.ok(ms >= limits.handshake * 0.8, `closed after ${ms} ms: too early`);
  });

  it('closes a connection that completes its handshake and sends nothing', async () => {
    const socket = await tlsTo(port);
    const ms = await closedWithin(socket, limits.idle + SLACK);
    assert.ok(ms >= limits.idle * 0.8, `closed after ${ms} ms: too early`);
    assert.ok(ms < limits.header, `closed after ${ms} ms: by the idle timer, not another`);
  });

  it('closes a connection whose request headers trickle in', async () => {
    const socket = await tlsTo(port);
    socket.write('POST /mutate HTTP/1.1\r\nHost: x\r\n');
    trickle(socket, 'X-Slow: '.repeat(1000), 50);
    const ms = await closedWithin(socket, limits.header + SLACK);
    // Each byte restarts the idle timer: the header timeout is what ends a trickle.
    assert.ok(ms >= limits.header * 0.8, `closed after ${ms} ms: too early`);
  });

  it('closes a connection whose body trickles in, with 408', async () => {
    const socket = await tlsTo(port);
    socket.write(
      `POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(REVIEW)}\r\n\r\n`,
    );
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString('utf8')));
    trickle(socket, REVIEW, 50);
    const ms = await closedWithin(socket, limits.body + SLACK);
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.ok(ms >= limits.body * 0.8, `closed after ${ms} ms: too early`);
  });

  it('answers a review, then closes the idle keep-alive connection', async () => {
    const socket = await tlsTo(port);
    let answer = '';
    const answered = new Promise<void>((resolve) =>
      socket.on('data', (c: Buffer) => {
        answer += c.toString('utf8');
        if (answer.includes('"response"') && answer.trimEnd().endsWith('}')) resolve();
      }),
    );
    socket.write(
      `POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(REVIEW)}\r\n\r\n${REVIEW}`,
    );
    await answered;
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, /\r\nconnection: keep-alive\r\n/i);
    const ms = await closedWithin(socket, limits.keepAlive + SLACK);
    assert.ok(ms >= limits.keepAlive * 0.8, `closed after ${ms} ms: too early`);
  });

  it('the telemetry listener closes silent and trickling connections too, with no cap', async () => {
    const telemetry = built.ports.telemetryPort;
    const silent = await tcpTo(telemetry);
    const trickling = await tcpTo(telemetry);
    trickling.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
    trickle(trickling, 'X-Slow: '.repeat(1000), 50);
    // More than --max-connections, all accepted: a probe must never be refused.
    const many = await Promise.all(Array.from({ length: 6 }, () => tcpTo(telemetry)));
    assert.equal((await get(telemetry, '/healthz')).status, 200);
    const [quiet, slow] = await Promise.all([
      closedWithin(silent, limits.idle + SLACK),
      closedWithin(trickling, limits.header + SLACK),
    ]);
    assert.ok(quiet >= limits.idle * 0.8 && quiet < limits.header, `silent: ${quiet} ms`);
    assert.ok(slow >= limits.header * 0.8, `trickling: ${slow} ms`);
    for (const s of many) s.destroy();
  });

  it('closes connections beyond --max-connections at once, and takes new ones after', async () => {
    const held = await Promise.all([1, 2, 3, 4].map(() => tcpTo(port)));
    const extra = connect({ host: '127.0.0.1', port });
    // Well before the handshake timeout, which would close it too.
    const ms = await closedWithin(extra, limits.handshake / 2);
    assert.ok(ms < limits.handshake / 2, `closed after ${ms} ms: not at once`);
    for (const s of held) s.destroy();
    const agent = new Agent({ keepAlive: false });
    await until('a slot to free up', async () => {
      const r = await post(port, agent, REVIEW).catch(() => undefined);
      return r?.status === 200;
    });
    agent.destroy();
    const metrics = (await get(built.ports.telemetryPort, '/metrics')).body;
    const rejected = Number(/^vault_inject_connections_rejected_total (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(rejected >= 1, `rejected ${rejected}`);
  });
});
