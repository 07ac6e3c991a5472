// The offline preview (`vault-inject mutate`), in-process: workload templates, multi-document
// YAML, Secrets from the same input, warnings and errors that name the document and field.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { preview } from '../../../webhook/src/cli/mutate.ts';
import { injectionConfig, readFlags } from '../../../webhook/src/config.ts';
import { FIXTURES } from './helpers.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- YAML read back, asserted field by field
type Json = Record<string, any>;

const config = injectionConfig(readFlags([], {}).flags);
const WORKLOADS = readFileSync(new URL('preview/workloads.yaml', FIXTURES), 'utf8');

describe('vault-inject mutate', () => {
  it('mutates the pod template of a Deployment, finds the reference behind its Secret, leaves the rest', async () => {
    const r = await preview(WORKLOADS, 'yaml', config);
    const docs = parseAllDocuments(r.stdout) as unknown as { toJS(): Json }[];
    assert.equal(docs.length, 4);
    const web = docs[1]?.toJS();
    const c = web?.spec.template.spec.containers[0];
    assert.deepEqual(c.command, ['/vault-inject/bin/vault-inject-env']);
    assert.deepEqual(c.args, ['/web']);
    assert.equal(web?.spec.template.metadata.annotations['vault-inject.dev/status'], 'injected');
    assert.equal(web?.spec.template.spec.initContainers[0].name, 'vault-inject-copy');
    assert.deepEqual(docs[3]?.toJS(), parseAllDocuments(WORKLOADS).map((d) => d.toJS())[3]);
    // The CronJob container has no command: named in a warning, left as it is, exit 0.
    const cron = docs[2]?.toJS();
    assert.deepEqual(cron?.spec.jobTemplate.spec.template.spec.containers[0].args, ['--daily']);
    assert.deepEqual(r.stderr, [
      'document 3 (CronJob report): warning: container "report" has no command: set "command" to the image\'s entrypoint (the offline preview does not look images up in a registry); left as it is',
    ]);
    assert.equal(r.exitCode, 0);
  });

  it('prints patches with paths into the template', async () => {
    const r = await preview(WORKLOADS, 'patch', config);
    const patches = JSON.parse(r.stdout) as { document: number; patch: { path: string }[] }[];
    const web = patches.find((p) => p.document === 2);
    assert.ok(web?.patch.every((op) => op.path.startsWith('/spec/template/')));
    assert.ok(web?.patch.some((op) => op.path === '/spec/template/spec/containers/0/command'));
  });

  it('prints a single document as JSON', async () => {
    const pod = JSON.parse(readFileSync(new URL('command-only/review.json', FIXTURES), 'utf8'))
      .request.object;
    const r = await preview(JSON.stringify(pod), 'json', config);
    const expected = JSON.parse(
      readFileSync(new URL('command-only/pod-after.json', FIXTURES), 'utf8'),
    );
    assert.deepEqual(
      JSON.parse(r.stdout),
      expected,
      'the preview equals the webhook for the same pod',
    );
    assert.equal(r.exitCode, 0);
  });

  const failures: [string, string, RegExp][] = [
    ['YAML syntax', 'kind: Pod\nspec: [', /^document 1: YAML error at line \d+/],
    [
      'a Deployment without a template',
      'kind: Deployment\nmetadata: {name: d}\nspec: {}',
      /^document 1 \(Deployment d\): "spec.template" is missing/,
    ],
    [
      'a container without a name',
      'kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - image: x',
      /^document 1 \(Pod p\): "object.spec.containers\[0\].name" is missing/,
    ],
    [
      'an invalid reference',
      'kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: app\n      command: [x]\n      env: [{name: A, value: "vault:a#${.k | nope}"}]',
      /^document 1 \(Pod p\): denied: container "app", env A: unknown template function "nope"/,
    ],
  ];
  for (const [name, input, message] of failures) {
    it(`exits 1 on ${name}, naming the document and field`, async () => {
      const r = await preview(input, 'yaml', config);
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr.join('\n'), message);
    });
  }
});
