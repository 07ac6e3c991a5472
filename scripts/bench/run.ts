// `make bench`: every benchmark, one after the other, each beside its Bank-Vaults peer where the
// peer exists. First `scripts/components.sh --bench` (the real servers, and Bank-Vaults' vault-env
// and vault-secrets-webhook built from the sources VAULT_INJECT_BV_SOURCES names, see
// docs/benchmarks.md); a peer that is not available is reported with the reason, never replaced by
// a guess. Each bench prints its own numbers; a summary of ours, theirs and the ratios follows.
//   node scripts/bench/run.ts [--only init,webhook,registry,admission-registry]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from './proc.ts';
import { compareLine } from './stats.ts';

interface Bench {
  readonly name: string;
  readonly script: string;
  readonly args: readonly string[];
  /** The Bank-Vaults program it is compared with, or why there is none. */
  readonly peer: string;
}

const BENCHES: readonly Bench[] = [
  {
    name: 'init',
    script: 'scripts/bench/init.ts',
    args: [],
    peer: 'vault-env',
  },
  {
    name: 'webhook',
    script: 'scripts/bench/webhook.ts',
    args: [],
    peer: 'vault-secrets-webhook (the in-process handler time has none)',
  },
  {
    name: 'registry',
    script: 'scripts/bench/registry.ts',
    args: [],
    peer: 'none: Bank-Vaults has no standalone image lookup to time',
  },
  {
    name: 'admission-registry',
    script: 'scripts/bench/admission-registry.ts',
    args: [],
    peer: 'none: in-process handler, no peer run is scripted',
  },
];

interface Result {
  readonly bench: string;
  readonly metric: string;
  readonly ours: number;
  readonly peer?: number | null;
  readonly unit: string;
}

const onlyArg = process.argv.indexOf('--only');
const only = onlyArg === -1 ? undefined : new Set((process.argv[onlyArg + 1] ?? '').split(','));
const selected = BENCHES.filter((b) => !only || only.has(b.name));
if (selected.length === 0) throw new Error(`--only: none of ${BENCHES.map((b) => b.name)}`);

console.log(`bench: ${selected.map((b) => b.name).join(', ')}; load average ${load()}`);

// 1. The components, peers included. A peer that is not available is reported, not fatal.
const components = await run('scripts/components.sh', ['--bench'], {}, { keepStderr: true });
let peerNote = 'built';
if (components.code !== 0) {
  const why = await run(
    'scripts/components/bank-vaults.sh',
    ['why'],
    {},
    { keepStderr: true, quiet: true },
  );
  peerNote = 'NOT AVAILABLE';
  console.log(
    `\nBank-Vaults peers not available, so there are no side-by-side numbers: ${why.stdout.trim()}\n` +
      'Our own numbers follow; docs/benchmarks.md says how to supply the peers.\n',
  );
}

// 2. The benches.
const dir = mkdtempSync(join(tmpdir(), 'vault-inject-bench-results-'));
const resultsFile = join(dir, 'results.jsonl');
const outcomes: { bench: Bench; code: number | null; seconds: number }[] = [];
try {
  for (const bench of selected) {
    console.log(`\n=== ${bench.name} (${bench.script}) — load average ${load()}`);
    const started = performance.now();
    const r = await run(process.execPath, [bench.script, ...bench.args], {
      VAULT_INJECT_BENCH_RESULTS: resultsFile,
    });
    outcomes.push({ bench, code: r.code, seconds: (performance.now() - started) / 1000 });
  }
  const results = readResults(resultsFile);

  // 3. The summary: ours and the peer's side by side, where there is a peer.
  console.log(`\n=== summary (load average ${load()}; Bank-Vaults peers: ${peerNote})`);
  for (const { bench, code, seconds } of outcomes) {
    const status = code === 0 ? 'ok' : `FAILED (exit ${code})`;
    console.log(`${bench.name}: ${status} in ${seconds.toFixed(0)} s; peer: ${bench.peer}`);
    for (const r of results.filter((x) => x.bench === bench.name)) {
      console.log(
        `  ${compareLine(r.metric, { ours: r.ours, theirs: r.peer ?? undefined }, r.unit, r.ours >= 100 ? 0 : 2)}`,
      );
    }
  }
  process.exitCode = outcomes.every((o) => o.code === 0) ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function readResults(file: string): Result[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Result);
}

/** Runs a command with its output shown as it comes (stdout kept instead when `quiet`). */
function run(
  file: string,
  args: readonly string[],
  env: Record<string, string>,
  { keepStderr = false, quiet = false } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', quiet ? 'pipe' : 'inherit', keepStderr ? 'pipe' : 'inherit'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (!quiet) process.stderr.write(c);
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
