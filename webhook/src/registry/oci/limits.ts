/**
 * The largest bodies a lookup reads. A manifest or an index: 4 MiB, distribution's own limit on a
 * pushed manifest (containerd reads no larger either). An image config: 8 MiB (configs with a long
 * history or many labels run to hundreds of KiB; layers are never read). A larger body fails the
 * lookup naming the limit (`image config larger than 8 MiB`).
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** `4 MiB`, `512 KiB`, `100 bytes`. */
export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
