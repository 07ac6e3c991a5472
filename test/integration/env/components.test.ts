// The component scripts' shared behaviour (scripts/components/lib.sh), on a component of the
// test's own in an empty cache: the first run builds and says what and how long, the second only
// finds it cached (the build does not run again), a failing build names the component, the
// command and its exit code, shows the log's end and leaves no half cache. Then the real default
// set, warm: every component cached, nothing rebuilt. A long step prints a progress line every
// VAULT_INJECT_PROGRESS_SECONDS (30 s by default).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

const root = path.resolve(import.meta.dirname, '../../..');
const LIB = path.join(root, 'scripts/components/lib.sh');

/** A component whose build counts its runs in $DEMO_COUNT and fails when DEMO_FAIL is set. */
const SCRIPT = `#!/usr/bin/env bash
set -euo pipefail
. ${JSON.stringify(LIB)}
vi_component demo 1.2.3 VAULT_INJECT_DEMO
vi_path() { printf '%s' "$VI_CACHE/$VI_NAME/$VI_VERSION/bin/demo"; }
build() {
  local stage="$1" log="$2"
  echo run >>"$DEMO_COUNT"
  if [ -n "\${DEMO_SLOW:-}" ]; then
    vi_run "$log" sleep "$DEMO_SLOW"
  fi
  if [ -n "\${DEMO_FAIL:-}" ]; then
    vi_run "$log" sh -c 'echo compiling; echo "undefined: thing" >&2; exit 3'
  fi
  mkdir -p "$stage/bin"
  vi_run "$log" cp /bin/true "$stage/bin/demo"
}
vi_ensure() { vi_ensure_cached "$VI_VERSION" bin/demo build; }
vi_main "$@"
`;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function sh(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env }, (err, stdout, stderr) => {
      const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('component scripts', () => {
  let dir: string;
  let script: string;
  let env: NodeJS.ProcessEnv;
  const count = (): number =>
    existsSync(path.join(dir, 'count'))
      ? readFileSync(path.join(dir, 'count'), 'utf8').split('\n').filter(Boolean).length
      : 0;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-components-'));
    script = path.join(dir, 'demo.sh');
    await writeFile(script, SCRIPT);
    await chmod(script, 0o755);
    env = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: dir,
      VAULT_INJECT_CACHE: path.join(dir, 'cache'),
      DEMO_COUNT: path.join(dir, 'count'),
    };
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a failing build names the component and the command, shows the log, leaves no cache', async () => {
    const r = await sh(script, ['ensure'], { ...env, DEMO_FAIL: '1' });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^demo: building demo 1\.2\.3 \(log: .+\/demo\/logs\/1\.2\.3\.log\)$/m);
    // The command as one would type it again (printf %q quoting).
    assert.match(r.stderr, /^demo: error: command failed \(exit 3\): sh -c echo\\ compiling\\;/m);
    assert.match(r.stderr, /^ {4}undefined: thing$/m, 'the end of the log is shown');
    const base = path.join(dir, 'cache', 'demo');
    assert.deepEqual(
      readdirSync(base).filter((e) => e !== 'logs' && e !== '.lock'),
      [],
      'no version directory and no .stage-* left',
    );
    const p = await sh(script, ['path'], env);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /demo: not present at .+; run scripts\/components\/demo\.sh/);
  });

  it('builds once, saying what and how long; the next run finds it cached', async () => {
    const before = count();
    const first = await sh(script, ['ensure'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /^demo: built demo 1\.2\.3 in \d+\.\ds$/m);
    assert.match(
      first.stdout,
      /^demo +1\.2\.3 +built +\d+\.\ds {2}\S+\/cache\/demo\/1\.2\.3\/bin\/demo$/m,
    );
    assert.equal(count(), before + 1);
    const info = readFileSync(path.join(dir, 'cache/demo/1.2.3/BUILD-INFO'), 'utf8');
    assert.match(info, /^took=\d+\.\ds$/m);

    const second = await sh(script, ['ensure'], env);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^demo +1\.2\.3 +cached +\d+\.\ds {2}\S+\/bin\/demo$/m);
    assert.equal(second.stderr, '', 'nothing built, nothing to say');
    assert.equal(count(), before + 1, 'the build did not run again');
    const p = await sh(script, ['path'], env);
    assert.equal(p.stdout.trim(), path.join(dir, 'cache/demo/1.2.3/bin/demo'));
  });

  it('a long build step says every few seconds what runs and for how long', async () => {
    await rm(path.join(dir, 'cache'), { recursive: true, force: true });
    const started = Date.now();
    const r = await sh(script, ['ensure'], {
      ...env,
      DEMO_SLOW: '2.5',
      VAULT_INJECT_PROGRESS_SECONDS: '1',
    });
    assert.equal(r.code, 0, r.stderr);
    const ticks = r.stderr.match(/^demo: still running after \d+\.\ds: sleep 2\.5$/gm) ?? [];
    assert.ok(ticks.length >= 2 && ticks.length <= 3, r.stderr);
    assert.match(ticks[0] ?? '', /after 1\.\ds/);
    // The ticker ends with the command: it neither keeps printing nor keeps the pipe open.
    assert.ok(Date.now() - started < 6000, `took ${Date.now() - started} ms`);
    assert.doesNotMatch(r.stderr.split(/^demo: built /m)[1] ?? '', /still running/);
  });

  it('the default set, warm: one "cached" line per component and nothing built', async () => {
    const r = await sh(path.join(root, 'scripts/components.sh'), [], {
      ...process.env,
      VAULT_FLAVOR: undefined,
    });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.length >= 9, r.stdout);
    for (const line of lines) assert.match(line, /^\S+ +\S+ +cached +\d+\.\ds {2}\//, line);
    assert.match(r.stderr, /^components: \d+ checked in \d+\.\ds; cache: /m);
  });
});
