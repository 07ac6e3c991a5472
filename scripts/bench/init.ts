// The init bench (never asserted in tests): start-to-exec of vault-inject-env (the built bundle)
// beside Bank-Vaults' vault-env, on the same OpenBao dev server with the same 10 references over 3
// paths and the same jwt login, in interleaved ABBA rounds. First on loopback, then with an added
// round-trip time of 5 and 20 ms (a delaying TCP proxy on 127.0.0.1, scripts/bench/delay-proxy.ts).
// The app both exec is a static stamp (scripts/bench/stamp.c) that prints CLOCK_MONOTONIC at its
// start and the peak RSS the process reached before exec. Also the bare start of the bundled node.
//   node scripts/bench/init.ts [--runs N] [--rtt 0,5,20]     (make bench-init)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setUpFixtures, startOpenBao } from '../../test/env/openbao.ts';
import { startDelayProxy } from './delay-proxy.ts';
import { filesOverhead } from './init-files.ts';
import { bankVaults, load, report } from './proc.ts';
import { compareLine, median, quantile, roundOrder, type Side } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    rtt: { type: 'string', default: '0,5,20' },
  },
});
const runs = Number(args.runs);
const rtts = args.rtt.split(',').map(Number);
const WARM_UP = 3;
const bundle = resolve(process.env['VAULT_INJECT_BUNDLE'] ?? 'dist/bundle/vault-inject');
if (!existsSync(`${bundle}/bin/vault-inject-env`))
  throw new Error(`no bundle at ${bundle}: run make bundle`);

const tmp = mkdtempSync(join(tmpdir(), 'vault-inject-bench-'));
const stamp = join(tmp, 'stamp');
const cc = spawnSync('musl-gcc', ['-static', '-O2', '-o', stamp, 'scripts/bench/stamp.c'], {
  encoding: 'utf8',
});
if (cc.status !== 0) throw new Error(`musl-gcc: ${cc.stderr}`);

console.log(
  `init bench: load average at start ${load()} (2 cores: above ~1 inflates every number)`,
);
const peer = bankVaults('vault-env');
const programs: Partial<Record<Side, string>> = { ours: `${bundle}/bin/vault-inject-env` };
if (peer.path) programs.theirs = peer.path;
else console.log(`Bank-Vaults vault-env: peer not available: ${peer.why}`);
const NAMES: Record<Side, string> = { ours: 'vault-inject-env', theirs: 'vault-env' };

const bao = await startOpenBao();
try {
  const env = await fixtures();
  for (const rtt of rtts) {
    const proxy = rtt > 0 ? await startDelayProxy(new URL(bao.addr), rtt) : undefined;
    try {
      await compare(rtt, { ...env, VAULT_ADDR: proxy?.addr ?? bao.addr });
      if (rtt === 0) {
        const measure = async (e: Record<string, string>) =>
          (await startToExec(programs.ours as string, e, NAMES.ours)).ms;
        await filesOverhead({ ...env, VAULT_ADDR: bao.addr }, runs, measure);
      }
    } finally {
      await proxy?.close();
    }
  }
  const node = await bareNode();
  console.log(
    `bare start of the bundled node (node -e 0): median ${node.toFixed(1)} ms (${runs} runs)`,
  );
  report('init', 'bare start of the bundled node (no peer)', { ours: node }, 'ms');
  const du = spawnSync('du', ['-sb', bundle], { encoding: 'utf8' }).stdout.split('\t')[0];
  console.log(`bundle: ${du} bytes`);
  console.log(`load average at the end: ${load()}`);
} finally {
  await bao.stop();
  rmSync(tmp, { recursive: true, force: true });
}

async function fixtures(): Promise<Record<string, string>> {
  const fx = await setUpFixtures(bao);
  const jwt = join(tmp, 'jwt');
  writeFileSync(jwt, fx.signJwt({ exp: Math.floor(Date.now() / 1000) + 3600 }));
  const refs: Record<string, string> = {};
  for (const [path, keys] of [
    ['one', 'abcd'],
    ['two', 'abc'],
    ['three', 'abc'],
  ] as const) {
    const data = Object.fromEntries([...keys].map((k, i) => [k, String(i + 1)]));
    await bao.api('POST', `secret/data/bench/${path}`, { data });
    for (const k of keys)
      refs[`REF_${path}_${k}`.toUpperCase()] = `vault:secret/data/bench/${path}#${k}`;
  }
  return {
    PATH: '/usr/bin:/bin',
    VAULT_AUTH_METHOD: 'jwt',
    VAULT_PATH: 'jwt',
    VAULT_ROLE: 'app',
    KUBERNETES_SERVICE_ACCOUNT_TOKEN: jwt,
    ...refs,
  };
}

interface Run {
  readonly ms: number;
  readonly maxRssKib: number;
}

/** Interleaved rounds of both programs against one Vault address; medians side by side. */
async function compare(rtt: number, env: Record<string, string>): Promise<void> {
  for (const side of Object.keys(programs) as Side[]) await resolves(side, env);
  const label = rtt === 0 ? 'loopback' : `+${rtt} ms RTT`;
  const results: Record<Side, Run[]> = { ours: [], theirs: [] };
  const withPeer = programs.theirs !== undefined;
  for (let round = 0; round < runs + WARM_UP; round++) {
    for (const side of roundOrder(round, withPeer)) {
      const r = await startToExec(programs[side] as string, env, NAMES[side]);
      if (round >= WARM_UP) results[side].push(r); // warm-ups: page cache, OpenBao's caches
    }
  }
  const line = (metric: string, pick: (r: Run) => number, how: { q: number; unit: string }) => {
    const scale = how.unit === 'MiB' ? 1024 : 1;
    const at = (side: Side): number => quantile(results[side].map(pick), how.q) / scale;
    const values = withPeer ? { ours: at('ours'), theirs: at('theirs') } : { ours: at('ours') };
    console.log(`  ${compareLine(metric, values, how.unit)}`);
    report('init', metric, { ours: values.ours, peer: values.theirs }, how.unit);
  };
  console.log(
    `\n${label}: ${runs} interleaved rounds (+${WARM_UP} warm-up), 10 refs over 3 paths, jwt login; load average ${load()}`,
  );
  line(`start-to-exec median, ${label}`, (r) => r.ms, { q: 0.5, unit: 'ms' });
  line(`start-to-exec p90, ${label}`, (r) => r.ms, { q: 0.9, unit: 'ms' });
  if (rtt === 0) line('peak RSS before exec (median)', (r) => r.maxRssKib, { q: 0.5, unit: 'MiB' });
}

/** Spawn → the stamp's first instruction, and the peak RSS before exec. */
async function startToExec(file: string, env: Record<string, string>, label: string): Promise<Run> {
  const t0 = process.hrtime.bigint();
  const { code, stdout, stderr } = await exec(file, [stamp], env);
  if (code !== 0) throw new Error(`${label}: exit ${code}: ${stderr.slice(0, 2000)}`);
  // The stamp's line is the last one (vault-env logs to stdout before it execs).
  const m = /^(\d+) (\d+)$/m.exec(stdout.trim().split('\n').at(-1) ?? '');
  if (!m) throw new Error(`${label}: no stamp line in its output: ${stdout.slice(-500)}`);
  const [, ns, rss] = m;
  return { ms: Number(BigInt(ns ?? '0') - t0) / 1e6, maxRssKib: Number(rss) };
}

/** Both programs really resolve the references: run once with `env` as the app and check them. */
async function resolves(side: Side, env: Record<string, string>): Promise<void> {
  const r = await exec(programs[side] as string, ['/usr/bin/env'], env);
  const got = new Map(
    r.stdout.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const wrong = Object.keys(env).filter(
    (k) => k.startsWith('REF_') && !/^[1-4]$/.test(got.get(k) ?? ''),
  );
  if (r.code !== 0 || wrong.length > 0)
    throw new Error(
      `${NAMES[side]} did not resolve ${wrong.join(', ') || 'its references'} (exit ${r.code}): ${r.stderr.slice(0, 500)}`,
    );
}

async function bareNode(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs + WARM_UP; i++) {
    const t0 = performance.now();
    const args = ['--library-path', `${bundle}/runtime/lib`, `${bundle}/runtime/node`, '-e', '0'];
    await exec(`${bundle}/runtime/lib/ld-linux-x86-64.so.2`, args, {});
    if (i >= WARM_UP) times.push(performance.now() - t0);
  }
  return median(times);
}

function exec(
  file: string,
  argv: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(file, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}
