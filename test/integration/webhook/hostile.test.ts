// Hostile pods against the BUILT webhook (dist/webhook/vault-inject.js over HTTPS): a container
// that sets the init program's settings itself to bypass the policy, path annotations that climb
// out of their mount, reviews built to starve the event loop, and values built to flood the
// answer and the log. Each case failed before the fix it names.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';

const BIN = new URL('../../../dist/webhook/vault-inject.js', import.meta.url).pathname;
const EVIL = 'https://evil.example:8200';

interface Running {
  child: ChildProcess;
  admissionPort: number;
  telemetryPort: number;
  lines: Record<string, unknown>[];
}

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function start(flags: string[]): Promise<Running> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'webhook',
      '--self-signed',
      '--listen=127.0.0.1:0',
      '--telemetry-listen=127.0.0.1:0',
      '--read-sources=false',
      ...flags,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  child.stdout?.on('data', (c: Buffer) => {
    buffered += c.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const p of parts) lines.push(JSON.parse(p));
  });
  await until('listening', () => lines.some((l) => l.msg === 'webhook listening'));
  const ports = lines.find((l) => l.msg === 'webhook listening') as {
    admissionPort: number;
    telemetryPort: number;
  };
  return { child, lines, ...ports };
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function post(port: number, body: string): Promise<{ status: number; body: string }> {
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
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function reviewOf(pod: unknown, uid = 'u-1'): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: 'CREATE',
      namespace: 'apps',
      object: pod,
    },
  });
}

function podOf(
  env: unknown[],
  annotations: Record<string, string> = {},
  extra: Record<string, unknown>[] = [],
) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'apps', annotations },
    spec: {
      serviceAccountName: 'app',
      containers: [
        {
          name: 'app',
          image: 'registry.example/app:1',
          command: ['/app'],
          env: [{ name: 'DB', value: 'vault:secret/data/app#db' }, ...env],
        },
        ...extra,
      ],
    },
  };
}

async function answer(w: Running, pod: unknown) {
  const res = await post(w.admissionPort, reviewOf(pod));
  assert.equal(res.status, 200, res.body);
  const r = JSON.parse(res.body).response as {
    allowed: boolean;
    status?: { message: string };
    warnings?: string[];
    patch?: string;
  };
  const patch = r.patch ? (JSON.parse(Buffer.from(r.patch, 'base64').toString()) as unknown[]) : [];
  return { ...r, message: r.status?.message ?? '', patch };
}

describe('hostile pods against the built webhook', () => {
  let w: Running;
  before(async () => {
    w = await start([]);
  });
  after(() => {
    agent.destroy();
    w.child.kill('SIGTERM');
  });

  it("a container's own VAULT_ADDR outside the allowlist is denied", async () => {
    const r = await answer(w, podOf([{ name: 'VAULT_ADDR', value: EVIL }]));
    assert.equal(r.allowed, false);
    assert.match(
      r.message,
      /^container "app", env VAULT_ADDR: "https:\/\/evil\.example:8200" is not an allowed Vault address/,
    );
    const hidden = await answer(
      w,
      podOf([{ name: 'VAULT_ADDR', valueFrom: { secretKeyRef: { name: 's', key: 'addr' } } }]),
    );
    assert.equal(hidden.allowed, false, 'a value the webhook cannot read is not let through');
  });

  it("a container's own VAULT_SKIP_VERIFY=true is written over without --allow-skip-verify", async () => {
    const r = await answer(w, podOf([{ name: 'VAULT_SKIP_VERIFY', value: 'true' }]));
    assert.equal(r.allowed, true, r.message);
    assert.deepEqual(
      r.patch.find((op) => JSON.stringify(op).includes('/env/1')),
      { op: 'replace', path: '/spec/containers/0/env/1/value', value: 'false' },
      'the entry VAULT_SKIP_VERIFY (env 1) now says false',
    );
    assert.deepEqual(r.warnings, [
      'container "app", env VAULT_SKIP_VERIFY ignored: this webhook does not allow skipping TLS verification',
    ]);
  });

  it('auth-path ../../sys (and newlines in namespace) are denied naming the annotation', async () => {
    const r = await answer(w, podOf([], { 'vault-inject.dev/auth-path': '../../sys' }));
    assert.equal(r.allowed, false);
    assert.equal(
      r.message,
      'annotation vault-inject.dev/auth-path: "../../sys" has an empty, "." or ".." segment',
    );
    const ns = await answer(
      w,
      podOf([], { 'vault.security.banzaicloud.io/vault-namespace': 'a\nb' }),
    );
    assert.equal(ns.allowed, false);
    assert.match(
      ns.message,
      /^annotation vault\.security\.banzaicloud\.io\/vault-namespace: "a\\nb" holds a space, quote, backslash/,
    );
  });

  it('a 2 MiB annotation and 10,000 container names are echoed capped, in answers and log', async () => {
    const big = await answer(w, podOf([], { 'vault-inject.dev/vault-addr': 'x'.repeat(2 << 20) }));
    assert.equal(big.allowed, false);
    assert.ok(big.message.length < 400, `${big.message.length} characters`);
    assert.match(big.message, /x…" \(2097032 more characters\)/);
    const names = Array.from({ length: 10_000 }, (_, i) => `ghost-${i}`).join(',');
    const many = await answer(w, podOf([], { 'vault-inject.dev/containers': `app,${names}` }));
    assert.equal(many.warnings?.length, 21);
    assert.equal(many.warnings?.at(-1), '… and 9980 more warnings');
    await until(
      'both log lines',
      () => w.lines.filter((l) => l.msg === 'admission review').length >= 2,
    );
    const longest = Math.max(...w.lines.map((l) => JSON.stringify(l).length));
    assert.ok(longest < 5000, `the longest log line has ${longest} characters`);
  });

  it('a copied manifest running the init program without its volume is repaired', async () => {
    const copied = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'apps' },
      spec: {
        containers: [
          {
            name: 'app',
            image: 'registry.example/app:1',
            command: ['/vault-inject/bin/vault-inject-env'],
            args: ['/app'],
            env: [{ name: 'DB', value: 'vault:secret/data/app#db' }],
            volumeMounts: [{ name: 'vault-inject', mountPath: '/vault-inject', readOnly: true }],
          },
        ],
      },
    };
    const r = await answer(w, copied);
    assert.equal(r.allowed, true, r.message);
    const paths = r.patch.map((op) => (op as { path: string }).path);
    assert.ok(paths.includes('/spec/volumes'), paths.join(' '));
    assert.ok(paths.includes('/spec/initContainers'), paths.join(' '));
    assert.ok(!paths.includes('/spec/containers/0/command'), 'its command line is kept');
    assert.match(
      r.warnings?.join('\n') ?? '',
      /already runs the init program but lacked its bundle/,
    );
  });

  it('/healthz and an ordinary review answer while hostile reviews are processed', async () => {
    const refs = 'x${vault:secret/data/a#k}';
    const hostile = [
      // One value with 80,000 inline references (blocked the event loop 15 s).
      podOf([{ name: 'BIG', value: refs.repeat(80_000) }]),
      // Many values, each within the per-value bound, 1.3 MiB in all (blocked it 89.7 s).
      podOf(Array.from({ length: 280 }, (_, i) => ({ name: `V${i}`, value: refs.repeat(190) }))),
    ];
    const pending = hostile.flatMap((pod) =>
      Array.from({ length: 4 }, (_, i) => post(w.admissionPort, reviewOf(pod, `h-${i}`))),
    );
    let done = false;
    const all = Promise.all(pending).finally(() => (done = true));
    const health: number[] = [];
    const started = performance.now();
    // While the hostile reviews are in flight, /healthz answers each time, and promptly.
    do {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${w.telemetryPort}/healthz`);
      assert.equal(res.status, 200);
      health.push(performance.now() - t);
    } while (!done && performance.now() - started < 20_000);
    const ordinary = await answer(w, podOf([]));
    assert.equal(ordinary.allowed, true, ordinary.message);
    for (const res of await all) {
      const r = JSON.parse(res.body).response;
      assert.equal(r.allowed, false);
      assert.match(r.status.message, /references, the most one (value|pod) may hold/);
    }
    // Generous, for a loaded machine: before, one such review held /healthz for 15 s to 99 s.
    assert.ok(Math.max(...health) < 5_000, `/healthz took ${Math.max(...health).toFixed(0)} ms`);
  });
});
