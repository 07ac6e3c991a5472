/**
 * Secret files (docs/configuration.md#secret-files): the webhook reads the pod's
 * `vault-inject.dev/secret-file-NAME: TEMPLATE` annotations and hands the templates to the init
 * program in one variable (`Env.SECRET_FILES`, JSON); the init program renders each template (the
 * grammar of an env value, docs/references.md) into DIR/NAME on a memory volume before exec. What
 * both sides must agree on lives here: the names, the file-name rule, the encoding. Pure.
 */
import { MalformedReferenceError } from './errors.ts';
import type { ReferenceLimits } from './limits.ts';
import { LOGIN_VALUE, parseValue, type ParsedValue } from './references.ts';

/** The annotation name before the file name: `vault-inject.dev/secret-file-NAME`. */
export const SECRET_FILE_ANNOTATION_PREFIX = 'secret-file-';
/** The annotation of file `name`, as messages on both sides name it. */
export function secretFileAnnotation(name: string): string {
  return `vault-inject.dev/${SECRET_FILE_ANNOTATION_PREFIX}${name}`;
}
/** Where the files are mounted when `vault-inject.dev/secrets-dir` does not say. */
export const DEFAULT_SECRETS_DIR = '/vault/secrets';
/** The size limit of each container's memory volume (it counts against the pod's memory). */
export const SECRET_FILES_SIZE_LIMIT = '1Mi';
/** The memory volume of the container at `list`[`index`]: one per container, never shared. */
export function secretFilesVolumeName(list: 'containers' | 'initContainers', index: number) {
  return `vault-inject-files-${list === 'initContainers' ? 'init-' : ''}${index}`;
}
/** A file is the app user's own: 0400; with a pod fsGroup, its group reads it too: 0440. */
export const FILE_MODE = 0o400;
export const FILE_MODE_FS_GROUP = 0o440;

/** What the init program is told: where, with which mode, and each file's template. */
export interface SecretFilesSpec {
  readonly dir: string;
  readonly mode: number;
  /** File name → template, in the annotations' order. */
  readonly files: Readonly<Record<string, string>>;
  /** Vault Agent templates (agent-template.ts), file name → template and its annotation. */
  readonly agent?: Readonly<Record<string, AgentFile>>;
  /** A file's own mode (`vault.hashicorp.com/agent-inject-perms-NAME`) instead of `mode`. */
  readonly modes?: Readonly<Record<string, number>>;
}

/** A file rendered from a Vault Agent template, and the annotation messages name. */
export interface AgentFile {
  readonly template: string;
  readonly annotation: string;
}

/**
 * What is wrong with `name` as a file name in the secrets directory (the end of a sentence), or
 * undefined. One path segment of letters, digits, `.`, `_` and `-`, not `.` or `..`, at most 200
 * characters (an annotation name allows fewer).
 */
export function fileNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.length > 200) return 'is longer than 200 characters';
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return 'may hold only letters, digits, ".", "_" and "-"';
  if (name === '.' || name === '..') return 'is "." or ".."';
  return undefined;
}

/**
 * What is wrong with `dir` as the secrets directory, or undefined: an absolute path without
 * `.`/`..` segments, spaces, control characters or `:` (a mount path), and not `/`.
 */
export function secretsDirProblem(dir: string): string | undefined {
  if (!dir.startsWith('/')) return 'is not an absolute path';
  const segments = dir.split('/').filter((s) => s !== '');
  if (segments.length === 0) return 'is the root directory';
  if (segments.some((s) => s === '.' || s === '..')) return 'has a "." or ".." segment';
  // eslint-disable-next-line no-control-regex -- control characters are what is looked for
  if (/[\s:\u0000-\u001f\u007f]/.test(dir)) return 'holds a space, ":" or a control character';
  return undefined;
}

/** `dir` without trailing slashes (and without doubled ones). */
export function normalDir(dir: string): string {
  return `/${dir
    .split('/')
    .filter((s) => s !== '')
    .join('/')}`;
}

/**
 * The template of a file, parsed: the grammar of an env value (a whole `vault:PATH#KEY`, or text
 * with `${vault:...}` references), without `vault:login`. Throws MalformedReferenceError.
 */
export function parseFileTemplate(template: string, limits: ReferenceLimits = {}): ParsedValue {
  if (template.trim() === LOGIN_VALUE) {
    throw new MalformedReferenceError(`"${LOGIN_VALUE}" cannot be rendered into a file`);
  }
  return parseValue(template, limits);
}

export function encodeSecretFiles(spec: SecretFilesSpec): string {
  const modes =
    spec.modes === undefined
      ? undefined
      : Object.fromEntries(Object.entries(spec.modes).map(([f, m]) => [f, m.toString(8)]));
  return JSON.stringify({
    dir: spec.dir,
    mode: spec.mode.toString(8),
    files: spec.files,
    ...(spec.agent === undefined ? {} : { agent: spec.agent }),
    ...(modes === undefined ? {} : { modes }),
  });
}

/** A file mode as vault-k8s' `agent-inject-perms` writes it (`0440`, `400`), or undefined. */
export function parseFileMode(value: string): number | undefined {
  const v = value.trim();
  if (!/^0?[0-7]{3}$/.test(v)) return undefined;
  return Number.parseInt(v, 8);
}

function decodeAgent(value: unknown): Record<string, AgentFile> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) throw new Error('has an "agent" not an object');
  const entries = Object.entries(value as Record<string, unknown>).map(([name, f]) => {
    const problem = fileNameProblem(name);
    if (problem !== undefined) throw new Error(`names a file that ${problem}`);
    const { template, annotation } = (f ?? {}) as Record<string, unknown>;
    if (typeof template !== 'string' || typeof annotation !== 'string') {
      throw new Error(`has an agent template for ${name} that is no text`);
    }
    return [name, { template, annotation }] as const;
  });
  return Object.fromEntries(entries);
}

function decodeModes(value: unknown): Record<string, number> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) throw new Error('has "modes" not an object');
  const entries = Object.entries(value as Record<string, unknown>).map(([name, m]) => {
    const mode = typeof m === 'string' ? parseFileMode(m) : undefined;
    if (mode === undefined) throw new Error(`has a mode for ${name} that is not octal`);
    return [name, mode] as const;
  });
  return Object.fromEntries(entries);
}

/** The spec as the webhook wrote it; throws Error naming the problem (never a template). */
export function decodeSecretFiles(raw: string): SecretFilesSpec {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new Error('is not JSON');
  }
  const { dir, mode, files, agent, modes } = (value ?? {}) as Record<string, unknown>;
  if (typeof dir !== 'string' || secretsDirProblem(dir) !== undefined) {
    throw new Error('has no usable "dir"');
  }
  if (mode !== '400' && mode !== '440') throw new Error('has a "mode" other than 400 or 440');
  if (typeof files !== 'object' || files === null || Array.isArray(files)) {
    throw new Error('has no "files" object');
  }
  const entries = Object.entries(files);
  for (const [name, template] of entries) {
    const problem = fileNameProblem(name);
    if (problem !== undefined) throw new Error(`names a file that ${problem}`);
    if (typeof template !== 'string') throw new Error(`has a template for ${name} that is no text`);
  }
  // fromEntries: every name an own property, `__proto__` included.
  const out = Object.fromEntries(entries) as Record<string, string>;
  const agentFiles = decodeAgent(agent);
  const fileModes = decodeModes(modes);
  return {
    dir: normalDir(dir),
    mode: Number.parseInt(mode, 8),
    files: out,
    ...(agentFiles === undefined ? {} : { agent: agentFiles }),
    ...(fileModes === undefined ? {} : { modes: fileModes }),
  };
}
