/**
 * The built webhook (dist/webhook/vault-inject.js) must not be a blind SSRF client or a port
 * scanner for whoever can create pods:
 *   - a real registry (test/env/registry.ts, token mode) whose 401 names a plain-HTTP token realm
 *     on another port: the webhook never connects there (the listener is the witness), and denies
 *     naming the realm;
 *   - a closed port, an open plain-HTTP port and a TLS service (a second real registry whose CA
 *     the webhook does not have) as an image's registry: one denial wording for all three; what
 *     answered is in the webhook's log only.
 * Needs `make build`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  freePort,
  registryAvailable,
  startRegistry,
  type TestRegistry,
} from '../../env/registry.ts';
import { BUILT_WEBHOOK, imageReview as review, postJson } from './built-webhook.ts';

const BIN = BUILT_WEBHOOK;
const skip = !registryAvailable()
  ? 'docker-registry is not installed (scripts/components.sh)'
  : !existsSync(BIN)
    ? 'dist/webhook/vault-inject.js is not built (make build)'
    : false;

type Json = Record<string, unknown>;

function denial(answer: Json): string {
  const response = answer.response as { allowed: boolean; status?: { message?: string } };
  assert.equal(response.allowed, false, JSON.stringify(answer));
  return response.status?.message ?? '';
}

describe('the built webhook: registry lookups are no SSRF client or port scanner', { skip }, () => {
  let registry: TestRegistry;
  let untrusted: TestRegistry;
  let dir: string;
  let webhook: ChildProcess;
  let admissionPort = 0;
  const lines: Json[] = [];
  /** What reached the plain-HTTP listener: the realm's host and an open plain-HTTP port. */
  const plainHits: string[] = [];
  const plain = http.createServer((req, res) => {
    plainHits.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"from-plain-http"}');
  });

  before(async () => {
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const plainPort = (plain.address() as AddressInfo).port;
    registry = await startRegistry({
      auth: 'token',
      realm: `http://127.0.0.1:${plainPort}/token`,
    });
    await registry.pushImage('public/app', 'v1', { entrypoint: ['/bin/app'] });
    untrusted = await startRegistry({ auth: 'none' });
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-ssrf-'));
    const caFile = path.join(dir, 'ca.crt');
    await writeFile(caFile, registry.ca);
    webhook = spawn(
      process.execPath,
      [
        BIN,
        'webhook',
        '--self-signed',
        '--listen=127.0.0.1:0',
        '--telemetry-listen=127.0.0.1:0',
        '--shutdown-delay=0s',
        '--read-sources=false',
        `--registry-ca=${registry.host}=${caFile}`,
      ],
      // No Kubernetes API: no pull secrets to read.
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, KUBECONFIG: path.join(dir, 'none') },
      },
    );
    let buffered = '';
    webhook.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const part of parts) if (part.trim()) lines.push(JSON.parse(part) as Json);
    });
    const deadline = Date.now() + 30_000;
    while (admissionPort === 0) {
      const up = lines.find((l) => l.msg === 'webhook listening');
      if (up) admissionPort = up.admissionPort as number;
      else if (Date.now() > deadline || webhook.exitCode !== null)
        throw new Error('webhook did not start');
      else await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    if (webhook && webhook.exitCode === null) {
      const exited = new Promise((r) => webhook.once('exit', r));
      webhook.kill('SIGTERM');
      await exited;
    }
    await registry?.stop();
    await untrusted?.stop();
    plain.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a plain-HTTP token realm on another port is never fetched', async () => {
    const before = plainHits.length;
    const message = denial(
      await postJson(admissionPort, review('realm', `${registry.host}/public/app:v1`)),
    );
    assert.deepEqual(plainHits.slice(before), [], 'the webhook fetched the plain-HTTP realm');
    assert.match(
      message,
      /token realm 127\.0\.0\.1:\d+ is plain HTTP and not configured as a plain-HTTP registry/,
    );
  });

  it('a closed port, a plain-HTTP port and a TLS service are denied in the same words', async () => {
    const closed = await freePort();
    const plainPort = (plain.address() as AddressInfo).port;
    const ports = { closed, plain: plainPort, tls: Number(untrusted.host.split(':')[1]) };
    const messages: Record<string, string> = {};
    const failedBefore = lines.filter((l) => l.msg === 'registry lookup failed').length;
    for (const [what, port] of Object.entries(ports)) {
      const message = denial(
        await postJson(admissionPort, review(what, `127.0.0.1:${port}/x/app:v1`)),
      );
      messages[what] = message.replaceAll(String(port), 'PORT');
    }
    assert.equal(messages.plain, messages.closed, JSON.stringify(messages));
    assert.equal(messages.tls, messages.closed, JSON.stringify(messages));
    assert.match(
      messages.closed ?? '',
      /registry unreachable: no registry answered at 127\.0\.0\.1:PORT over HTTPS/,
    );
    // A hint for every failed HTTPS connection alike, never which one it was.
    assert.match(
      messages.plain ?? '',
      /over HTTPS; if it serves plain HTTP, list it in --registry-plain-http$/,
    );
    // The operator still sees what it was, in the webhook's log (its lines arrive through a pipe,
    // so the last one may come after the answer: wait for this test's three, a little).
    const failedDetails = (): string[] =>
      lines
        .filter((l) => l.msg === 'registry lookup failed')
        .slice(failedBefore)
        .map((l) => String((l.err as Json | undefined)?.detail ?? ''));
    const seen = (d: string[]): boolean =>
      d.some((x) => x.includes('ECONNREFUSED')) && d.some((x) => /certificate|CERT/.test(x));
    for (let i = 0; i < 50 && !seen(failedDetails()); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const details = failedDetails();
    assert.ok(
      details.some((d) => d.includes('ECONNREFUSED')),
      details.join('\n'),
    );
    assert.ok(
      details.some((d) => /certificate|CERT/.test(d)),
      details.join('\n'),
    );
  });
});
