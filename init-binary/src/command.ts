/**
 * Finding the app's command and checking, before exec, everything that would make execve fail:
 * Node aborts the process when `process.execve` fails, so the checks are what turns "not found" and
 * "not executable" into the exit codes 127 and 126 with a clear message.
 */
import { delimiter, join } from 'node:path';
import { CommandNotExecutableError, CommandNotFoundError, ConfigError } from './errors.ts';

// node:fs through getBuiltinModule: an ESM import of it evaluates its lazy `promises` export,
// which loads fs/promises, readline and streams (~2.5 ms of every start).
const { accessSync, closeSync, constants, existsSync, openSync, readSync, statSync } =
  process.getBuiltinModule('node:fs');

/** Docker's and Go's default when the image sets no PATH. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The file to exec for `command`, looked up in `pathVar` when it holds no `/` (like execvp). */
export function lookPath(command: string, pathVar: string | undefined): string {
  if (command === '') throw new ConfigError('no command to run (the container has no command)');
  if (command.includes('/')) {
    checkExecutable(command, command);
    return command;
  }
  let unusable: Error | undefined;
  for (const dir of (pathVar ?? DEFAULT_PATH).split(delimiter)) {
    const candidate = join(dir === '' ? '.' : dir, command);
    if (!existsSync(candidate)) continue;
    try {
      checkExecutable(candidate, command);
      return candidate;
    } catch (err) {
      // Like execvp: remember why the first one found cannot run, keep looking for a better one.
      unusable ??= err as Error;
    }
  }
  throw unusable ?? new CommandNotFoundError(`command "${command}" not found in PATH`);
}

/** Throws CommandNotFoundError/CommandNotExecutableError unless execve(file) can work. */
export function checkExecutable(file: string, command: string): void {
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    // The file may well exist: execve would fail with EACCES, which a shell reports as 126.
    if (code === 'EACCES' || code === 'EPERM') {
      throw new CommandNotExecutableError(
        `command "${command}" is not executable: a directory on its path cannot be searched (${code})`,
        { cause },
      );
    }
    throw new CommandNotFoundError(`command "${command}" not found`, { cause });
  }
  if (!isFile) throw new CommandNotExecutableError(`command "${command}" is not a regular file`);
  try {
    accessSync(file, constants.X_OK);
  } catch (cause) {
    throw new CommandNotExecutableError(`command "${command}" is not executable`, { cause });
  }
  const interpreter = interpreterOf(file);
  if (interpreter === null) {
    throw new CommandNotExecutableError(
      `command "${command}" is neither a binary nor a script with "#!"`,
    );
  }
  if (interpreter !== undefined) {
    try {
      accessSync(interpreter, constants.X_OK);
    } catch (cause) {
      throw new CommandNotFoundError(
        `command "${command}" needs ${interpreter}, which is not in this image`,
        { cause },
      );
    }
  }
}

/**
 * The program the kernel would load first: a script's `#!` interpreter, or a dynamic ELF's loader
 * (PT_INTERP); undefined for a static ELF or a file we cannot read; null for an unknown format.
 */
export function interpreterOf(file: string): string | undefined | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined; // execute-only files: let execve decide
  }
  try {
    const head = Buffer.alloc(256);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n >= 2 && head[0] === 0x23 && head[1] === 0x21) {
      const line = head.subarray(2, n).toString('latin1').split('\n')[0] ?? '';
      return line.trim().split(/[ \t]+/)[0] || null;
    }
    if (n >= 4 && head.readUInt32BE(0) === 0x7f454c46) return elfInterpreter(fd, head);
    return null;
  } finally {
    closeSync(fd);
  }
}

const PT_INTERP = 3;

interface ProgramHeaders {
  readonly is64: boolean;
  readonly offset: number;
  readonly entrySize: number;
  readonly count: number;
}

/** Where an ELF file's program header table is, from its first bytes; undefined if unusable. */
function programHeaders(head: Buffer): ProgramHeaders | undefined {
  const is64 = head[4] === 2;
  if (head[5] !== 1) return undefined; // big-endian: do not guess
  const offset = is64 ? Number(head.readBigUInt64LE(32)) : head.readUInt32LE(28);
  const entrySize = head.readUInt16LE(is64 ? 54 : 42);
  const count = head.readUInt16LE(is64 ? 56 : 44);
  if (count === 0 || entrySize === 0 || count > 512) return undefined;
  return { is64, offset, entrySize, count };
}

/** The offset and size of the PT_INTERP entry `ph`'s string, or undefined for another entry. */
function interpreterRange(ph: Buffer, is64: boolean): { offset: number; size: number } | undefined {
  if (ph.length < (is64 ? 40 : 24) || ph.readUInt32LE(0) !== PT_INTERP) return undefined;
  const offset = is64 ? Number(ph.readBigUInt64LE(8)) : ph.readUInt32LE(4);
  const size = is64 ? Number(ph.readBigUInt64LE(32)) : ph.readUInt32LE(16);
  return { offset, size };
}

function elfInterpreter(fd: number, head: Buffer): string | undefined {
  const headers = programHeaders(head);
  if (!headers) return undefined;
  const { is64, entrySize, count } = headers;
  const table = Buffer.alloc(entrySize * count);
  readSync(fd, table, 0, table.length, headers.offset);
  for (let i = 0; i < count; i++) {
    const range = interpreterRange(table.subarray(i * entrySize, (i + 1) * entrySize), is64);
    if (!range) continue;
    if (range.size === 0 || range.size > 4096) return undefined;
    const name = Buffer.alloc(range.size);
    readSync(fd, name, 0, range.size, range.offset);
    return name.toString('latin1').replace(/\0+$/, '');
  }
  return undefined;
}
