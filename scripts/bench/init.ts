// Start-to-exec of vault-inject-env (the built bundle) on loopback: 10 references over 3 paths on a
// real OpenBao dev server, jwt login. Prints median/p90 of spawn → app start (the app prints
// CLOCK_MONOTONIC as its first act), the init program's RSS just before exec, and the bare
// `node -e 0` start. With Bank-Vaults' vault-env available (scripts/components.sh --bench), runs it
// on the same setup and prints the ratios.
//   node scripts/bench/init.ts [RUNS]        (make bench-init; make bench runs it with the others)
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setUpFixtures, startOpenBao } from '../../test/env/openbao.ts';

const runs = Number(process.argv[2] ?? 30);
const bundle = resolve(process.env['VAULT_INJECT_BUNDLE'] ?? 'dist/bundle/vault-inject');
if (!existsSync(`${bundle}/bin/vault-inject-env`))
  throw new Error(`no bundle at ${bundle}: run make bundle`);

const tmp = mkdtempSync(join(tmpdir(), 'vault-inject-bench-'));
const stamp = join(tmp, 'stamp');
const cc = spawnSync('musl-gcc', ['-static', '-O2', '-o', stamp, 'scripts/bench/stamp.c'], {
  encoding: 'utf8',
});
if (cc.status !== 0) throw new Error(`musl-gcc: ${cc.stderr}`);

const load = (): string =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
console.log(`load average at start: ${load()} (2-core machines: above ~1 inflates every number)`);

const bao = await startOpenBao();
try {
  const fx = await setUpFixtures(bao);
  const jwt = join(tmp, 'jwt');
  writeFileSync(jwt, fx.signJwt({ exp: Math.floor(Date.now() / 1000) + 3600 }));
  await bao.api('POST', 'secret/data/bench/one', { data: { a: '1', b: '2', c: '3', d: '4' } });
  await bao.api('POST', 'secret/data/bench/two', { data: { a: '1', b: '2', c: '3' } });
  await bao.api('POST', 'secret/data/bench/three', { data: { a: '1', b: '2', c: '3' } });
  const refs: Record<string, string> = {};
  for (const [path, keys] of [
    ['one', 'abcd'],
    ['two', 'abc'],
    ['three', 'abc'],
  ] as const) {
    for (const k of keys)
      refs[`REF_${path}_${k}`.toUpperCase()] = `vault:secret/data/bench/${path}#${k}`;
  }
  const env = {
    PATH: '/usr/bin:/bin',
    VAULT_ADDR: bao.addr,
    VAULT_AUTH_METHOD: 'jwt',
    VAULT_PATH: 'jwt',
    VAULT_ROLE: 'app',
    KUBERNETES_SERVICE_ACCOUNT_TOKEN: jwt,
    ...refs,
  };

  const ours = await measure(
    'vault-inject-env (bundle)',
    `${bundle}/bin/vault-inject-env`,
    [stamp],
    env,
  );
  const rss = rssBeforeExec(env);
  const node = await measure(
    'node -e 0 (bundled runtime, bare)',
    `${bundle}/runtime/lib/ld-linux-x86-64.so.2`,
    ['--library-path', `${bundle}/runtime/lib`, `${bundle}/runtime/node`, '-e', '0'],
    {},
    false,
  );
  console.log(`RSS of vault-inject-env just before exec: ${rss} KiB`);
  console.log(
    `bundle: ${spawnSync('du', ['-sb', bundle], { encoding: 'utf8' }).stdout.split('\t')[0]} bytes, gzip ${spawnSync('sh', ['-c', `tar -C ${bundle} -cf - . | gzip -6 | wc -c`], { encoding: 'utf8' }).stdout.trim()} bytes`,
  );

  const peer = bankVaultsEnv();
  let theirs: Result | undefined;
  if (peer) {
    theirs = await measure('Bank-Vaults vault-env', peer, [stamp], env);
    console.log(
      `ratio start-to-exec median ours/theirs: ${(ours.median / theirs.median).toFixed(2)}`,
    );
  } else {
    console.log(
      'Bank-Vaults vault-env not available (scripts/components.sh --bench builds it): no ratio',
    );
  }
  console.log(
    `ratio start-to-exec median ours / bare node start: ${(ours.median / node.median).toFixed(2)}`,
  );
  console.log(`load average at the end: ${load()}`);
  report('start-to-exec median, 10 refs over 3 paths', ours.median, theirs?.median, 'ms');
  report('start-to-exec p90', ours.p90, theirs?.p90, 'ms');
  report('bare start of the bundled node (no peer)', node.median, undefined, 'ms');
  report('RSS just before exec', rss / 1024, undefined, 'MiB');
} finally {
  await bao.stop();
  rmSync(tmp, { recursive: true, force: true });
}

interface Result {
  readonly median: number;
  readonly p90: number;
}

/** For `make bench` (scripts/bench/run.ts): one JSON line per number, ours beside the peer's. */
function report(metric: string, ours: number, peer: number | undefined, unit: string): void {
  const file = process.env['VAULT_INJECT_BENCH_RESULTS'];
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ bench: 'init', metric, ours, peer, unit })}\n`);
}

/** Spawn → app start (from the stamp), or spawn → exit when `stamped` is false; in ms. */
async function measure(
  label: string,
  file: string,
  args: readonly string[],
  env: Record<string, string>,
  stamped = true,
): Promise<Result> {
  const times: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = process.hrtime.bigint();
    const { code, stdout, stderr } = await exec(file, args, env);
    const t1 = process.hrtime.bigint();
    if (code !== 0) throw new Error(`${label}: exit ${code}: ${stderr}`);
    const end = stamped ? BigInt(stdout.trim()) : t1;
    if (i >= 3) times.push(Number(end - t0) / 1e6); // 3 warm-up runs (page cache)
  }
  times.sort((a, b) => a - b);
  const r = {
    median: times[Math.floor(times.length / 2)] ?? 0,
    p90: times[Math.floor(times.length * 0.9)] ?? 0,
  };
  console.log(
    `${label}: start-to-${stamped ? 'exec' : 'exit'} median ${r.median.toFixed(1)} ms, p90 ${r.p90.toFixed(1)} ms (${times.length} runs)`,
  );
  return r;
}

function rssBeforeExec(env: Record<string, string>): number {
  const r = spawnSync(`${bundle}/bin/vault-inject-env`, ['/bin/true'], {
    env: { ...env, VAULT_LOG_LEVEL: 'debug' },
    encoding: 'utf8',
  });
  // A JSON log line (the default) or a text one (VAULT_JSON_LOG=false).
  const m = /handing over.*\brssKb"?[=:](\d+)/.exec(r.stderr);
  return m ? Number(m[1]) : NaN;
}

function bankVaultsEnv(): string | undefined {
  const fromEnv = process.env['VAULT_INJECT_BV_VAULT_ENV'];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const r = spawnSync('scripts/components/bank-vaults.sh', ['path', 'vault-env'], {
    encoding: 'utf8',
  });
  const path = r.stdout.trim();
  return r.status === 0 && path !== '' ? path : undefined;
}

function exec(
  file: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}
