/**
 * Rendering the chart with the real helm and sending what it renders to the real kube-apiserver
 * (test/env/kube.ts). Objects are sent as plain REST calls with `fieldValidation=Strict`, so an
 * unknown or misplaced field in a template is an error from the API server, not a silent prune.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { componentPath, type Kube } from '../../env/kube.ts';

const run = promisify(execFile);
export const repoRoot = path.resolve(import.meta.dirname, '../../..');
export const CHART = path.join(repoRoot, 'deploy/chart');
/** The apiserver the tests run (helm's offline default would be its client-go's, 1.37). */
export const KUBE_VERSION = '1.35.4';
/** The init bundle scripts/bundle.sh makes for the host (make bundle). */
export const BUNDLE = path.join(repoRoot, 'dist/bundle/vault-inject');

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export function helmPath(): Promise<string> {
  return componentPath('helm', 'VAULT_INJECT_HELM');
}

/** kubectl of the apiserver's release (scripts/components/kubectl.sh); throws when it is not built. */
export function kubectlPath(): Promise<string> {
  return componentPath('kubectl', 'VAULT_INJECT_KUBECTL');
}

/** Debian's shellcheck (scripts/components/shellcheck.sh); throws when it is not installed. */
export function shellcheckPath(): Promise<string> {
  return componentPath('shellcheck', 'VAULT_INJECT_SHELLCHECK');
}

/** hadolint from the pinned PyPI wheel (scripts/components/hadolint.sh); throws when missing. */
export function hadolintPath(): Promise<string> {
  return componentPath('hadolint', 'VAULT_INJECT_HADOLINT');
}

export async function helm(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(await helmPath(), [...args], { maxBuffer: 32 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

/** `helm template` with these values (as a values file, so types survive). */
export async function render(
  release: string,
  namespace: string,
  values: Record<string, unknown> = {},
  extraArgs: readonly string[] = [],
): Promise<KubeObject[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-values-'));
  try {
    const file = path.join(dir, 'values.yaml');
    await writeFile(file, stringify(values));
    const out = await helm([
      'template',
      release,
      CHART,
      '--namespace',
      namespace,
      '--kube-version',
      KUBE_VERSION,
      '-f',
      file,
      ...extraArgs,
    ]);
    return parseObjects(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `helm template` that is expected to fail: the error text. */
export async function renderError(values: Record<string, unknown>): Promise<string> {
  try {
    await render('bad', 'bad', values);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`helm template succeeded with ${JSON.stringify(values)}`);
}

// Where each kind the chart renders (and the tests send) lives in the API. A kind missing here
// fails the test: add it when the chart grows one.
const RESOURCES: Record<string, { plural: string; namespaced: boolean }> = {
  Namespace: { plural: 'namespaces', namespaced: false },
  Pod: { plural: 'pods', namespaced: true },
  Secret: { plural: 'secrets', namespaced: true },
  ServiceAccount: { plural: 'serviceaccounts', namespaced: true },
  Service: { plural: 'services', namespaced: true },
  Deployment: { plural: 'deployments', namespaced: true },
  PodDisruptionBudget: { plural: 'poddisruptionbudgets', namespaced: true },
  ClusterRole: { plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { plural: 'clusterrolebindings', namespaced: false },
  Role: { plural: 'roles', namespaced: true },
  RoleBinding: { plural: 'rolebindings', namespaced: true },
  MutatingWebhookConfiguration: { plural: 'mutatingwebhookconfigurations', namespaced: false },
  ValidatingAdmissionPolicy: { plural: 'validatingadmissionpolicies', namespaced: false },
  ValidatingAdmissionPolicyBinding: {
    plural: 'validatingadmissionpolicybindings',
    namespaced: false,
  },
  PriorityClass: { plural: 'priorityclasses', namespaced: false },
  NetworkPolicy: { plural: 'networkpolicies', namespaced: true },
  ResourceQuota: { plural: 'resourcequotas', namespaced: true },
  CustomResourceDefinition: { plural: 'customresourcedefinitions', namespaced: false },
  Issuer: { plural: 'issuers', namespaced: true },
  Certificate: { plural: 'certificates', namespaced: true },
  ServiceMonitor: { plural: 'servicemonitors', namespaced: true },
};

export function resourcePath(obj: KubeObject, withName = false): string {
  const r = RESOURCES[obj.kind];
  if (!r) throw new Error(`no API path known for kind ${obj.kind}`);
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const ns = r.namespaced ? `/namespaces/${obj.metadata.namespace ?? 'default'}` : '';
  return `${base}${ns}/${r.plural}${withName ? `/${obj.metadata.name}` : ''}`;
}

export interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
  warnings: string[];
}

export function kubeRequest(
  kube: Kube,
  method: string,
  urlPath: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<ApiAnswer> {
  const url = new URL(urlPath, kube.server);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: kube.caPem,
        headers: {
          authorization: `Bearer ${kube.adminToken}`,
          accept: 'application/json',
          ...(payload !== undefined ? { 'content-type': contentType } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const warning = res.headers['warning'];
          resolve({
            status: res.statusCode ?? 0,
            body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
            warnings: Array.isArray(warning) ? warning : warning ? [warning] : [],
          });
        });
      },
    );
    req.once('error', reject);
    req.end(payload);
  });
}

/**
 * Creates `obj` (server-side dry run unless `persist`), strict field validation. Resolves with the
 * answer; rejects with the API server's message when it refuses.
 */
export async function create(
  kube: Kube,
  obj: KubeObject,
  options: { persist?: boolean } = {},
): Promise<ApiAnswer> {
  const query = `?fieldValidation=Strict${options.persist ? '' : '&dryRun=All'}`;
  const answer = await kubeRequest(kube, 'POST', `${resourcePath(obj)}${query}`, obj);
  if (answer.status >= 300) {
    throw new Error(
      `${obj.kind} ${obj.metadata.name}: ${answer.status} ${String(answer.body['message'] ?? '')}`,
    );
  }
  return answer;
}

/** Creates or replaces `obj` for real (server-side apply, strict). */
export async function apply(kube: Kube, obj: KubeObject): Promise<void> {
  const answer = await kubeRequest(
    kube,
    'PATCH',
    `${resourcePath(obj, true)}?fieldManager=vault-inject-test&force=true&fieldValidation=Strict`,
    obj,
    'application/apply-patch+yaml',
  );
  if (answer.status >= 300) {
    throw new Error(
      `apply ${obj.kind} ${obj.metadata.name}: ${answer.status} ${String(answer.body['message'] ?? '')}`,
    );
  }
}

export async function remove(kube: Kube, obj: KubeObject): Promise<void> {
  const answer = await kubeRequest(kube, 'DELETE', resourcePath(obj, true));
  if (answer.status >= 300 && answer.status !== 404) {
    throw new Error(`delete ${obj.kind} ${obj.metadata.name}: ${answer.status}`);
  }
}

/** The minimal cert-manager and Prometheus Operator CRDs (fixtures/crds.yaml), established. */
export async function installCrds(kube: Kube): Promise<void> {
  const text = await readFile(path.join(import.meta.dirname, 'fixtures/crds.yaml'), 'utf8');
  for (const crd of parseObjects(text)) await create(kube, crd, { persist: true });
  for (const crd of parseObjects(text)) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const answer = await kubeRequest(kube, 'GET', resourcePath(crd, true));
      const conditions = ((answer.body['status'] as { conditions?: unknown[] } | undefined)
        ?.conditions ?? []) as { type: string; status: string }[];
      if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} not established`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export function find(objects: readonly KubeObject[], kind: string): KubeObject[] {
  return objects.filter((o) => o.kind === kind);
}

export function only(objects: readonly KubeObject[], kind: string): KubeObject {
  const found = find(objects, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}`);
  return found[0] as KubeObject;
}

/** Sum of a Prometheus counter over all its label sets. */
export async function counter(telemetryUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${telemetryUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

/** Makes the host's init bundle (BUNDLE) when an earlier build has not. */
export async function ensureBundle(): Promise<void> {
  if (existsSync(path.join(BUNDLE, 'bin/vault-inject-env'))) return;
  await run('bash', ['scripts/bundle.sh', BUNDLE], {
    cwd: repoRoot,
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** Relative paths (directories with a trailing /) and permission bits under `root`, sorted. */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      const mode = ((await stat(full)).mode & 0o777).toString(8);
      out.push(`${path.relative(root, full)}${entry.isDirectory() ? '/' : ''} ${mode}`);
      if (entry.isDirectory()) await walk(full);
    }
  };
  await walk(root);
  return out.sort();
}
