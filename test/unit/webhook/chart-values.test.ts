// The chart's values.yaml and values.schema.json, read as files: every value has a `# --`
// comment (its own, or its parent's when the parent's default is the whole thing, e.g. `{}`),
// every value is in the schema and every schema value in values.yaml, and every object of the
// schema that lists its keys refuses others, so a typo anywhere fails `helm install`.
// (Rendering and the API server: test/integration/deploy/chart.test.ts.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isMap, isScalar, parseDocument, type YAMLMap } from 'yaml';
import { chartReadme, valueRows } from '../../../scripts/chart-readme.ts';

const CHART = path.resolve(import.meta.dirname, '../../../deploy/chart');

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
}

const schema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')) as Schema;
const values = parseDocument(readFileSync(path.join(CHART, 'values.yaml'), 'utf8'));

interface Value {
  path: string;
  /** The keys of `path` (a key may hold dots itself, e.g. kubernetes.io/os). */
  keys: string[];
  documented: boolean;
  /** A non-empty map whose keys are values of their own. */
  branch: boolean;
}

/** Every key of values.yaml with whether the comment block above it holds a `-- ` line. */
function valuesOf(map: YAMLMap, parents: string[] = []): Value[] {
  return map.items.flatMap((pair, i) => {
    assert.ok(isScalar(pair.key), `${parents.join('.')}: a scalar key`);
    const keys = [...parents, String(pair.key.value)];
    const key = keys.join('.');
    // The parser hangs the comment above a map's first key on the map itself.
    const comment = pair.key.commentBefore ?? (i === 0 ? map.commentBefore : undefined) ?? '';
    const documented = comment.split('\n').some((l) => /^\s*-- \S/.test(l));
    const branch = isMap(pair.value) && pair.value.items.length > 0;
    const own = { path: key, keys, documented, branch };
    return branch ? [own, ...valuesOf(pair.value as YAMLMap, keys)] : [own];
  });
}

/** The schema of a values.yaml path (dotted, or its keys), or why there is none. */
function schemaAt(path: string | string[]): Schema | string {
  let node: Schema = schema;
  for (const key of typeof path === 'string' ? path.split('.') : path) {
    const listed = node.properties?.[key];
    if (listed) node = listed;
    else if (typeof node.additionalProperties === 'object') node = node.additionalProperties;
    else return `"${key}" is not in the schema`;
  }
  return node;
}

/** Every path the schema lists by name, with whether it refuses unlisted keys. */
function schemaPaths(node: Schema, prefix = ''): { path: string; node: Schema }[] {
  return Object.entries(node.properties ?? {}).flatMap(([key, child]) => [
    { path: `${prefix}${key}`, node: child },
    ...schemaPaths(child, `${prefix}${key}.`),
  ]);
}

const all = valuesOf(values.contents as YAMLMap);
const byPath = new Map(all.map((v) => [v.path, v]));

describe('values.yaml', () => {
  it('parses without errors and holds the values we know', () => {
    assert.deepEqual(values.errors, []);
    assert.ok(byPath.has('webhook.failurePolicy'));
    assert.ok(byPath.has('certificates.auto.ipAddresses'));
    assert.ok(all.length > 80, `${all.length} values`);
  });

  it('documents every value with a `# --` comment, itself or through its parent', () => {
    const undocumented = all.filter((v) => {
      if (v.documented) return false;
      if (v.branch) return false; // a heading: each key below is checked
      // A key under a documented default like `resources: {requests: ...}`.
      const parts = v.keys;
      for (let i = parts.length - 1; i > 0; i--) {
        if (byPath.get(parts.slice(0, i).join('.'))?.documented) return false;
      }
      return true;
    });
    assert.deepEqual(
      undocumented.map((v) => v.path),
      [],
    );
  });

  it('the check sees a key without a comment', () => {
    const doc = parseDocument('a:\n  # -- documented\n  b: 1\n  c: 2\n');
    const found = valuesOf(doc.contents as YAMLMap);
    assert.deepEqual(
      found.map((v) => [v.path, v.documented]),
      [
        ['a', false],
        ['a.b', true],
        ['a.c', false],
      ],
    );
  });

  it('the failurePolicy default says why, next to the value', () => {
    const webhook = values.getIn(['webhook'], true) as YAMLMap;
    const pair = webhook.items.find((p) => isScalar(p.key) && p.key.value === 'failurePolicy');
    assert.ok(pair && isScalar(pair.key));
    const comment =
      pair.key.commentBefore ?? (webhook.items[0] === pair ? webhook.commentBefore : '') ?? '';
    assert.match(comment, /Default `Fail`, because/);
    assert.equal(values.getIn(['webhook', 'failurePolicy']), 'Fail');
  });
});

describe('values.schema.json', () => {
  it('knows every value of values.yaml', () => {
    const unknown = all
      .map((v) => [v.path, schemaAt(v.keys)] as const)
      .filter(([, s]) => typeof s === 'string')
      .map(([p, s]) => `${p}: ${String(s)}`);
    assert.deepEqual(unknown, []);
  });

  it('has no value that values.yaml does not carry and document', () => {
    const missing = schemaPaths(schema)
      .map((s) => s.path)
      .filter((p) => {
        if (byPath.has(p)) return false;
        // Keys of a documented default such as `issuerRef: {}` are described by its comment.
        const parts = p.split('.');
        for (let i = parts.length - 1; i > 0; i--) {
          const parent = byPath.get(parts.slice(0, i).join('.'));
          if (parent) return !(parent.documented && !parent.branch);
        }
        return true;
      });
    assert.deepEqual(missing, []);
  });

  it('refuses unknown keys in every object whose keys it lists', () => {
    const open = [{ path: '(root)', node: schema }, ...schemaPaths(schema)]
      .filter(({ node }) => node.properties !== undefined)
      .filter(({ node }) => node.additionalProperties !== false)
      .map(({ path: p }) => p);
    assert.deepEqual(open, []);
  });

  it('the lists of names and addresses check their items', () => {
    const items = (p: string): Schema | undefined => (schemaAt(p) as Schema).items;
    for (const p of [
      'vault.allowedAddrs',
      'registry.insecureSkipVerify',
      'registry.plainHttp',
      'certificates.auto.extraDnsNames',
      'certificates.auto.ipAddresses',
      'webhook.excludeNamespaces',
    ]) {
      assert.equal(typeof schemaAt(p), 'object', p);
      assert.equal(items(p)?.type, 'string', `${p}: a list of strings`);
    }
  });
});

describe('deploy/chart/README.md', () => {
  it('is what scripts/chart-readme.ts generates from values.yaml (make manifests)', () => {
    const checkedIn = readFileSync(path.join(CHART, 'README.md'), 'utf8');
    assert.ok(checkedIn === chartReadme(CHART), 'the chart README is out of date: make manifests');
  });

  it('has a row for every documented value, with its default and type', () => {
    const rows = new Map(
      valueRows(readFileSync(path.join(CHART, 'values.yaml'), 'utf8'), schema).map((r) => [
        r.key,
        r,
      ]),
    );
    assert.deepEqual(
      all.filter((v) => v.documented && !rows.has(v.path)).map((v) => v.path),
      [],
    );
    assert.deepEqual(rows.get('webhook.timeoutSeconds')?.default, '5');
    assert.equal(rows.get('webhook.failurePolicy')?.type, '"Fail" \\| "Ignore"');
    assert.match(
      rows.get('webhook.failurePolicy')?.description ?? '',
      /<br><br>Default `Fail`, because/,
    );
    assert.equal(rows.get('resources')?.default, JSON.stringify(values.toJSON().resources));
  });

  it('sees a value added without a comment, and a changed default', () => {
    const yaml = '# -- documented\na: 1\nb:\n  # -- nested\n  c: x\n  d: 2\n';
    assert.deepEqual(
      valueRows(yaml, {}).map((r) => [r.key, r.default, r.description]),
      [
        ['a', '1', 'documented'],
        ['b.c', '"x"', 'nested'],
      ],
    );
  });
});
