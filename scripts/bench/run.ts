// `make bench`: every benchmark, one after the other, each beside its Bank-Vaults peer where the
// peer exists. First `scripts/components.sh --bench` (the real servers, and Bank-Vaults' vault-env
// and vault-secrets-webhook built from their Go modules); a peer that cannot be built is reported
// as such, never replaced by a guess. Each bench prints its own numbers; a summary follows.
//   node scripts/bench/run.ts [--only init,webhook,registry,admission-registry]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

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
    peer: 'none: this bench measures our handler alone (no vault-secrets-webhook run is scripted)',
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
  readonly peer?: number;
  readonly unit: string;
}

const onlyArg = process.argv.indexOf('--only');
const only = onlyArg === -1 ? undefined : new Set((process.argv[onlyArg + 1] ?? '').split(','));
const selected = BENCHES.filter((b) => !only || only.has(b.name));
if (selected.length === 0) throw new Error(`--only: none of ${BENCHES.map((b) => b.name)}`);

const load = (): string =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
console.log(`bench: ${selected.map((b) => b.name).join(', ')}; load average ${load()}`);

// 1. The components, peers included. A failure to build a peer is reported, not fatal.
const components = await run('scripts/components.sh', ['--bench'], {}, true);
const peersBuilt = components.code === 0;
let peerNote = 'built';
if (!peersBuilt) {
  // The Go proxy's answer names the module and the reason (e.g. "403 Forbidden").
  const lines = components.stderr.split('\n').map((l) => l.trim());
  const proxy = [...new Set(lines.filter((l) => /^go: .*bank-vaults/.test(l)))];
  const why = proxy.length > 0 ? proxy : lines.filter((l) => l !== '').slice(-3);
  peerNote = 'NOT AVAILABLE';
  console.log(
    `\nBank-Vaults peers could not be built here, so there are no side-by-side numbers:\n  ${why.join('\n  ')}\n` +
      'Our own numbers follow; see docs/real-stack.md ("Bank-Vaults peers").\n',
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
      const ours = `${r.ours.toFixed(1)} ${r.unit}`;
      const theirs =
        r.peer === undefined
          ? 'Bank-Vaults: not available'
          : `Bank-Vaults ${r.peer.toFixed(1)} ${r.unit}, ours/theirs ${(r.ours / r.peer).toFixed(2)}`;
      console.log(`  ${r.metric}: ours ${ours}; ${theirs}`);
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

/** Runs a command with its output shown as it comes; stderr also kept when asked. */
function run(
  file: string,
  args: readonly string[],
  env: Record<string, string>,
  keepStderr = false,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', keepStderr ? 'pipe' : 'inherit'],
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
      process.stderr.write(c);
    });
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}
