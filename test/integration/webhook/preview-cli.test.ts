// The built `vault-inject mutate`, as a user runs it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const bin = new URL('../../../dist/webhook/vault-inject.js', import.meta.url).pathname;
const fixtures = new URL('../../fixtures/admission/', import.meta.url);

function run(args: string[], input?: string) {
  return spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8' });
}

describe('dist/webhook/vault-inject.js mutate', () => {
  it('prints the same pod as the webhook, from stdin', () => {
    const pod = JSON.parse(readFileSync(new URL('command-args/review.json', fixtures), 'utf8'))
      .request.object;
    const r = run(['mutate', '-f', '-', '-o', 'json'], JSON.stringify(pod));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout),
      JSON.parse(readFileSync(new URL('command-args/pod-after.json', fixtures), 'utf8')),
    );
  });

  it('reads multi-document YAML from a file and exits 0 with a warning for a container without command', () => {
    const r = run(['mutate', '-f', new URL('preview/workloads.yaml', fixtures).pathname]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\/vault-inject\/bin\/vault-inject-env/);
    assert.match(
      r.stderr,
      /document 3 \(CronJob report\): warning: container "report" has no command/,
    );
  });

  it('exits 1 for a document it cannot preview and 2 for a bad flag', () => {
    assert.equal(run(['mutate', '-f', '-'], 'kind: Deployment\nspec: {}\n').status, 1);
    const bad = run(['mutate', '-f', '-', '-o', 'xml'], '');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /-o: "xml" is not yaml, json or patch/);
  });
});
