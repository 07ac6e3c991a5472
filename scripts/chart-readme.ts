/**
 * Writes deploy/chart/README.md from the chart's values.yaml (each value's `# --` comment and
 * default) and values.schema.json (its type), so the README never says something values.yaml
 * does not. `make manifests` (scripts/render-manifests.sh) runs it; a unit test fails when the
 * checked-in README differs from what this renders.
 *
 * Usage: node scripts/chart-readme.ts [OUT_FILE]   (default: deploy/chart/README.md)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, parseDocument, type Node, type YAMLMap } from 'yaml';

export const CHART_DIR = path.resolve(import.meta.dirname, '../deploy/chart');

interface Schema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  oneOf?: Schema[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
}

export interface ValueRow {
  readonly key: string;
  readonly type: string;
  readonly default: string;
  readonly description: string;
}

/** The text after the `-- ` marker of a comment block, one paragraph per blank comment line. */
function described(comment: string): string | undefined {
  const lines = comment.split('\n').map((l) => l.trim());
  const start = lines.findIndex((l) => l.startsWith('-- '));
  if (start < 0) return undefined;
  const text = [lines[start]?.slice(3) ?? '', ...lines.slice(start + 1)];
  return text
    .join('\n')
    .split(/\n\s*\n/)
    .map((p) => p.replace(/\s*\n\s*/g, ' ').trim())
    .filter((p) => p !== '')
    .join('<br><br>');
}

function schemaAt(schema: Schema, keys: readonly string[]): Schema | undefined {
  let node: Schema | undefined = schema;
  for (const key of keys) {
    const next: Schema | boolean | undefined =
      node?.properties?.[key] ?? node?.additionalProperties;
    node = typeof next === 'object' ? next : undefined;
  }
  return node;
}

function typeOf(s: Schema | undefined, value: unknown): string {
  if (s?.enum) return s.enum.map((e) => JSON.stringify(e)).join(' \\| ');
  if (s?.const !== undefined) return JSON.stringify(s.const);
  if (s?.oneOf) return [...new Set(s.oneOf.map((o) => typeOf(o, undefined)))].join(' or ');
  if (s?.type) return Array.isArray(s.type) ? s.type.join(' or ') : s.type;
  if (Array.isArray(value)) return 'array';
  return value === null ? 'null' : typeof value;
}

const cell = (text: string): string => text.replace(/\|/g, '\\|');

/**
 * One row per documented value, in values.yaml's order. A documented map is one row (its default
 * whole); the keys of an undocumented map are rows of their own.
 */
export function valueRows(valuesYaml: string, schema: Schema): ValueRow[] {
  const doc = parseDocument(valuesYaml);
  if (doc.errors.length > 0) throw new Error(`values.yaml: ${doc.errors[0]?.message}`);
  const rows: ValueRow[] = [];
  const walk = (map: YAMLMap, parents: string[]): void => {
    map.items.forEach((pair, i) => {
      if (!isScalar(pair.key)) throw new Error(`${parents.join('.')}: a key that is not a scalar`);
      const keys = [...parents, String(pair.key.value)];
      // The parser hangs the comment above a map's first key on the map itself.
      const comment = pair.key.commentBefore ?? (i === 0 ? map.commentBefore : undefined) ?? '';
      const description = described(comment);
      const value = (pair.value as Node | null)?.toJSON() as unknown;
      if (description !== undefined) {
        rows.push({
          key: keys.join('.'),
          type: typeOf(schemaAt(schema, keys), value),
          default: JSON.stringify(value),
          description,
        });
      } else if (isMap(pair.value)) {
        walk(pair.value, keys);
      }
    });
  };
  walk(doc.contents as YAMLMap, []);
  return rows;
}

/** The whole README for the chart in `chartDir`. */
export function chartReadme(chartDir = CHART_DIR): string {
  const read = (f: string): string => readFileSync(path.join(chartDir, f), 'utf8');
  const schema = JSON.parse(read('values.schema.json')) as Schema;
  const chart = parseDocument(read('Chart.yaml')).toJSON() as {
    name: string;
    version: string;
    appVersion: string;
    description: string;
    kubeVersion: string;
  };
  const rows = valueRows(read('values.yaml'), schema);
  return [
    `# ${chart.name} Helm chart`,
    '',
    '<!-- Generated from values.yaml and values.schema.json by scripts/chart-readme.ts',
    '     (make manifests). Do not edit: change values.yaml and generate again. -->',
    '',
    `${chart.description}`,
    '',
    `Chart ${chart.version}, app ${chart.appVersion}, Kubernetes ${chart.kubeVersion}.`,
    'The install guide, what the chart installs and why: [docs/deploy.md](../../docs/deploy.md).',
    '',
    '```sh',
    `helm install ${chart.name} deploy/chart --namespace ${chart.name} --create-namespace \\`,
    '  --set vault.addr=https://vault.vault:8200',
    '```',
    '',
    '## Values',
    '',
    '`values.schema.json` refuses unknown keys and wrong types, so a misspelt value fails at',
    'install time instead of being ignored.',
    '',
    '| Key | Type | Default | Description |',
    '|---|---|---|---|',
    ...rows.map(
      (r) => `| \`${r.key}\` | ${r.type} | \`${cell(r.default)}\` | ${cell(r.description)} |`,
    ),
    '',
  ].join('\n');
}

if (import.meta.main) {
  const out = process.argv[2] ?? path.join(CHART_DIR, 'README.md');
  writeFileSync(out, chartReadme());
  console.error(`chart-readme: wrote ${out}`);
}
