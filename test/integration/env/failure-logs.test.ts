// When an end-to-end test fails, the tail of every component's log is printed under it
// (test/e2e/harness.ts): run a test file whose test fails and read its output.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

const CHILD = path.join(import.meta.dirname, 'failing-child.ts');

function runFailingFile(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--test', '--test-reporter=spec', CHILD],
      // NODE_TEST_CONTEXT would make the child skip its files (a run inside a run).
      {
        env: {
          ...process.env,
          VAULT_INJECT_KEEP_TEST_DIRS: undefined,
          NODE_TEST_CONTEXT: undefined,
        },
        maxBuffer: 1 << 24,
      },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? null) : 0;
        resolve({ code, output: stdout + stderr });
      },
    );
  });
}

describe('a failed end-to-end test', () => {
  it("prints the tail of each component's log under it", async () => {
    const { code, output } = await runFailingFile();
    assert.equal(code, 1, output);
    assert.match(output, /deliberate failure/);
    assert.match(output, /logs after failed test "fails on purpose":/);
    for (const name of ['etcd', 'kube-apiserver', 'openbao', 'webhook']) {
      // The header, then at least one line the component wrote.
      assert.match(output, new RegExp(`--- ${name} \\([^)]+\\.log\\) ---\\n.+`), `${name} log`);
    }
    assert.doesNotMatch(output, /\(cannot read /, 'every log file was there to read');
  });
});
