/**
 * The seam for containers without `command`: their image's ENTRYPOINT and CMD come from the
 * registry. The OCI lookup (auth, manifest lists by platform, cache, single-flight) plugs in here;
 * until it exists, `commandRequired` denies such a container with a message that says what to do.
 */
import { ErrorCode, WebhookError } from '../errors.ts';
import { describeContainer, type ContainerPosition } from '../mutation/types.ts';

export interface ImageCommand {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
}

export interface ImageLookupRequest {
  readonly image: string;
  readonly namespace: string;
  readonly imagePullSecrets: readonly string[];
  readonly container: ContainerPosition;
}

export interface ImageConfigLookup {
  /** Rejects with a WebhookError (code NO_COMMAND) when the command cannot be known. */
  lookup(request: ImageLookupRequest, signal: AbortSignal): Promise<ImageCommand>;
}

export function noCommandError(container: ContainerPosition, why: string): WebhookError {
  return new WebhookError(
    ErrorCode.NO_COMMAND,
    `${describeContainer(container)} has no command: set "command" to the image's entrypoint (${why})`,
  );
}

/** The default until the registry lookup lands: a container without `command` is denied. */
export const commandRequired: ImageConfigLookup = {
  lookup(request) {
    return Promise.reject(
      noCommandError(request.container, 'this webhook does not look images up in the registry'),
    );
  },
};
