/**
 * The command of a container without `command`: its image's ENTRYPOINT and CMD come from the
 * registry. The webhook plugs the OCI lookup in here (`oci/pod-command.ts`, `registryCommandLookup`);
 * `commandRequired` is what runs without one (the offline preview): such a container is denied
 * (or, in the preview, left alone) with a message that says what to do.
 */
import { ErrorCode, WebhookError } from '../errors.ts';
import { describeContainer, type ContainerPosition } from '../mutation/types.ts';
import type { PodPlacement } from './oci/platform.ts';

/**
 * What an image runs, ready to be written into a container's `args`: every `$` is already escaped
 * as `$$` (kubelet expands `$(VAR)` in `args`, and never did in the image), so the pipeline puts
 * these strings in as they are and never escapes them again.
 */
export interface ImageCommand {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
}

export interface ImageCommandRequest {
  readonly image: string;
  readonly namespace: string;
  /** The pod's `imagePullSecrets` names, in order. */
  readonly imagePullSecrets: readonly string[];
  /** `spec.serviceAccountName` (its pull secrets come after the pod's); default `default`. */
  readonly serviceAccountName?: string;
  /** `spec.nodeSelector` and `spec.affinity`: a pinned `kubernetes.io/arch` selects the platform. */
  readonly placement?: PodPlacement;
  readonly container: ContainerPosition;
  /** The pod asked not to verify its registries' certificates, and the webhook allows it. */
  readonly insecureSkipVerify?: boolean;
}

export interface ImageCommandLookup {
  /**
   * Rejects with a WebhookError (code NO_COMMAND) when the command cannot be known; the message
   * names the container, the image, the registry and the reason, never a credential.
   */
  lookup(request: ImageCommandRequest, signal: AbortSignal): Promise<ImageCommand>;
}

export function noCommandError(container: ContainerPosition, why: string): WebhookError {
  return new WebhookError(
    ErrorCode.NO_COMMAND,
    `${describeContainer(container)} has no command: set "command" to the image's entrypoint (${why})`,
  );
}

/** Without a registry (the offline preview): a container without `command` cannot be injected. */
export const commandRequired: ImageCommandLookup = {
  lookup(request) {
    return Promise.reject(
      noCommandError(
        request.container,
        'the offline preview does not look images up in a registry',
      ),
    );
  },
};
