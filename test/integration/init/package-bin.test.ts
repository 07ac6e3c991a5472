// The package's `vault-inject-env` bin (dist/init/vault-inject-env.js, scripts/build.ts) is the
// very program of the bundle (app/program.cjs, scripts/bundle.ts): one set of esbuild options
// (scripts/bundle.esbuild.ts), so the same bytes; and it runs on its own with Node.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { builtBundle } from './bundle.ts';

const BIN = 'dist/init/vault-inject-env.js';

function builtBin(): string {
  if (!existsSync(BIN)) {
    const r = spawnSync(process.execPath, ['scripts/build.ts', 'init'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  return BIN;
}

describe('the package bin', () => {
  it('is the same program as the bundle', () => {
    const bin = readFileSync(builtBin());
    const program = readFileSync(`${builtBundle()}/app/program.cjs`);
    assert.ok(
      bin.equals(program),
      'dist/init and the bundle differ: rebuild both (make build bundle)',
    );
  });

  it('is executable and runs a command with no references', () => {
    const bin = builtBin();
    assert.ok((statSync(bin).mode & 0o111) !== 0);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin: Record<string, string> };
    assert.equal(pkg.bin['vault-inject-env'], BIN);
    const r = spawnSync(process.execPath, [bin, 'sh', '-c', 'echo "hi $VAULT_ADDR"'], {
      env: { PATH: '/usr/bin:/bin', VAULT_ADDR: 'http://127.0.0.1:9' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hi \n', 'settings are removed even with nothing to resolve');
  });

  it('answers --help with the variables it reads, exit 0', () => {
    const r = spawnSync(process.execPath, [builtBin(), '--help'], {
      env: { PATH: '/usr/bin:/bin' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ {2}VAULT_CLIENT_TIMEOUT {2}\(default: 10s\)$/m);
    assert.match(r.stdout, /^ {2}KUBERNETES_SERVICE_ACCOUNT_TOKEN {2}\(default: \/var\/run\//m);
  });
});
