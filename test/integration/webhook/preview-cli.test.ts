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

  it('exits 1 for a document it cannot preview, naming document and field', () => {
    const r = run(['mutate', '-f', '-'], 'kind: Service\n---\nkind: Deployment\nspec: {}\n');
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      'document 2 (Deployment): "spec.template" is missing or not an object\n',
    );
    const empty = run(['mutate', '-f', '-'], '');
    assert.equal(empty.status, 1);
    assert.equal(empty.stderr, 'the input holds no document\n');
  });

  it('exits 2 for a bad flag, a missing -f or a file it cannot read', () => {
    for (const [args, message] of [
      [['mutate', '-f', '-', '-o', 'xml'], /-o: "xml" is not yaml, json or patch/],
      [['mutate'], /mutate needs -f FILE/],
      [['mutate', '-f', '/nonexistent/pod.yaml'], /cannot read \/nonexistent\/pod\.yaml/],
      [['mutate', '-f', '-', '--allowed-vault-addrs=ftp://x'], /--allowed-vault-addrs/],
    ] as const) {
      const r = run([...args], '');
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });
});
