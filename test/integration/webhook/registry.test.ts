// The webhook (startWebhook, real HTTPS on 127.0.0.1, configured by its flags) against a real
// registry (test/env/registry.ts: distribution 2.8, TLS with a CA of the run, htpasswd): a pod
// with three containers without command (one multi-arch, one args-only), cold then cached, with
// the registry's own log as the witness of what was fetched. Pull secrets come from an in-memory
// reader here; the kube-apiserver path is test/e2e/registry.test.ts.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { startWebhook, type RunningWebhook } from '../../../webhook/src/cli/webhook.ts';
import { parseConfig, readFlags } from '../../../webhook/src/config.ts';
import type { PullSecret, PullSecretReader } from '../../../webhook/src/registry/oci/index.ts';
import { registryAvailable, startRegistry, type TestRegistry } from '../../env/registry.ts';

const skip = registryAvailable()
  ? false
  : 'docker-registry is not installed (scripts/components.sh)';

type Json = Record<string, unknown>;

function post(port: number, body: unknown): Promise<{ status: number; json: Json }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/mutate',
        method: 'POST',
        rejectUnauthorized: false, // --self-signed: the webhook's certificate is not what we test
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function telemetry(port: number): Promise<string> {
  return fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
}

/** The pull secrets of namespace `apps`, as the kube-apiserver would hand them over. */
function memoryReader(registry: TestRegistry): PullSecretReader & { reads: number } {
  const auth = Buffer.from(`${registry.admin.username}:${registry.admin.password}`).toString(
    'base64',
  );
  const stale = Buffer.from(`${registry.admin.username}:${STALE_PASSWORD}`).toString('base64');
  const older = Buffer.from(`${registry.admin.username}:${STALE_PASSWORD}-older`).toString(
    'base64',
  );
  const secret = (name: string, basic: string): PullSecret => ({
    metadata: { namespace: 'apps', name },
    type: 'kubernetes.io/dockerconfigjson',
    data: {
      '.dockerconfigjson': Buffer.from(
        JSON.stringify({ auths: { [`https://${registry.host}`]: { auth: basic } } }),
      ).toString('base64'),
    },
  });
  const secrets: Record<string, PullSecret> = {
    // On the service account `builder` only.
    regcred: secret('regcred', auth),
    // Pods may name them: passwords that no longer work (tried, refused, then the next one).
    stale: secret('stale', stale),
    older: secret('older', older),
  };
  const reader = {
    reads: 0,
    readSecrets(namespace: string, names: readonly string[]) {
      reader.reads += 1;
      return Promise.resolve(
        namespace === 'apps' ? names.flatMap((n) => (secrets[n] ? [secrets[n]] : [])) : [],
      );
    },
    serviceAccountPullSecrets(namespace: string, name: string) {
      return Promise.resolve(namespace === 'apps' && name === 'builder' ? ['regcred'] : []);
    },
  };
  return reader;
}

function review(uid: string, containers: Json[], spec: Json = {}) {
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
        spec: { serviceAccountName: 'builder', ...spec, containers },
      },
    },
  };
}

const env = [{ name: 'DB_PASSWORD', value: 'vault:secret/data/db#password' }];
const STALE_PASSWORD = 'stale-CANARY-5d1c0b7e';

function argsOf(json: Json): Record<string, unknown> {
  const response = json.response as { patch?: string };
  assert.ok(response.patch, `no patch: ${JSON.stringify(json)}`);
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as {
    path: string;
    value: unknown;
  }[];
  const out: Record<string, unknown> = {};
  for (const op of ops) {
    const m = /^\/spec\/containers\/(\d+)\/args$/.exec(op.path);
    if (m) out[m[1] as string] = op.value;
  }
  return out;
}

describe('webhook + real registry', { skip }, () => {
  let registry: TestRegistry;
  let dir: string;
  const logs: string[] = [];
  const webhooks: RunningWebhook[] = [];

  async function webhook(extra: string[] = [], options: { ca?: boolean } = {}) {
    const ca = options.ca ?? true;
    const flags = readFlags(
      [
        '--self-signed',
        '--listen=127.0.0.1:0',
        '--telemetry-listen=127.0.0.1:0',
        '--shutdown-delay=0s',
        ...(ca ? [`--registry-ca=${registry.host}=${path.join(dir, 'ca.crt')}`] : []),
        ...extra,
      ],
      {},
    ).flags;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const secrets = memoryReader(registry);
    const running = await startWebhook({
      config: parseConfig(flags),
      logger: pino({ level: 'info' }, sink),
      secrets,
    });
    webhooks.push(running);
    return { running, secrets };
  }

  before(async () => {
    registry = await startRegistry({ auth: 'htpasswd' });
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-webhook-registry-'));
    await writeFile(path.join(dir, 'ca.crt'), registry.ca);
    await registry.pushImage('apps/web', 'v1', {
      entrypoint: ['/bin/web'],
      cmd: ['--listen', ':8080', '--home=$HOME'],
    });
    await registry.pushImage('apps/worker', 'v1', { entrypoint: ['/bin/worker'], cmd: ['run'] });
    await registry.pushIndex('apps/multi', 'v1', [
      { architecture: 'amd64', entrypoint: ['/amd64/server'], cmd: ['serve'] },
      { architecture: 'arm64', variant: 'v8', entrypoint: ['/arm64/server'], cmd: ['serve'] },
    ]);
    await registry.pushImage('apps/empty', 'v1', { entrypoint: null, cmd: null });
    await registry.pushImage('apps/creds', 'v1', { entrypoint: ['/bin/creds'] });
  });

  after(async () => {
    for (const w of webhooks) await w.stop();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('mutates three containers without command, cold then from the cache', async () => {
    const { running, secrets } = await webhook();
    const containers = [
      { name: 'web', image: `${registry.host}/apps/web:v1`, env },
      { name: 'multi', image: `${registry.host}/apps/multi:v1`, env },
      { name: 'worker', image: `${registry.host}/apps/worker:v1`, args: ['--once'], env },
    ];
    const manifestGets = () =>
      registry.countRequests({ method: 'GET', uriIncludes: '/manifests/' });
    const before = await manifestGets();
    const linesBefore = logs.length;

    const cold = await post(running.admissionPort, review('cold', containers));
    assert.equal(cold.status, 200);
    assert.equal((cold.json.response as Json).allowed, true, JSON.stringify(cold.json));
    const expected = {
      0: ['/bin/web', '--listen', ':8080', '--home=$$HOME'],
      1: ['/amd64/server', 'serve'],
      2: ['/bin/worker', '--once'],
    };
    assert.deepEqual(argsOf(cold.json), expected);
    // web, worker: one manifest each; multi: the index and the amd64 manifest.
    assert.equal((await manifestGets()) - before, 4);

    const cached = await post(running.admissionPort, review('cached', containers));
    assert.deepEqual(argsOf(cached.json), expected);
    assert.equal((await manifestGets()) - before, 4, 'the second review fetched nothing');

    const metrics = await telemetry(running.telemetryPort);
    assert.match(metrics, /vault_inject_registry_lookups_total\{result="success"\} 6/);
    assert.match(metrics, /vault_inject_registry_cache_hits_total 3/);
    // One read of the service account's pull secrets per review, shared by its containers.
    assert.equal(secrets.reads, 2);

    // Exactly one line per lookup: three per review.
    const lines = logs
      .slice(linesBefore)
      .map((l) => JSON.parse(l) as Json)
      .filter((l) => /^registry lookup/.test(String(l.msg)));
    assert.equal(lines.length, 6);
    for (const line of lines) {
      assert.equal(line.msg, 'registry lookup');
      assert.equal(line.credentialSource, 'service account secret apps/regcred');
      assert.equal(line.credentialsTried, line.cacheHit ? 0 : 1);
      assert.match(String(line.digest), /^sha256:[a-f0-9]{64}$/);
      assert.equal(typeof line.durationMs, 'number');
      assert.equal(line.result, 'success');
    }
    assert.deepEqual(
      lines.map((l) => [l.image, l.cacheHit]).sort(),
      [
        ...containers.map((c) => [c.image, false]),
        ...containers.map((c) => [c.image, true]),
      ].sort(),
    );
  });

  it('looks a pod pinned to arm64 up for arm64', async () => {
    const { running } = await webhook();
    const res = await post(
      running.admissionPort,
      review('arm', [{ name: 'multi', image: `${registry.host}/apps/multi:v1`, env }], {
        nodeSelector: { 'kubernetes.io/arch': 'arm64' },
      }),
    );
    assert.deepEqual(argsOf(res.json), { 0: ['/arm64/server', 'serve'] });
  });

  it('a container with a command never causes a registry request; only the one without does', async () => {
    const { running } = await webhook();
    const requests = () => registry.countRequests({ uriIncludes: '/v2/apps/' });
    const before = await requests();
    const withCommand = {
      name: 'web',
      image: `${registry.host}/apps/web:v1`,
      command: ['/bin/web'],
      args: ['--listen', ':9090'],
      env,
    };
    const res = await post(running.admissionPort, review('command', [withCommand]));
    assert.equal((res.json.response as Json).allowed, true, JSON.stringify(res.json));
    assert.deepEqual(argsOf(res.json), { 0: ['/bin/web', '--listen', ':9090'] });
    assert.equal(await requests(), before, 'the registry saw no request');
    assert.doesNotMatch(
      await telemetry(running.telemetryPort),
      /vault_inject_registry_lookups_total\{/,
    );

    const webRequests = () => registry.countRequests({ uriIncludes: '/v2/apps/web/' });
    const workerGets = () =>
      registry.countRequests({ method: 'GET', uriIncludes: '/v2/apps/worker/manifests/' });
    const [webBefore, workerBefore] = [await webRequests(), await workerGets()];
    const mixed = await post(
      running.admissionPort,
      review('mixed', [
        withCommand,
        { name: 'worker', image: `${registry.host}/apps/worker:v1`, env },
      ]),
    );
    assert.deepEqual(argsOf(mixed.json), {
      0: ['/bin/web', '--listen', ':9090'],
      1: ['/bin/worker', 'run'],
    });
    assert.equal(await webRequests(), webBefore, 'nothing asked about the image with a command');
    assert.equal(await workerGets(), workerBefore + 1);
    assert.match(
      await telemetry(running.telemetryPort),
      /vault_inject_registry_lookups_total\{result="success"\} 1\n/,
    );
  });

  it('a required node affinity pins the platform; a preferred one does not', async () => {
    const { running } = await webhook();
    const term = (arch: string) => ({
      matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: [arch] }],
    });
    const multi = [{ name: 'multi', image: `${registry.host}/apps/multi:v1`, env }];
    const required = await post(
      running.admissionPort,
      review('required', multi, {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [term('arm64')] },
          },
        },
      }),
    );
    assert.deepEqual(argsOf(required.json), { 0: ['/arm64/server', 'serve'] });
    const preferred = await post(
      running.admissionPort,
      review('preferred', multi, {
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 100, preference: term('arm64') },
            ],
          },
        },
      }),
    );
    assert.deepEqual(argsOf(preferred.json), { 0: ['/amd64/server', 'serve'] });
    const configured = (await webhook(['--registry-platform=linux/arm64'])).running;
    const byFlag = await post(configured.admissionPort, review('by-flag', multi));
    assert.deepEqual(argsOf(byFlag.json), { 0: ['/arm64/server', 'serve'] });
  });

  it('credentials: every matching one in turn, the pod’s secrets, the service account’s, the default docker config', async () => {
    const config = (password: string) =>
      JSON.stringify({
        auths: {
          [registry.host]: {
            auth: Buffer.from(`${registry.admin.username}:${password}`).toString('base64'),
          },
        },
      });
    const goodFile = path.join(dir, 'good-config.json');
    const staleFile = path.join(dir, 'stale-config.json');
    await writeFile(goodFile, config(registry.admin.password));
    await writeFile(staleFile, config(STALE_PASSWORD));
    const web = [{ name: 'web', image: `${registry.host}/apps/web:v1`, env }];
    const messageOf = (json: Json) => String(((json.response as Json).status as Json)?.message);

    // No pull secret anywhere: the default docker config.
    const withDefault = (await webhook([`--registry-default-docker-config=${goodFile}`])).running;
    const linesBefore = logs.length;
    const byDefault = await post(
      withDefault.admissionPort,
      review('default', web, { serviceAccountName: 'nobody' }),
    );
    assert.deepEqual(argsOf(byDefault.json), {
      0: ['/bin/web', '--listen', ':8080', '--home=$$HOME'],
    });
    const lookupLines = (from: number) =>
      logs
        .slice(from)
        .map((l) => JSON.parse(l) as Json)
        .filter((l) => /^registry lookup/.test(String(l.msg)));
    assert.equal(lookupLines(linesBefore)[0]?.credentialSource, 'default');

    // A stale pod secret before the service account's good one: kubelet would pull with the
    // second, so the pod is mutated; the registry's log shows the refused login, then the image.
    const creds = [{ name: 'app', image: `${registry.host}/apps/creds:v1`, env }];
    const refusals = () => registry.refusedLogins('/v2/apps/creds/');
    const served = () =>
      registry.countRequests({ uriIncludes: '/v2/apps/creds/manifests/v1', status: 200 });
    const stalePodFirst = (await webhook()).running;
    let from = logs.length;
    const podFirst = await post(
      stalePodFirst.admissionPort,
      review('pod-first', creds, { imagePullSecrets: [{ name: 'stale' }] }),
    );
    assert.equal((podFirst.json.response as Json).allowed, true, messageOf(podFirst.json));
    assert.deepEqual(argsOf(podFirst.json), { 0: ['/bin/creds'] });
    assert.deepEqual(
      lookupLines(from).map((l) => [l.msg, l.credentialSource, l.credentialsTried]),
      [['registry lookup', 'service account secret apps/regcred', 2]],
    );
    assert.equal(await refusals(), 1);
    assert.equal(await served(), 1);

    // Two stale pod secrets and nothing else: denied, naming how many were tried.
    from = logs.length;
    const twoStale = await post(
      stalePodFirst.admissionPort,
      review('two-stale', creds, {
        serviceAccountName: 'nobody',
        imagePullSecrets: [{ name: 'stale' }, { name: 'older' }],
      }),
    );
    assert.equal((twoStale.json.response as Json).allowed, false);
    assert.match(
      messageOf(twoStale.json),
      /not authorized: 2 credentials tried, none accepted: manifest: HTTP 401 .*pod secret apps\/stale; .*pod secret apps\/older$/,
    );
    assert.deepEqual(
      lookupLines(from).map((l) => [l.msg, l.credentialSource, l.credentialsTried]),
      [['registry lookup failed', 'pod secret apps/older', 2]],
    );
    assert.equal(await refusals(), 3, 'the registry refused each stale login once more');
    assert.equal(await served(), 1);

    // The service account's secret comes before the default docker config.
    const withStaleDefault = (await webhook([`--registry-default-docker-config=${staleFile}`]))
      .running;
    const saFirst = await post(withStaleDefault.admissionPort, review('sa-first', web));
    assert.equal((saFirst.json.response as Json).allowed, true, messageOf(saFirst.json));
    const byStale = await post(
      withStaleDefault.admissionPort,
      review('stale-default', web, { serviceAccountName: 'nobody' }),
    );
    assert.match(
      messageOf(byStale.json),
      /1 credential tried, none accepted: manifest: HTTP 401 .*with credentials from the default docker config$/,
    );
    const everything = [
      JSON.stringify(podFirst.json),
      JSON.stringify(twoStale.json),
      JSON.stringify(byStale.json),
      logs.join('\n'),
    ];
    for (const text of everything) assert.ok(!text.includes(STALE_PASSWORD), 'a password leaked');
  });

  it('TLS: the registry’s CA from --registry-ca, or no verification for a host in --registry-insecure-skip-verify', async () => {
    const web = [{ name: 'web', image: `${registry.host}/apps/web:v1`, env }];
    const untrusted = (await webhook([], { ca: false })).running;
    const from = logs.length;
    const refused = await post(untrusted.admissionPort, review('untrusted', web));
    // The denial does not say what answered (a pod must not probe ports with it); the log does.
    const message = String(((refused.json.response as Json).status as Json).message);
    assert.match(
      message,
      new RegExp(
        `\\(registry ${registry.host}\\): registry unreachable: no registry answered at ${registry.host} over HTTPS; if it serves plain HTTP, list it in --registry-plain-http$`,
      ),
    );
    assert.doesNotMatch(message, /certificate|CERT/);
    assert.match(
      logs
        .slice(from)
        .map((l) => JSON.parse(l) as { err?: { detail?: string } })
        .map((l) => l.err?.detail ?? '')
        .join('\n'),
      /certificate|CERT/,
    );
    const skipping = (
      await webhook([`--registry-insecure-skip-verify=${registry.host}`], { ca: false })
    ).running;
    const accepted = await post(skipping.admissionPort, review('skip-verify', web));
    assert.deepEqual(argsOf(accepted.json), {
      0: ['/bin/web', '--listen', ':8080', '--home=$$HOME'],
    });
    // Another host in the list does not lift verification for this one.
    const other = (await webhook(['--registry-insecure-skip-verify=lab.example'], { ca: false }))
      .running;
    const still = await post(other.admissionPort, review('other-host', web));
    assert.equal((still.json.response as Json).allowed, false);
  });

  it('denies, naming image, registry and reason; or admits unmutated by policy', async () => {
    const missing = [
      { name: 'web', image: `${registry.host}/apps/web:v1`, env },
      { name: 'gone', image: `${registry.host}/apps/gone:v1`, env },
    ];
    const deny = (await webhook()).running;
    const denied = await post(deny.admissionPort, review('deny', missing));
    const response = denied.json.response as { allowed: boolean; status: { message: string } };
    assert.equal(response.allowed, false);
    assert.match(
      response.status.message,
      new RegExp(
        `^container "gone" has no command and its image could not be looked up: image "${registry.host}/apps/gone:v1" \\(registry ${registry.host}\\): not found`,
      ),
    );

    const admit = (await webhook(['--registry-failure-policy=admit'])).running;
    const admitted = await post(admit.admissionPort, review('admit', missing));
    const answer = admitted.json.response as Json;
    assert.equal(answer.allowed, true);
    assert.equal(answer.patch, undefined);
    assert.match(String((answer.warnings as string[])[0]), /not found.*admitted without injection/);

    const empty = await post(
      admit.admissionPort,
      review('empty', [{ name: 'e', image: `${registry.host}/apps/empty:v1`, env }]),
    );
    assert.match(
      String(((empty.json.response as Json).status as Json).message),
      /sets neither ENTRYPOINT nor CMD/,
    );
  });

  it('an unreachable registry is an answer within the registry timeout', async () => {
    const { running } = await webhook(['--registry-timeout=500ms']);
    // Port 9 (discard): nothing listens there on a test machine; refused at once.
    const started = performance.now();
    const res = await post(
      running.admissionPort,
      review('down', [{ name: 'x', image: '127.0.0.1:9/apps/web:v1', env }]),
    );
    assert.ok(performance.now() - started < 3000);
    const message = String(((res.json.response as Json).status as Json).message);
    assert.match(message, /registry 127\.0\.0\.1:9\): (registry unreachable|timed out)/);
  });

  it('never lets the registry password out: responses, logs, metrics', async () => {
    const { running } = await webhook();
    const res = await post(
      running.admissionPort,
      review('canary', [{ name: 'web', image: `${registry.host}/apps/web:v1`, env }]),
    );
    const metrics = await telemetry(running.telemetryPort);
    for (const [where, text] of [
      ['response', JSON.stringify(res.json)],
      ['logs', logs.join('\n')],
      ['metrics', metrics],
    ] as const) {
      assert.ok(!text.includes(registry.admin.password), `the password appears in the ${where}`);
    }
  });
});
