// `vault-inject-env --help`: every variable the program reads, with its default, on stdout, exit 0;
// never in the way of an app named `--help`; and the same list as docs/init-program.md.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { INIT_SETTINGS } from '../../../init-binary/src/contract/names.ts';
import { SETTINGS_HELP, helpText, wantsHelp } from '../../../init-binary/src/help.ts';
import { tempFiles } from './files.ts';

const MAIN = 'init-binary/src/main.ts';
const { dir, file } = tempFiles('vault-inject-help-');

function runMain(
  args: string[],
  path: string,
  extra: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [MAIN, ...args], {
    env: { PATH: path, VAULT_ADDR: 'http://127.0.0.1:9', ...extra },
    encoding: 'utf8',
  });
}

describe('vault-inject-env --help', () => {
  it('lists every variable the program reads, with its default, and exits 0', () => {
    // A reference in the environment does not turn --help into a run.
    const r = runMain(['--help'], '/usr/bin:/bin', { A: 'vault:secret/a#b' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    for (const name of INIT_SETTINGS) {
      const d = SETTINGS_HELP[name].default;
      assert.ok(r.stdout.includes(`  ${name}  (default: ${d === '' ? 'unset' : d})\n`), name);
    }
    assert.match(r.stdout, /VAULT_CLIENT_TIMEOUT {2}\(default: 10s\)/);
    assert.match(r.stdout, /^Usage: vault-inject-env \[--\] CMD \[ARGS\.\.\.\]$/m);
  });

  it('runs an app named --help when PATH holds one, and always after --', () => {
    file('--help', '#!/bin/sh\necho "the app named --help"\n', 0o755);
    const found = runMain(['--help'], `${dir}:/usr/bin:/bin`);
    assert.equal(found.status, 0, found.stderr);
    assert.equal(found.stdout, 'the app named --help\n');
    const escaped = runMain(['--', '--help'], '/usr/bin:/bin');
    assert.equal(escaped.status, 127);
    assert.match(escaped.stderr, /command "--help" not found in PATH/);
  });

  it("is the app's own flag after a command", () => {
    assert.equal(
      wantsHelp(['app', '--help'], () => false),
      false,
    );
    assert.equal(
      wantsHelp(['--help', 'x'], () => false),
      false,
    );
    assert.equal(
      wantsHelp(['--help'], () => false),
      true,
    );
    assert.equal(
      wantsHelp(['--help'], () => true),
      false,
    );
    assert.equal(
      wantsHelp([], () => false),
      false,
    );
  });

  it('matches the Settings table of docs/init-program.md', () => {
    const doc = readFileSync('docs/init-program.md', 'utf8');
    const section = doc.slice(doc.indexOf('## Settings'), doc.indexOf('## Exit codes'));
    const rows = new Map(
      [...section.matchAll(/^\| `([A-Z_]+)` \| (.+?) \| .+ \|$/gm)].map((m) => [m[1], m[2]]),
    );
    assert.deepEqual([...rows.keys()].sort(), [...INIT_SETTINGS].sort());
    for (const name of INIT_SETTINGS) {
      const d = SETTINGS_HELP[name].default;
      assert.equal(rows.get(name), d === '' ? 'unset' : `\`${d}\``, name);
    }
    assert.ok(helpText().includes('docs/init-program.md'));
  });
});
