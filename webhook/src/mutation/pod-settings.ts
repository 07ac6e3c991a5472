/**
 * The pod's Vault settings: its annotations (ours, then the aliases) over the webhook's defaults,
 * read row by row from the annotation table (annotations.ts). Pure; an unacceptable annotation
 * throws a WebhookError that denies the pod naming it.
 */
import { WebhookError } from '../errors.ts';
import * as A from './annotations.ts';
import type { InjectionConfig } from './settings.ts';
import type { Pod } from './types.ts';
import { ValueError, bool } from './values.ts';

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

/**
 * `false` when the pod opted out (`inject: "false"` or Bank-Vaults' `mutate: skip`). Throws a
 * WebhookError (E_ANNOTATION) when `inject` is no boolean.
 */
export function injectionWanted(pod: Pod): boolean {
  const inject = injectAnnotation(pod);
  if (inject !== undefined) return inject;
  return pod.metadata?.annotations?.[A.BANK_VAULTS_MUTATE]?.trim().toLowerCase() !== 'skip';
}

/**
 * The settings of `pod`, one per row of the table. `warnings` receives the facts worth telling
 * the user (e.g. an ignored `skip-verify`).
 */
export function podSettings(pod: Pod, config: InjectionConfig, warnings: string[]): A.PodSettings {
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
  return settings as A.PodSettings;
}
