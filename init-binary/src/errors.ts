/**
 * The init program's own failures, each bound to one exit code (docs/init-program.md). Messages
 * name the variable and the path, never a value; `cause` keeps the underlying error for debug logs.
 */
import { ExitCode, type ExitCodeValue } from './contract/names.ts';
import { ContractError } from './contract/errors.ts';

export abstract class InitError extends Error {
  abstract readonly exitCode: ExitCodeValue;
  abstract readonly code: string;
}

/** Bad reference, missing secret or key, bad configuration (78). */
export class ConfigError extends InitError {
  readonly exitCode = ExitCode.CONFIG;
  readonly code = 'E_CONFIG';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** A secret path or key that does not exist (78; skipped under ignore-missing). */
export class MissingSecretError extends InitError {
  readonly exitCode = ExitCode.CONFIG;
  readonly code = 'E_MISSING';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MissingSecretError';
  }
}

/** Vault denied the login or a read (77). */
export class DeniedError extends InitError {
  readonly exitCode = ExitCode.DENIED;
  readonly code = 'E_DENIED';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DeniedError';
  }
}

/** Vault could not be reached, or kept failing, within the client timeout (69). */
export class UnavailableError extends InitError {
  readonly exitCode = ExitCode.UNAVAILABLE;
  readonly code = 'E_UNAVAILABLE';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnavailableError';
  }
}

/** The command to exec does not exist (127). */
export class CommandNotFoundError extends InitError {
  readonly exitCode = ExitCode.NOT_FOUND;
  readonly code = 'E_NOT_FOUND';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CommandNotFoundError';
  }
}

/** The command exists but cannot be executed (126). */
export class CommandNotExecutableError extends InitError {
  readonly exitCode = ExitCode.NOT_EXECUTABLE;
  readonly code = 'E_NOT_EXECUTABLE';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CommandNotExecutableError';
  }
}

/** Vault answered with something we cannot use (70). */
export class ProtocolError extends InitError {
  readonly exitCode = ExitCode.SOFTWARE;
  readonly code = 'E_PROTOCOL';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ProtocolError';
  }
}

/** The bundle could not be copied into the shared volume (70). */
export class CopyError extends InitError {
  readonly exitCode = ExitCode.SOFTWARE;
  readonly code = 'E_COPY';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CopyError';
  }
}

/** The exit code for any error thrown by a run: ours carry one; the contract's are 78; else 70. */
export function exitCodeOf(err: unknown): ExitCodeValue {
  if (err instanceof InitError) return err.exitCode;
  if (err instanceof ContractError) return ExitCode.CONFIG;
  return ExitCode.SOFTWARE;
}

/** The one stderr line for a failure. Only our own messages are shown in full. */
export function failureLine(err: unknown): string {
  if (err instanceof InitError || err instanceof ContractError) {
    return `vault-inject-env: ${oneLine(err.message)}`;
  }
  const name = err instanceof Error ? err.name : typeof err;
  return `vault-inject-env: internal error (${name}); set VAULT_LOG_LEVEL=debug for details`;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}
