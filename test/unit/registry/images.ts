/** Image documents for the fake registries of the unit tests: a config and its OCI manifest. */
import { createHash } from 'node:crypto';

export const digest = (body: Buffer): string =>
  `sha256:${createHash('sha256').update(body).digest('hex')}`;

/** A linux/amd64 image config whose `config` (Entrypoint, Cmd) is `command`. */
export function imageConfig(command: Record<string, unknown>): Buffer<ArrayBuffer> {
  return Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', config: command }));
}

/** An OCI image manifest naming `config`, without layers. */
export function ociManifest(config: Buffer): Buffer<ArrayBuffer> {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { digest: digest(config) },
      layers: [],
    }),
  );
}
