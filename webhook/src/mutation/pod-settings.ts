/**
 * The pod's Vault settings: its annotations (ours, then the aliases) over the webhook's defaults,
 * read row by row from the annotation table (annotations.ts). Pure; an unacceptable annotation
 * throws a WebhookError that denies the pod naming it.
 */
import { ErrorCode, WebhookError } from '../errors.ts';
import * as A from './annotations.ts';
import { isTemplate, renderRole } from './role-template.ts';
import type { InjectionConfig } from './settings.ts';
import type { Pod } from './types.ts';
import { ValueError, bool } from './values.ts';
import { checkRefresh } from './refresh-rows.ts';

export type { PodSettings } from './annotations.ts';

type Annotations = Readonly<Record<string, string>> | undefined;

/** `value` through `parse`; a ValueError becomes the denial naming `key`. */
function parseAnnotation<T>(key: string, value: string, parse: (v: string) => T): T {
  try {
    return parse(value);
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    throw new WebhookError(err.code, `annotation ${key}: ${err.message}`, { cause: err });
  }
}

/** `inject`: true forces injection, false opts out, undefined (unset or empty) decides by content. */
export function injectAnnotation(pod: Pod): boolean | undefined {
  const found = A.readAnnotation(pod.metadata?.annotations, A.INJECT);
  return found && parseAnnotation(found.key, found.value, bool);
}

/** Bank-Vaults' opt-out label, which its chart's objectSelector (and ours) leaves out. */
export const BANK_VAULTS_SKIP_LABEL = 'security.banzaicloud.io/mutate';

/**
 * `false` when the pod opted out (`inject: "false"`, Bank-Vaults' `mutate: skip` annotation or
 * its `security.banzaicloud.io/mutate: skip` label). Throws a WebhookError (E_ANNOTATION) when
 * `inject` is no boolean.
 */
export function injectionWanted(pod: Pod): boolean {
  const inject = injectAnnotation(pod);
  if (inject !== undefined) return inject;
  const skip = (v: string | undefined): boolean => v?.trim().toLowerCase() === 'skip';
  const meta = pod.metadata;
  return (
    !skip(meta?.annotations?.[A.BANK_VAULTS_MUTATE]) &&
    !skip(meta?.labels?.[BANK_VAULTS_SKIP_LABEL])
  );
}

/**
 * The settings of `pod` (created in `namespace`), one per row of the table, then what one row
 * decides for others: the `role` template rendered, `token-auth-mount` checked. `warnings`
 * receives the facts worth telling the user (e.g. an ignored `skip-verify`).
 */
export function podSettings(
  pod: Pod,
  config: InjectionConfig,
  warnings: string[],
  namespace = pod.metadata?.namespace ?? 'default',
): A.PodSettings {
  const an: Annotations = pod.metadata?.annotations;
  const settings: Record<string, unknown> = {};
  for (const row of A.SETTINGS) {
    const found = A.readAnnotation(an, row);
    const ctx = { key: found?.key ?? row.key, config, pod, warnings };
    const value = found && parseAnnotation(found.key, found.value, (v) => row.parse(v, ctx));
    const setting = value ?? row.fallback?.(ctx);
    // Unset fields are left out, so settings compare and print cleanly.
    if (setting !== undefined) settings[row.setting] = setting;
  }
  const out = settings as A.PodSettings;
  checkRefresh(out, { annotations: an, daemon: A.DAEMON, warnings });
  return tokenAuth(pod, withRole(pod, out, { namespace, warnings }), warnings);
}

/** The `role` rendered as Bank-Vaults renders `vault-role` (role-template.ts). */
function withRole(
  pod: Pod,
  s: A.PodSettings,
  at: { namespace: string; warnings: string[] },
): A.PodSettings {
  const an = pod.metadata?.annotations;
  const key = A.readAnnotation(an, A.ROLE)?.key ?? '--default-role';
  const serviceAccount = A.readAnnotation(an, A.SERVICE_ACCOUNT)?.key;
  if (!isTemplate(s.role)) {
    if (serviceAccount !== undefined) {
      at.warnings.push(
        `annotation ${serviceAccount} has no effect: it only fills {{.serviceaccount}} of a role template, and the role is no template`,
      );
    }
    return s;
  }
  const fields = {
    authmethod: s.authMethod,
    name: pod.metadata?.name ?? '',
    namespace: at.namespace,
    path: s.authPath,
    serviceaccount: s.serviceAccount ?? '',
  };
  const { role, used } = parseAnnotation(key, s.role, (v) => renderRole(v, fields));
  for (const f of used) {
    if (fields[f as keyof typeof fields] !== '') continue;
    const why =
      f === 'name'
        ? 'the pod has no name yet (generateName)'
        : `${A.SERVICE_ACCOUNT.alias ?? A.SERVICE_ACCOUNT.key} is not set (it is not the pod's service account)`;
    at.warnings.push(`${key}: {{.${f}}} renders empty, as in Bank-Vaults: ${why}`);
  }
  if (role.trim() === '') {
    throw new WebhookError(ErrorCode.ANNOTATION, `${key}: the role template renders empty`);
  }
  return { ...s, role: role.trim() };
}

/**
 * `token-auth-mount` names a volume of the pod, and logs in with its token: `token` auth, as
 * Bank-Vaults' init program uses its token file whatever the auth method.
 */
function tokenAuth(pod: Pod, s: A.PodSettings, warnings: string[]): A.PodSettings {
  const mount = s.tokenAuthMount;
  if (mount === undefined) return s;
  const key = A.readAnnotation(pod.metadata?.annotations, A.TOKEN_AUTH_MOUNT)?.key ?? '';
  if (!(pod.spec.volumes ?? []).some((v) => v.name === mount.volume)) {
    throw new WebhookError(
      ErrorCode.ANNOTATION,
      `annotation ${key}: the pod has no volume "${mount.volume}"; add it (e.g. a Secret volume holding "${mount.key}")`,
    );
  }
  const method = A.readAnnotation(pod.metadata?.annotations, A.AUTH_METHOD);
  if (method !== undefined && s.authMethod !== 'token') {
    warnings.push(
      `annotation ${method.key} ignored: ${key} logs in with the token of volume "${mount.volume}" (token auth)`,
    );
  }
  return { ...s, authMethod: 'token' };
}
