/**
 * Secret files (docs/init-program.md#secret-files): the templates the webhook passed in
 * `VAULT_INJECT_SECRET_FILES` become references resolved in the same batch as the environment's
 * (resolve.ts: one read per path, writes done once), then each file is written atomically into the
 * memory volume: a temporary file in the same directory, its mode set, then renamed over NAME.
 * Rendering and writing are separate so that a process that re-renders (a refresh, a sidecar)
 * reuses both.
 */
import {
  FILE_MODE,
  SECRET_FILES_SIZE_LIMIT,
  parseFileTemplate,
  secretFileAnnotation,
  type SecretFilesSpec,
} from './contract/secret-files.ts';
import { MalformedReferenceError } from './contract/errors.ts';
import { ConfigError } from './errors.ts';
import type { Logger } from './log.ts';
import type { Reference, ResolveResult } from './resolve.ts';

// node:fs through getBuiltinModule, as everywhere in the program (see command.ts).
const fs = process.getBuiltinModule('node:fs');

/** Linux's tmpfs and ramfs: the filesystems that keep a file in memory only. */
const MEMORY_FILESYSTEMS: ReadonlySet<number> = new Set([0x01021994, 0x858458f6]);

/** A file's template as a reference named by its annotation (messages name it so). */
export interface FileReference extends Reference {
  readonly file: string;
}

/**
 * The references of each file, named by its annotation. Throws ConfigError for a malformed
 * template, or a variable of the environment with the same name (its value would be lost).
 */
export function fileReferences(
  spec: SecretFilesSpec | undefined,
  envRefs: readonly Reference[],
): FileReference[] {
  if (spec === undefined) return [];
  const taken = new Set(envRefs.map((r) => r.name));
  return Object.entries(spec.files).map(([file, template]) => {
    const name = secretFileAnnotation(file);
    if (taken.has(name)) throw new ConfigError(`${name}: a variable of this name is also set`);
    let parsed;
    try {
      parsed = parseFileTemplate(template);
    } catch (err) {
      if (err instanceof MalformedReferenceError) {
        throw new ConfigError(`${name}: ${err.message}`, { cause: err });
      }
      throw err;
    }
    // A template without references is written as it is: one text part.
    const fixed: FileReference['parsed'] =
      parsed.kind === 'plain'
        ? { kind: 'inline', parts: [{ kind: 'text', text: template }] }
        : parsed;
    return { name, file, parsed: fixed };
  });
}

/** The environment's part of a resolution, and each file's content (none for a skipped one). */
export function splitFiles(
  resolved: ResolveResult,
  files: readonly FileReference[],
): { env: ResolveResult; contents: Map<string, string> } {
  if (files.length === 0) return { env: resolved, contents: new Map() };
  const byName = new Map(files.map((f) => [f.name, f]));
  const values = new Map<string, string>();
  const contents = new Map<string, string>();
  for (const [name, value] of resolved.values) {
    const f = byName.get(name);
    if (f === undefined) values.set(name, value);
    else contents.set(f.file, value);
  }
  const skipped = resolved.skipped.filter((n) => !byName.has(n));
  return { env: { values, skipped, leases: resolved.leases }, contents };
}

export interface WriteOptions {
  readonly log: Logger;
  /** Whether `dir` is on a memory filesystem (statfs by default; tests fake it). */
  readonly isMemory?: (dir: string) => boolean;
}

function onMemory(dir: string): boolean {
  return MEMORY_FILESYSTEMS.has(Number(fs.statfsSync(dir).type));
}

/**
 * Writes each rendered file into `spec.dir`, atomically, with `spec.mode`: never a partial file,
 * never one on disk. Throws ConfigError naming the file (never its content).
 */
export function writeSecretFiles(
  spec: SecretFilesSpec | undefined,
  contents: ReadonlyMap<string, string>,
  options: WriteOptions,
): void {
  if (spec === undefined || contents.size === 0) return;
  let memory: boolean;
  try {
    memory = (options.isMemory ?? onMemory)(spec.dir);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`secret files: cannot use the directory ${spec.dir} (${code})`, {
      cause,
    });
  }
  if (!memory) {
    throw new ConfigError(
      `secret files: ${spec.dir} is not a memory filesystem (tmpfs); secrets are never written to disk`,
    );
  }
  for (const [file, content] of contents) writeAtomically(spec, file, content);
  options.log.debug('secret files written', { files: contents.size, dir: spec.dir });
}

function writeAtomically(spec: SecretFilesSpec, file: string, content: string): void {
  const target = `${spec.dir}/${file}`;
  let temp: string | undefined;
  try {
    const created = createTemp(spec.dir, file);
    temp = created.path;
    writeAll(created.fd, spec.modes?.[file] ?? spec.mode, content);
    fs.renameSync(temp, target);
  } catch (cause) {
    if (temp !== undefined) fs.rmSync(temp, { force: true });
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    const full = code === 'ENOSPC' ? `; the volume holds at most ${SECRET_FILES_SIZE_LIMIT}` : '';
    throw new ConfigError(
      `${secretFileAnnotation(file)}: cannot write ${target} (${code}${full})`,
      {
        cause,
      },
    );
  }
}

/** A new file beside NAME, open for writing (O_EXCL: never one that was there, nor a link). */
function createTemp(dir: string, name: string): { path: string; fd: number } {
  for (let i = 0; ; i++) {
    const path = `${dir}/.${name}.${process.pid}-${i}.tmp`;
    try {
      return { path, fd: fs.openSync(path, 'wx', FILE_MODE) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 100) throw err;
    }
  }
}

/** `content` into `fd`, whole, with exactly `mode` (whatever the umask); closes `fd`. */
function writeAll(fd: number, mode: number, content: string): void {
  try {
    fs.fchmodSync(fd, mode);
    const bytes = Buffer.from(content, 'utf8');
    for (let at = 0; at < bytes.length;) at += fs.writeSync(fd, bytes, at);
  } finally {
    fs.closeSync(fd);
  }
}
