// The offline preview (`vault-inject mutate`), in-process: workload templates, multi-document
// YAML, Secrets from the same input, warnings and errors that name the document and field.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { parseAllDocuments, stringify } from 'yaml';
import { preview } from '../../../webhook/src/cli/mutate.ts';
import { injectionConfig, readFlags } from '../../../webhook/src/config.ts';
import { FIXTURES, podOf } from './helpers.ts';

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

  // Every workload kind, as kubectl would print it, in one multi-document input.
  const KINDS: [kind: string, apiVersion: string, template: string[]][] = [
    ['Pod', 'v1', []],
    ['Deployment', 'apps/v1', ['spec', 'template']],
    ['StatefulSet', 'apps/v1', ['spec', 'template']],
    ['DaemonSet', 'apps/v1', ['spec', 'template']],
    ['ReplicaSet', 'apps/v1', ['spec', 'template']],
    ['Job', 'batch/v1', ['spec', 'template']],
    ['CronJob', 'batch/v1', ['spec', 'jobTemplate', 'spec', 'template']],
  ];
  const podTemplate = (name: string): Json => ({
    metadata: { labels: { app: name } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'registry.example/app:1',
          command: ['/app', '$(HOME)'],
          env: [{ name: 'DB', value: 'vault:secret/data/db#password' }],
        },
      ],
    },
  });
  const workload = ([kind, apiVersion, path]: (typeof KINDS)[number]): Json => {
    const name = kind.toLowerCase();
    const doc: Json = { apiVersion, kind, metadata: { name, namespace: 'shop' } };
    if (path.length === 0) {
      const pod = podTemplate(name);
      return { ...doc, metadata: { ...doc.metadata, ...pod.metadata }, spec: pod.spec };
    }
    let at: Json = doc;
    for (const key of path.slice(0, -1)) at = at[key] ??= {};
    at[path[path.length - 1] as string] = podTemplate(name);
    return doc;
  };
  const at = (doc: Json, path: readonly string[]): Json =>
    path.reduce<Json>((o, k) => o[k] as Json, doc);

  it('mutates the pod template of every workload kind, in one multi-document input', async () => {
    const input = KINDS.map((k) => stringify(workload(k))).join('---\n');
    for (const format of ['yaml', 'json', 'patch'] as const) {
      const r = await preview(input, format, config);
      assert.deepEqual(r.stderr, [], format);
      assert.equal(r.exitCode, 0, format);
    }
    const yaml = await preview(input, 'yaml', config);
    const docs = parseAllDocuments(yaml.stdout).map((d) => d.toJS() as Json);
    const json = JSON.parse((await preview(input, 'json', config)).stdout) as Json;
    assert.equal(json.kind, 'List');
    assert.deepEqual(json.items, docs, 'yaml and json print the same documents');
    const patches = JSON.parse((await preview(input, 'patch', config)).stdout) as Json[];
    KINDS.forEach(([kind, , path], i) => {
      const template = at(docs[i] as Json, path);
      const c = template.spec.containers[0];
      assert.deepEqual(c.command, ['/vault-inject/bin/vault-inject-env'], kind);
      assert.deepEqual(c.args, ['/app', '$(HOME)'], `${kind}: command kept exactly`);
      assert.equal(template.spec.initContainers[0].name, 'vault-inject-copy', kind);
      assert.equal(template.metadata.annotations['vault-inject.dev/status'], 'injected', kind);
      assert.equal((docs[i] as Json).metadata.name, kind.toLowerCase(), kind);
      const prefix = path.map((p) => `/${p}`).join('');
      const entry = patches[i] as Json;
      assert.equal(entry.document, i + 1);
      assert.equal(entry.label, `document ${i + 1} (${kind} ${kind.toLowerCase()})`);
      assert.ok(
        entry.patch.some((op: Json) => op.path === `${prefix}/spec/containers/0/command`),
        `${kind}: patch paths point into the template`,
      );
      // Applied to the input, the patch gives the printed document.
      const applied = fjp.applyPatch(
        workload(KINDS[i] as (typeof KINDS)[number]),
        entry.patch,
      ).newDocument;
      assert.deepEqual(applied, docs[i], `${kind}: the patch gives the printed document`);
    });
  });

  it('names the template field a workload lacks', async () => {
    for (const k of KINDS.slice(1)) {
      const [kind, apiVersion, path] = k;
      const input = stringify({ apiVersion, kind, metadata: { name: 'w' }, spec: {} });
      const r = await preview(input, 'yaml', config);
      assert.equal(r.exitCode, 1, kind);
      assert.deepEqual(r.stderr, [
        `document 1 (${kind} w): "${path.join('.')}" is missing or not an object`,
      ]);
    }
  });

  it('finds a reference in a Secret of the input when neither names a namespace', async () => {
    const input = [
      'apiVersion: v1\nkind: Secret\nmetadata: {name: api}\nstringData: {key: "vault:secret/data/shop#API_KEY"}',
      stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web' },
        spec: {
          template: {
            spec: {
              containers: [
                {
                  name: 'web',
                  command: ['/web'],
                  env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 'api', key: 'key' } } }],
                },
              ],
            },
          },
        },
      }),
    ].join('\n---\n');
    const r = await preview(input, 'patch', config);
    assert.deepEqual(r.stderr, []);
    const patches = JSON.parse(r.stdout) as Json[];
    assert.ok(
      patches[0]?.patch.some((op: Json) => op.path === '/spec/template/spec/containers/0/command'),
      r.stdout,
    );
  });

  it('previews the items of a List (kubectl get -o yaml), patch paths into items', async () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        workload(KINDS[1] as (typeof KINDS)[number]),
        { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } },
        workload(KINDS[6] as (typeof KINDS)[number]),
      ],
    };
    const r = await preview(stringify(list), 'yaml', config);
    assert.deepEqual(r.stderr, []);
    const out = parseAllDocuments(r.stdout)[0]?.toJS() as Json;
    assert.equal(out.kind, 'List');
    assert.deepEqual(out.items[0].spec.template.spec.containers[0].command, [
      '/vault-inject/bin/vault-inject-env',
    ]);
    assert.deepEqual(out.items[1], list.items[1]);
    assert.deepEqual(out.items[2].spec.jobTemplate.spec.template.spec.containers[0].command, [
      '/vault-inject/bin/vault-inject-env',
    ]);
    const [entry] = JSON.parse((await preview(stringify(list), 'patch', config)).stdout) as Json[];
    assert.equal(entry?.label, 'document 1 (List)');
    assert.deepEqual(fjp.applyPatch(structuredClone(list), entry?.patch).newDocument, out);
    const bad = structuredClone(list) as Json;
    bad.items[2].spec.jobTemplate.spec.template.spec.containers[0].env[0].value = 'vault:x';
    const denied = await preview(stringify(bad), 'yaml', config);
    assert.equal(denied.exitCode, 1);
    assert.match(
      denied.stderr.join('\n'),
      /^document 1 \(List\) item 3 \(CronJob cronjob\): denied: container "app", env DB: /,
    );
  });

  it('numbers documents as in the input, past one that failed', async () => {
    const input = `kind: Pod\nspec: [\n---\n${stringify(workload(KINDS[0] as (typeof KINDS)[number]))}`;
    const r = await preview(input, 'patch', config);
    assert.equal(r.exitCode, 1);
    const patches = JSON.parse(r.stdout) as Json[];
    assert.deepEqual(
      patches.map((p) => [p.document, p.label]),
      [[2, 'document 2 (Pod pod)']],
    );
  });

  it('exits 1 on an input without a document', async () => {
    for (const input of ['', '\n', '---\n', '# a comment\n']) {
      const r = await preview(input, 'yaml', config);
      assert.equal(r.exitCode, 1, JSON.stringify(input));
      assert.deepEqual(r.stderr, ['the input holds no document']);
    }
  });

  it('a Secret of the input with a broken reference is named, its value withheld', async () => {
    const canary = 'CANARY-preview-31c4';
    const input = [
      stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's' },
        data: { k: Buffer.from(`vault:${canary} x#`).toString('base64') },
      }),
      stringify(
        podOf([
          {
            name: 'app',
            command: ['/a'],
            env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }],
          },
        ]),
      ),
    ].join('---\n');
    const r = await preview(input, 'patch', config);
    assert.equal(r.exitCode, 1);
    assert.deepEqual(r.stderr, [
      'document 2 (Pod p): denied: container "app", env K (secret "s" key k): holds an invalid reference (details withheld: it is a Secret value)',
    ]);
    assert.ok(!r.stdout.includes(canary) && !r.stderr.join('\n').includes(canary));
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
