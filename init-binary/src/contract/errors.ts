/**
 * The error base shared by the webhook and the init program: every error the contract's parsers
 * throw is a ContractError with a stable `code`. Messages state the problem and never hold a
 * secret. The init program maps each to exit 78; the webhook denies the pod naming the variable.
 */
export abstract class ContractError extends Error {
  abstract readonly code: string;
}

/** A reference could not be parsed (or a value holds more references than a bound allows). */
export class MalformedReferenceError extends ContractError {
  readonly code: string = 'E_REFERENCE';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MalformedReferenceError';
  }
}

/** A template key names a function we do not have, or a function failed on its input. */
export class TemplateError extends ContractError {
  readonly code = 'E_TEMPLATE';
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** The secret was read but has no such key. */
export class MissingKeyError extends ContractError {
  readonly code = 'E_MISSING_KEY';
  readonly path: string;
  readonly key: string;
  constructor(path: string, key: string) {
    super(`key "${key}" not found in ${path}`);
    this.name = 'MissingKeyError';
    this.path = path;
    this.key = key;
  }
}
