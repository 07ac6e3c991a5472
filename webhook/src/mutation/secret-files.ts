/**
 * Secret files (docs/configuration.md#secret-files): `vault-inject.dev/secret-file-NAME: TEMPLATE`
 * annotations, validated here (a bad name or template denies the pod naming the annotation), and
 * the pod's part of it: each receiving container gets its own memory emptyDir at the secrets
 * directory and the templates in `VAULT_INJECT_SECRET_FILES`; the init program renders them. The
 * patch holds templates only, never a value. Pure.
 */
import {
  DEFAULT_SECRETS_DIR,
  Env,
  FILE_MODE,
  FILE_MODE_FS_GROUP,
  MOUNT_PATH,
  MalformedReferenceError,
  ReferenceBudget,
  SECRET_FILE_ANNOTATION_PREFIX,
  SECRET_FILES_SIZE_LIMIT,
  SIDECAR_CONTAINER_NAME,
  SIDECAR_FLAG,
  TLS_MOUNT_PATH,
  TOKEN_MOUNT_PATH,
  TooManyReferencesError,
  encodeSecretFiles,
  fileNameProblem,
  normalDir,
  parseFileTemplate,
  secretFilesVolumeName,
  secretsDirProblem,
  type SecretFilesSpec,
} from '../../../init-binary/src/contract/index.ts';
import { WebhookError, ErrorCode } from '../errors.ts';
import { PREFIX } from './annotation-row.ts';
import { MAX_REFERENCES_PER_POD } from './bounds.ts';
import type { PodSettings } from './annotations.ts';
import { describeContainer, type ContainerPosition, type Pod } from './types.ts';
import { ValueError, quote } from './values.ts';
import { agentFilesOf, type AgentFiles } from './vault-k8s.ts';

/** The annotations' common start: `vault-inject.dev/secret-file-`. */
export const SECRET_FILE_KEY_PREFIX = PREFIX + SECRET_FILE_ANNOTATION_PREFIX;

/** The webhook's own mounts: the secrets directory is neither one of them nor inside one. */
const OWN_MOUNTS = [MOUNT_PATH, TLS_MOUNT_PATH, TOKEN_MOUNT_PATH];

/** The `secrets-dir` annotation's parser: an absolute directory, normalised; empty is unset. */
export function secretsDir(value: string): string | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  const problem = secretsDirProblem(v);
  if (problem !== undefined) throw new ValueError(`${quote(v)} ${problem}`);
  const dir = normalDir(v);
  const own = OWN_MOUNTS.find((m) => dir === m || dir.startsWith(`${m}/`));
  if (own !== undefined) throw new ValueError(`${quote(v)} is the webhook's own mount ${own}`);
  return dir;
}

/** Whether the pod asks for any secret file (cheap: names only). */
export function hasSecretFiles(pod: Pod): boolean {
  // vault-k8s' files need `vault.hashicorp.com/agent-inject: "true"`, an alias of `inject`.
  return Object.keys(pod.metadata?.annotations ?? {}).some((k) =>
    k.startsWith(SECRET_FILE_KEY_PREFIX),
  );
}

/**
 * The pod's secret files, or undefined when it asks for none. Throws a WebhookError
 * (E_ANNOTATION) naming every annotation whose file name or template is unusable.
 */
function secretFilesOf(pod: Pod, dir = DEFAULT_SECRETS_DIR): SecretFilesSpec | undefined {
  const files: [string, string][] = [];
  const problems: string[] = [];
  const budget = new ReferenceBudget(MAX_REFERENCES_PER_POD);
  for (const [key, template] of Object.entries(pod.metadata?.annotations ?? {})) {
    if (!key.startsWith(SECRET_FILE_KEY_PREFIX)) continue;
    const name = key.slice(SECRET_FILE_KEY_PREFIX.length);
    const nameProblem = fileNameProblem(name);
    if (nameProblem !== undefined) {
      problems.push(`annotation ${quote(key)}: the file name ${quote(name)} ${nameProblem}`);
      continue;
    }
    try {
      parseFileTemplate(template, { budget });
    } catch (err) {
      if (!(err instanceof MalformedReferenceError)) throw err;
      problems.push(`annotation ${key}: ${err.message}`);
      if (err instanceof TooManyReferencesError) break;
      continue;
    }
    files.push([name, template]);
  }
  const agent = agentFiles(pod, files, problems);
  if (problems.length > 0) {
    throw new WebhookError(ErrorCode.ANNOTATION, problems.join('; '));
  }
  if (files.length === 0 && agent === undefined) return undefined;
  return specOf(pod, dir, Object.fromEntries(files), agent);
}

/** The Vault Agent Injector's files (vault-k8s.ts), beside ours under other names. */
function agentFiles(
  pod: Pod,
  files: readonly [string, string][],
  problems: string[],
): AgentFiles | undefined {
  const agent = agentFilesOf(pod.metadata?.annotations, problems);
  for (const name of Object.keys(agent?.agent ?? {})) {
    if (files.some(([n]) => n === name)) {
      problems.push(
        `${SECRET_FILE_KEY_PREFIX}${name} and a vault.hashicorp.com annotation both write ${name}`,
      );
    }
  }
  return agent;
}

function specOf(
  pod: Pod,
  dir: string,
  files: Record<string, string>,
  agent: AgentFiles | undefined,
): SecretFilesSpec {
  const fsGroup = pod.spec.securityContext?.['fsGroup'];
  const modes = agent?.modes ?? {};
  return {
    dir,
    mode: typeof fsGroup === 'number' ? FILE_MODE_FS_GROUP : FILE_MODE,
    files,
    ...(agent === undefined ? {} : { agent: agent.agent }),
    ...(Object.keys(modes).length === 0 ? {} : { modes }),
  };
}

/** The secret files of a pod and the containers that receive them. */
export interface SecretFilesPlan {
  readonly spec: SecretFilesSpec;
  readonly receivers: readonly ContainerPosition[];
}

/**
 * The containers that receive the files, among `candidates` (not yet injected): the app
 * containers, or those `containers` names; init containers only with `initContainers`.
 */
function fileReceivers<T extends { readonly position: ContainerPosition }>(
  candidates: readonly T[],
  named: readonly string[] | undefined,
  initContainers: boolean,
): T[] {
  return candidates.filter(
    (c) =>
      (c.position.list === 'containers' || initContainers) &&
      (named === undefined || named.includes(c.position.name)),
  );
}

/** The annotations that shape the files, acting on nothing without one. */
const FILE_SETTINGS = [`${PREFIX}secrets-dir`, `${PREFIX}secret-files-init-containers`];

/**
 * Whether the pod already has the webhook's sidecar (a mutated pod, reinvoked or re-applied): its
 * files are then served, and planning them again would only clash with its own volumes.
 */
export function hasSidecar(pod: Pod): boolean {
  return (pod.spec.initContainers ?? []).some(
    (c) => c.name === SIDECAR_CONTAINER_NAME && c.command?.[1] === SIDECAR_FLAG,
  );
}

/**
 * The pod's secret files and their receivers among its containers not yet injected, or undefined
 * when it asks for none or the sidecar already serves them; a warning when no container receives
 * them.
 */
export function filesPlan(
  pod: Pod,
  settings: Pick<PodSettings, 'secretsDir' | 'containers' | 'secretFilesInitContainers'>,
  containers: readonly { readonly position: ContainerPosition; readonly injected: boolean }[],
  warnings: string[],
): SecretFilesPlan | undefined {
  if (hasSidecar(pod)) return undefined;
  const spec = secretFilesOf(pod, settings.secretsDir);
  if (spec === undefined) {
    for (const name of FILE_SETTINGS) {
      if (Object.hasOwn(pod.metadata?.annotations ?? {}, name)) {
        warnings.push(`annotation ${name} ignored: the pod has no ${SECRET_FILE_KEY_PREFIX}NAME`);
      }
    }
    return undefined;
  }
  const candidates = containers.filter((c) => !c.injected);
  const receivers = fileReceivers(
    candidates,
    settings.containers,
    settings.secretFilesInitContainers,
  ).map((c) => c.position);
  if (receivers.length === 0 && candidates.length === containers.length) {
    warnings.push(
      `annotations ${SECRET_FILE_KEY_PREFIX}*: no container receives the secret files (init containers only with ${PREFIX}secret-files-init-containers: "true")`,
    );
  }
  return { spec, receivers };
}

/** The positions of `containers` chosen by reference, or receiving the files, in pod order. */
export function withReceivers<T extends { readonly position: ContainerPosition }>(
  containers: readonly T[],
  byReference: readonly T[],
  plan: SecretFilesPlan | undefined,
): ContainerPosition[] {
  const receivers = plan?.receivers ?? [];
  return containers
    .filter((c) => byReference.includes(c) || receivers.includes(c.position))
    .map((c) => c.position);
}

/** The plan with only the receivers that are targets (a lookup may have left one out). */
export function receiversAmong(
  plan: SecretFilesPlan | undefined,
  targets: readonly { readonly position: ContainerPosition }[],
): SecretFilesPlan | undefined {
  if (plan === undefined) return undefined;
  const receivers = plan.receivers.filter((r) => targets.some((t) => t.position === r));
  return { spec: plan.spec, receivers };
}

/**
 * What the pod already holds where the files would go: a volume under one of the names
 * (`vault-inject-files-N`), or a mount at the secrets directory in a receiver. Each denies.
 */
export function secretFileClashes(pod: Pod, plan: SecretFilesPlan | undefined): string[] {
  const out: string[] = [];
  if (plan === undefined) return out;
  const volumes = new Set((pod.spec.volumes ?? []).map((v) => v.name));
  for (const r of plan.receivers) {
    const name = secretFilesVolumeName(r.list, r.index);
    if (volumes.has(name)) {
      out.push(`the pod already has a volume "${name}" that the webhook did not write; rename it`);
    }
    const c = pod.spec[r.list]?.[r.index];
    for (const m of c?.volumeMounts ?? []) {
      if (normalDir(String(m.mountPath)) === plan.spec.dir) {
        out.push(
          `${describeContainer(r)} already mounts volume "${m.name}" at ${plan.spec.dir}, where the webhook mounts its secret files; move it or set vault-inject.dev/secrets-dir`,
        );
      }
    }
  }
  return out;
}

/**
 * Adds, to each receiver of `out` (a clone being mutated), its own memory volume at the secrets
 * directory and the templates for the init program (the webhook's value over any of its own).
 */
export function addSecretFiles(out: Pod, plan: SecretFilesPlan): void {
  const value = encodeSecretFiles(plan.spec);
  for (const r of plan.receivers) {
    const c = out.spec[r.list]?.[r.index];
    if (!c) continue;
    const name = secretFilesVolumeName(r.list, r.index);
    out.spec.volumes = [
      ...(out.spec.volumes ?? []),
      { name, emptyDir: { medium: 'Memory', sizeLimit: SECRET_FILES_SIZE_LIMIT } },
    ];
    c.volumeMounts = [...(c.volumeMounts ?? []), { name, mountPath: plan.spec.dir }];
    const env = (c.env ?? []).filter((e) => e.name !== Env.SECRET_FILES);
    c.env = [...env, { name: Env.SECRET_FILES, value }];
  }
}
