// The init bench (never asserted in tests): start-to-exec of vault-inject-env (the built bundle)
// beside Bank-Vaults' vault-env, on the same OpenBao dev server with the same 10 references over 3
// paths and the same jwt login, in interleaved ABBA rounds. First on loopback, then with an added
// round-trip time of 5 and 20 ms (a delaying TCP proxy on 127.0.0.1, scripts/bench/delay-proxy.ts).
// The app both exec is a static stamp (scripts/bench/stamp.c) that prints CLOCK_MONOTONIC at its
// start, the peak RSS the process reached before exec and the CPU time it used. Ours runs from a
// copy that the bundle's own `--copy-bundle` made (what a pod's emptyDir holds), not from the
// build's output: a file just written by strip sits in the page cache in large folios, which map
// whole into every process that runs it (the bare node: ~70 MiB of RSS instead of ~43 MiB).
// On loopback also floors under ours: the bundled node exec'ing at once, and the least client
// doing the same calls (scripts/bench/init-floor.ts) on node:net and on node:http.
//   node scripts/bench/init.ts [--runs N] [--rtt 0,5,20]     (make bench-init)
import { spawn, spawnSync } from 'node:child_process';
import { transformSync } from 'esbuild';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setUpFixtures, startOpenBao } from '../../test/env/openbao.ts';
import { startDelayProxy } from './delay-proxy.ts';
import { filesOverhead } from './init-files.ts';
import { bankVaults, load, report } from './proc.ts';
import { compareLine, median, parseStamp, quantile, roundOrder, type Side } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    rtt: { type: 'string', default: '0,5,20' },
  },
});
const runs = Number(args.runs);
const rtts = args.rtt.split(',').map(Number);
const WARM_UP = 3;
const built = resolve(process.env['VAULT_INJECT_BUNDLE'] ?? 'dist/bundle/vault-inject');
if (!existsSync(`${built}/bin/vault-inject-env`))
  throw new Error(`no bundle at ${built}: run make bundle`);

const tmp = mkdtempSync(join(tmpdir(), 'vault-inject-bench-'));
// As a pod gets it: copied by the init container `vault-inject-copy` (the bundle's copy mode).
const bundle = join(tmp, 'vault-inject');
const copy = spawnSync(`${built}/bin/vault-inject-env`, ['--copy-bundle', bundle], {
  encoding: 'utf8',
});
if (copy.status !== 0) throw new Error(`--copy-bundle: exit ${copy.status}: ${copy.stderr}`);
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
// Floors under ours on loopback, on the bundled node, in the same rounds: node starting and
// exec'ing at once, and the least program that does the same login and reads before it execs
// (scripts/bench/init-floor.ts, types stripped here) on node:net and on node:http.
const floorJs = join(tmp, 'init-floor.mjs');
writeFileSync(
  floorJs,
  transformSync(readFileSync('scripts/bench/init-floor.ts', 'utf8'), { loader: 'ts' }).code,
);
const NODE = [
  `${bundle}/runtime/lib/ld-linux-x86-64.so.2`,
  ...['--library-path', `${bundle}/runtime/lib`, `${bundle}/runtime/node`],
];
const FLOORS: Readonly<Record<string, readonly string[]>> = {
  'bare node start + exec': [...NODE, '-e', 'process.execve(process.argv[1], [process.argv[1]])'],
  'least client on node:net': [...NODE, floorJs, 'net'],
  'least client on node:http': [...NODE, floorJs, 'http'],
};

const bao = await startOpenBao();
try {
  const env = await fixtures();
  for (const rtt of rtts) {
    const proxy = rtt > 0 ? await startDelayProxy(new URL(bao.addr), rtt) : undefined;
    try {
      await compare(rtt, { ...env, VAULT_ADDR: proxy?.addr ?? bao.addr });
      if (rtt === 0) {
        const measure = async (e: Record<string, string>) =>
          (await startToExec(programs.ours as string, [stamp], e, NAMES.ours)).ms;
        await filesOverhead({ ...env, VAULT_ADDR: bao.addr }, runs, measure);
      }
    } finally {
      await proxy?.close();
    }
  }
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
  /** CPU time (user + system) before exec, all threads. */
  readonly cpuMs: number;
}

/** Interleaved rounds of both programs against one Vault address; medians side by side. */
async function compare(rtt: number, env: Record<string, string>): Promise<void> {
  for (const side of Object.keys(programs) as Side[]) await resolves(side, env);
  const label = rtt === 0 ? 'loopback' : `+${rtt} ms RTT`;
  const results: Record<Side, Run[]> = { ours: [], theirs: [] };
  const withPeer = programs.theirs !== undefined;
  const floors = new Map<string, Run[]>();
  for (let round = 0; round < runs + WARM_UP; round++) {
    for (const side of roundOrder(round, withPeer)) {
      const r = await startToExec(programs[side] as string, [stamp], env, NAMES[side]);
      if (round >= WARM_UP) results[side].push(r); // warm-ups: page cache, OpenBao's caches
    }
    for (const [name, [file, ...argv]] of rtt === 0 ? Object.entries(FLOORS) : []) {
      const r = await startToExec(file as string, [...argv, stamp], env, name);
      if (round >= WARM_UP) floors.set(name, [...(floors.get(name) ?? []), r]);
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
  line(`CPU time before exec (median), ${label}`, (r) => r.cpuMs, { q: 0.5, unit: 'ms' });
  if (rtt === 0) line('peak RSS before exec (median)', (r) => r.maxRssKib, { q: 0.5, unit: 'MiB' });
  for (const [name, runs] of floors) floor(name, runs);
}

/** A floor under ours (medians), for scale: what the same start costs with less than ours does. */
function floor(name: string, runs: readonly Run[]): void {
  const ms = median(runs.map((r) => r.ms));
  const cpu = median(runs.map((r) => r.cpuMs));
  const rss = median(runs.map((r) => r.maxRssKib)) / 1024;
  console.log(
    `  floor: ${name}: ${ms.toFixed(1)} ms, CPU ${cpu.toFixed(1)} ms, peak RSS ${rss.toFixed(1)} MiB`,
  );
  report('init', `floor: ${name}, loopback (no peer)`, { ours: ms }, 'ms');
  report('init', `floor: ${name}, CPU time (no peer)`, { ours: cpu }, 'ms');
}

/** Spawn → the stamp's first instruction, the peak RSS and the CPU time before exec. */
async function startToExec(
  file: string,
  argv: readonly string[],
  env: Record<string, string>,
  label: string,
): Promise<Run> {
  const t0 = process.hrtime.bigint();
  const { code, stdout, stderr } = await exec(file, argv, env);
  if (code !== 0) throw new Error(`${label}: exit ${code}: ${stderr.slice(0, 2000)}`);
  // The stamp's line is the last one (vault-env logs to stdout before it execs).
  const stamp = parseStamp(stdout.trim().split('\n').at(-1) ?? '');
  if (!stamp) throw new Error(`${label}: no stamp line in its output: ${stdout.slice(-500)}`);
  return {
    ms: Number(stamp.monotonicNs - t0) / 1e6,
    maxRssKib: stamp.maxRssKib,
    cpuMs: stamp.cpuUs / 1000,
  };
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
