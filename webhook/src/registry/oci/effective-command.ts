/**
 * Kubernetes' rule for the command a container without `command` runs: ENTRYPOINT + (the
 * container's `args` when set, else CMD), and the same written as a container's `args` field.
 */
import type { ImageConfig } from './parse-manifest.ts';

/**
 * The argv Kubernetes runs for a container without `command`: ENTRYPOINT + (args if the container
 * sets them, else CMD). Empty when the image has neither and the container no args.
 */
export function effectiveCommand(
  config: Pick<ImageConfig, 'entrypoint' | 'cmd'>,
  args: readonly string[] | null | undefined,
): string[] {
  const tail = args !== undefined && args !== null && args.length > 0 ? args : config.cmd;
  return [...config.entrypoint, ...tail];
}

/** Kubernetes expands `$(VAR)` in `args` and reduces `$$` to `$`; image strings are not expanded. */
function escapeForKubernetes(value: string): string {
  return value.replaceAll('$', '$$$$');
}

/**
 * The same argv written as a container's `args` field: the parts that come from the image are
 * escaped so kubelet's `$(VAR)` expansion leaves them exactly as the image had them; the container's
 * own args are kept as written (kubelet expanded them before, and will again).
 */
export function effectiveArgsField(
  config: Pick<ImageConfig, 'entrypoint' | 'cmd'>,
  args: readonly string[] | null | undefined,
): string[] {
  const own = args !== undefined && args !== null && args.length > 0;
  const entrypoint = config.entrypoint.map(escapeForKubernetes);
  return own ? [...entrypoint, ...args] : [...entrypoint, ...config.cmd.map(escapeForKubernetes)];
}
