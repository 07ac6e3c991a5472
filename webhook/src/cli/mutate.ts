/**
 * `vault-inject mutate -f FILE|-`: the offline preview. Runs the webhook's own pipeline on each
 * Pod, or on the pod template of a Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob
 * (also as items of a `List`, as `kubectl get -o yaml` prints several objects), and prints the
 * result as yaml, json or the patch. No cluster: Secrets and ConfigMaps given in the same input
 * serve `valueFrom`/`envFrom` detection; a container without `command` is named in a warning and
 * left as it is. Exit status: 0 when every document was previewed, 1 otherwise (an empty input
 * included).
 */
import type { Operation } from 'fast-json-patch';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments, stringify } from 'yaml';
import { podPatch } from '../admission/patch.ts';
import { reviewPod } from '../admission/pipeline.ts';
import { checkPod } from '../admission/review.ts';
import { FLAGS } from '../config.ts';
import { Problems, readArgs, type FlagSpec } from '../config/flags.ts';
import { INJECTION_FLAGS, INJECTION_SECTIONS, readInjection } from '../config/injection.ts';
import { ErrorCode, WebhookError } from '../errors.ts';
import type { InjectionConfig } from '../mutation/settings.ts';
import type { SourceReader } from '../mutation/sources.ts';
import type { Pod } from '../mutation/types.ts';
import { commandRequired } from '../registry/image-command.ts';
import type { Command, Env } from './command.ts';

export type OutputFormat = 'yaml' | 'json' | 'patch';

/** Where each workload kind keeps its pod template (JSON pointer segments). */
const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface PreviewResult {
  readonly stdout: string;
  readonly stderr: string[];
  readonly exitCode: 0 | 1;
}

interface DocResult {
  readonly label: string;
  readonly object: unknown;
  /** Absent for a document that holds no pod (a Service, a Secret): it has no patch to show. */
  readonly patch?: Operation[];
}

/** " (Deployment web)": the kind and name of an object, for messages. */
function describeObject(doc: unknown): string {
  if (!isObj(doc)) return '';
  const meta = isObj(doc.metadata) ? doc.metadata : {};
  const name =
    typeof meta.name === 'string'
      ? meta.name
      : typeof meta.generateName === 'string'
        ? `${meta.generateName}*`
        : '';
  return ` (${String(doc.kind ?? 'no kind')}${name ? ` ${name}` : ''})`;
}

/** `kubectl get -o yaml` of several objects: a `List` (or `PodList`, ...) of `items`. */
function isList(doc: unknown): doc is Obj & { items: unknown[] } {
  return (
    isObj(doc) &&
    typeof doc.kind === 'string' &&
    doc.kind.endsWith('List') &&
    Array.isArray(doc.items)
  );
}

/** The objects of the input, the items of a List included. */
function objectsOf(docs: readonly unknown[]): unknown[] {
  return docs.flatMap((d) => (isList(d) ? d.items : [d]));
}

/**
 * The namespace a document would be created in. Documents without one are applied together
 * (`kubectl apply -n NS -f`), so they share one: `default`, as for the pod itself.
 */
function namespaceOf(doc: Obj): string {
  const meta = isObj(doc.metadata) ? doc.metadata : {};
  return typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default';
}

/** Secrets and ConfigMaps in the input, by namespace/name, reduced to facts at once. */
function offlineSources(docs: unknown[]): SourceReader {
  const found = new Map<string, Record<string, string>>();
  for (const doc of objectsOf(docs)) {
    if (!isObj(doc) || (doc.kind !== 'Secret' && doc.kind !== 'ConfigMap')) continue;
    const meta = isObj(doc.metadata) ? doc.metadata : {};
    const kind = doc.kind === 'Secret' ? 'secret' : 'configmap';
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(isObj(doc.data) ? doc.data : {})) {
      data[k] = kind === 'secret' ? Buffer.from(String(v), 'base64').toString('utf8') : String(v);
    }
    for (const [k, v] of Object.entries(isObj(doc.stringData) ? doc.stringData : {}))
      data[k] = String(v);
    found.set(`${kind}/${namespaceOf(doc)}/${String(meta.name ?? '')}`, data);
  }
  return {
    read: (namespace, s) => Promise.resolve(found.get(`${s.kind}/${namespace}/${s.name}`)),
  };
}

function getAt(root: Obj, path: readonly string[]): unknown {
  return path.reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), root);
}

/** What every document of one input is previewed with, and where its messages go. */
interface PreviewContext {
  readonly config: InjectionConfig;
  readonly sources: SourceReader;
  readonly out: { stderr: string[]; failed: boolean };
}

async function previewDoc(doc: unknown, label: string, ctx: PreviewContext): Promise<DocResult> {
  const { config, sources, out } = ctx;
  const path = isObj(doc) && typeof doc.kind === 'string' ? TEMPLATE_PATHS[doc.kind] : undefined;
  if (!isObj(doc) || path === undefined) return { label, object: doc };
  const where = path.length === 0 ? 'object' : path.join('.');
  const template = path.length === 0 ? doc : getAt(doc, path);
  let pod: Pod;
  try {
    pod = checkPod(template, where);
  } catch (err) {
    out.stderr.push(`${label}: ${(err as Error).message}`);
    out.failed = true;
    return { label, object: doc };
  }
  const view: Pod = { metadata: pod.metadata ?? {}, spec: pod.spec };
  const outcome = await reviewPod(view, namespaceOf(doc), {
    config,
    sources,
    images: commandRequired,
    missingCommand: 'warn',
  });
  for (const w of outcome.warnings) out.stderr.push(`${label}: warning: ${w}`);
  if (outcome.result === 'denied') {
    out.stderr.push(`${label}: denied: ${outcome.error.message}`);
    out.failed = true;
    return { label, object: doc, patch: [] };
  }
  if (outcome.result !== 'mutated') return { label, object: doc, patch: [] };
  const prefix = path.map((p) => `/${p}`).join('');
  const patch = podPatch(view, outcome.pod).map((op) => ({ ...op, path: prefix + op.path }));
  const object = structuredClone(doc);
  const target = path.length === 0 ? object : (getAt(object, path) as Obj);
  target.metadata = outcome.pod.metadata;
  target.spec = outcome.pod.spec;
  return { label, object, patch };
}

/** Each item of a List, previewed on its own; the patch paths point into `items`. */
async function previewList(
  list: Obj & { items: unknown[] },
  label: string,
  ctx: PreviewContext,
): Promise<DocResult> {
  const items: unknown[] = [];
  const patch: Operation[] = [];
  for (const [j, item] of list.items.entries()) {
    const itemLabel = `${label} item ${j + 1}${describeObject(item)}`;
    const r = await previewDoc(item, itemLabel, ctx);
    items.push(r.object);
    patch.push(...(r.patch ?? []).map((op) => ({ ...op, path: `/items/${j}${op.path}` })));
  }
  return { label, object: { ...list, items }, patch };
}

function render(
  results: readonly (DocResult & { readonly document: number })[],
  format: OutputFormat,
): string {
  if (format === 'yaml') return results.map((r) => stringify(r.object)).join('---\n');
  if (format === 'json') {
    const value =
      results.length === 1
        ? results[0]?.object
        : { apiVersion: 'v1', kind: 'List', items: results.map((r) => r.object) };
    return `${JSON.stringify(value, null, 2)}\n`;
  }
  const patches = results
    .filter((r) => r.patch !== undefined)
    .map((r) => ({ document: r.document, label: r.label, patch: r.patch }));
  return `${JSON.stringify(patches, null, 2)}\n`;
}

/** Previews `input` (one or more YAML or JSON documents). Pure apart from the pipeline's awaits. */
export async function preview(
  input: string,
  format: OutputFormat,
  config: InjectionConfig,
): Promise<PreviewResult> {
  const out = { stderr: [] as string[], failed: false };
  const parsed = parseAllDocuments(input);
  // Documents by their number in the input (1-based), so that messages and patches name them so.
  const docs: { document: number; value: unknown }[] = [];
  const parsedDocs = Array.isArray(parsed) ? parsed : [parsed];
  parsedDocs.forEach((d, i) => {
    for (const e of d.errors) {
      const line = e.linePos?.[0] ? ` at line ${e.linePos[0].line}` : '';
      out.stderr.push(`document ${i + 1}: YAML error${line}: ${e.message.split('\n')[0] ?? ''}`);
      out.failed = true;
    }
    const value: unknown = d.errors.length > 0 ? null : d.toJS();
    if (value !== null && value !== undefined) docs.push({ document: i + 1, value });
  });
  if (parsedDocs.length === 0 || (docs.length === 0 && !out.failed)) {
    out.stderr.push('the input holds no document');
    out.failed = true;
  }
  const ctx: PreviewContext = { config, sources: offlineSources(docs.map((d) => d.value)), out };
  const results: (DocResult & { document: number })[] = [];
  for (const { document, value } of docs) {
    const label = `document ${document}${describeObject(value)}`;
    const r = isList(value)
      ? await previewList(value, label, ctx)
      : await previewDoc(value, label, ctx);
    results.push({ ...r, document });
  }
  return { stdout: render(results, format), stderr: out.stderr, exitCode: out.failed ? 1 : 0 };
}

/** The preview's own flags (`-f` and `-o` are their short forms). */
const PREVIEW_FLAGS = [
  { flag: 'filename', env: '', default: '', help: 'input file (-f), - for stdin' },
  { flag: 'output', env: '', default: 'yaml', help: 'yaml, json or patch (-o)' },
] as const satisfies readonly FlagSpec[];

/** Every flag `--help` lists: the preview's own, then the webhook's injection flags. */
export const MUTATE_FLAGS: readonly FlagSpec[] = [...PREVIEW_FLAGS, ...INJECTION_FLAGS];

function expandShortFlags(argv: readonly string[]): string[] {
  return argv.map((a) => (a === '-f' ? '--filename' : a === '-o' ? '--output' : a));
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Flags to settings, naming every bad one at once. */
function mutateOptions(argv: readonly string[], env: Env) {
  // The webhook's other flags are accepted (and ignored), so its arguments can be reused.
  const { flags } = readArgs([...PREVIEW_FLAGS, ...FLAGS], expandShortFlags(argv), env);
  const p = new Problems(flags);
  const file = p.text('filename');
  if (file === '') p.addText('mutate needs -f FILE (or -f - for stdin)');
  const format = p.text('output');
  if (format !== 'yaml' && format !== 'json' && format !== 'patch') {
    p.addText(`-o: "${format}" is not yaml, json or patch`);
  }
  const config = readInjection(p);
  p.throwIfAny();
  return { file, format: format as OutputFormat, config };
}

export const mutateCommand: Command = {
  name: 'mutate',
  usage: 'vault-inject mutate -f FILE|- [-o yaml|json|patch] [injection flags]',
  summary:
    'Previews what the webhook does to the pods of FILE (Pods, workloads, Lists), without a cluster.',
  flags: [
    { title: 'preview', flags: PREVIEW_FLAGS },
    // The webhook's injection flags; every flag also reads its variable.
    ...INJECTION_SECTIONS,
  ],
  notes:
    "The webhook's other flags are accepted and ignored: the preview calls no registry and no cluster.\n" +
    'Exit status: 0 every document previewed, 1 a document could not be, 2 bad flags.',
  async run(argv, env) {
    const { file, format, config } = mutateOptions(argv, env);
    let input: string;
    try {
      input = await readInput(file);
    } catch (cause) {
      throw new WebhookError(ErrorCode.CONFIG, `cannot read ${file}: ${(cause as Error).message}`, {
        cause,
      });
    }
    const result = await preview(input, format, config);
    process.stdout.write(result.stdout);
    for (const line of result.stderr) process.stderr.write(`${line}\n`);
    return result.exitCode;
  },
};
