/**
 * The pod's Vault settings: its annotations (ours, then the Bank-Vaults aliases) over the
 * webhook's defaults. Pure; an unacceptable annotation throws a WebhookError that denies the pod.
 */
import {
  AUTH_METHODS,
  parseBoolean,
  parseDurationMs,
  parseList,
  type AuthMethod,
} from '../../../init-binary/src/contract/index.ts';
import { ErrorCode, WebhookError } from '../errors.ts';
import * as A from './annotations.ts';
import type { InjectionConfig } from './settings.ts';
import type { Pod } from './types.ts';

export interface PodSettings {
  readonly vaultAddr: string;
  readonly role: string;
  readonly authPath: string;
  readonly authMethod: AuthMethod;
  readonly namespace?: string;
  readonly skipVerify: boolean;
  readonly tlsSecret?: string;
  readonly clientTimeout?: string;
  readonly ignoreMissing: boolean;
  readonly envPassthrough?: string;
  readonly daemon: boolean;
  readonly fromPath?: string;
  readonly transitKey?: string;
  readonly transitPath?: string;
  readonly tokenAudience?: string;
  /** `containers` annotation: the names to inject, or undefined for "those with references". */
  readonly containers?: readonly string[];
  /** `inject: true`: inject even without a reference. */
  readonly forceInject: boolean;
}

type Annotations = Readonly<Record<string, string>> | undefined;

function annotationError(key: string, message: string): WebhookError {
  return new WebhookError(ErrorCode.ANNOTATION, `annotation ${key}: ${message}`);
}

function text(annotations: Annotations, a: A.Annotation): string | undefined {
  const found = A.readAnnotation(annotations, a);
  const value = found?.value.trim();
  return value === '' ? undefined : value;
}

/**
 * A boolean annotation as Bank-Vaults reads it (Go's `strconv.ParseBool`, around surrounding
 * spaces); empty is unset. Anything else is `null`.
 */
function parseBool(value: string): boolean | null | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  return parseBoolean(v) ?? null;
}

/** The boolean `a`, or undefined when unset or empty; a value that is no boolean denies the pod. */
function readBool(annotations: Annotations, a: A.Annotation): boolean | undefined {
  const found = A.readAnnotation(annotations, a);
  if (!found) return undefined;
  const b = parseBool(found.value);
  if (b === null) throw annotationError(found.key, `"${found.value}" is not true or false`);
  return b;
}

function flag(annotations: Annotations, a: A.Annotation): boolean {
  return readBool(annotations, a) ?? false;
}

/** `inject`: true forces injection, false opts out, undefined (unset or empty) decides by content. */
export function injectAnnotation(pod: Pod): boolean | undefined {
  return readBool(pod.metadata?.annotations, A.INJECT);
}

/**
 * `false` when the pod opted out (`inject: "false"` or Bank-Vaults' `mutate: skip`). Throws a
 * WebhookError (E_ANNOTATION) when `inject` is no boolean.
 */
export function injectionWanted(pod: Pod): boolean {
  const inject = injectAnnotation(pod);
  if (inject !== undefined) return inject;
  return pod.metadata?.annotations?.[A.BANK_VAULTS_MUTATE]?.trim().toLowerCase() !== 'skip';
}

function normalizeAddr(addr: string): string {
  return addr.trim().replace(/\/+$/, '');
}

function vaultAddr(annotations: Annotations, config: InjectionConfig): string {
  const found = A.readAnnotation(annotations, A.VAULT_ADDR);
  if (!found) return config.vaultAddr;
  // The webhook's own address is always allowed: a pod that names it asks for the default.
  const allowed = [config.vaultAddr, ...config.allowedVaultAddrs];
  const wanted = normalizeAddr(found.value);
  if (!allowed.some((a) => normalizeAddr(a) === wanted)) {
    throw new WebhookError(
      ErrorCode.ADDR_NOT_ALLOWED,
      `annotation ${found.key}: "${found.value}" is not an allowed Vault address (allowed: ${allowed.join(', ')})`,
    );
  }
  return wanted;
}

function authMethod(annotations: Annotations, config: InjectionConfig): AuthMethod {
  const found = A.readAnnotation(annotations, A.AUTH_METHOD);
  if (!found) return config.authMethod;
  const v = found.value.trim();
  if (!(AUTH_METHODS as readonly string[]).includes(v)) {
    throw annotationError(found.key, `"${v}" is not one of ${AUTH_METHODS.join(', ')}`);
  }
  return v as AuthMethod;
}

function clientTimeout(annotations: Annotations): string | undefined {
  const found = A.readAnnotation(annotations, A.CLIENT_TIMEOUT);
  if (!found) return undefined;
  const v = found.value.trim();
  // The init program's own parser: what it reads is accepted (`1.5s`, `1m30s`, `500ms`, `30`),
  // and nothing it would refuse at start-up (exit 78) is let through.
  const ms = parseDurationMs(v);
  if (ms === undefined || ms <= 0) {
    throw annotationError(found.key, `"${v}" is not a positive duration such as 10s, 500ms or 1m`);
  }
  return v;
}

const DNS_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function tlsSecret(annotations: Annotations): string | undefined {
  const found = A.readAnnotation(annotations, A.TLS_SECRET);
  const v = found?.value.trim();
  if (!found || !v) return undefined;
  if (!DNS_NAME.test(v)) throw annotationError(found.key, `"${v}" is not a valid Secret name`);
  return v;
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = parseList(value);
  return items.length > 0 ? items : undefined;
}

/** Drops `undefined` fields so settings compare and print cleanly. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * The settings of `pod`. `warnings` receives the facts worth telling the user (e.g. an ignored
 * `skip-verify`).
 */
export function podSettings(pod: Pod, config: InjectionConfig, warnings: string[]): PodSettings {
  const an = pod.metadata?.annotations;
  let skipVerify = flag(an, A.SKIP_VERIFY);
  if (skipVerify && !config.allowSkipVerify) {
    // Name the annotation as the user wrote it (ours or the Bank-Vaults alias).
    const key = A.readAnnotation(an, A.SKIP_VERIFY)?.key ?? A.SKIP_VERIFY.key;
    warnings.push(`${key} ignored: this webhook does not allow skipping TLS verification`);
    skipVerify = false;
  }
  const serviceAccount = pod.spec.serviceAccountName || 'default';
  return defined<PodSettings>({
    vaultAddr: vaultAddr(an, config),
    role: text(an, A.ROLE) ?? serviceAccount,
    authPath: text(an, A.AUTH_PATH) ?? config.authPath,
    authMethod: authMethod(an, config),
    namespace: text(an, A.NAMESPACE),
    skipVerify,
    tlsSecret: tlsSecret(an),
    clientTimeout: clientTimeout(an),
    ignoreMissing: flag(an, A.IGNORE_MISSING),
    envPassthrough: text(an, A.ENV_PASSTHROUGH),
    daemon: flag(an, A.DAEMON),
    fromPath: text(an, A.FROM_PATH),
    transitKey: text(an, A.TRANSIT_KEY),
    transitPath: text(an, A.TRANSIT_PATH),
    tokenAudience: text(an, A.TOKEN_AUDIENCE),
    containers: list(A.readAnnotation(an, A.CONTAINERS)?.value),
    forceInject: injectAnnotation(pod) === true,
  });
}
