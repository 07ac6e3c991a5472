/**
 * Platforms and the choice of one manifest from an image index, as containerd's default matcher
 * does it: os and architecture must match; a wanted variant must match (with `arm64` ≡ `arm64/v8`
 * and `arm` ≡ `arm/v7`); with no wanted variant, an entry without variant (or with the
 * architecture's default one) is preferred, then the first entry of that os/architecture.
 */

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export const DEFAULT_PLATFORM: Platform = Object.freeze({ os: 'linux', architecture: 'amd64' });

const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', arm: 'v7' };

/** `linux/arm64/v8`, `linux/amd64`, `arm64` (os linux). Throws on anything else. */
export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  const valid =
    parts.length >= 1 && parts.length <= 3 && parts.every((p) => /^[a-z0-9_.-]+$/.test(p));
  if (!valid) throw new Error(`invalid platform "${value}" (want os/architecture[/variant])`);
  if (parts.length === 1) return { os: 'linux', architecture: parts[0] ?? '' };
  const [os = '', architecture = '', variant] = parts;
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

export function formatPlatform(platform: Platform): string {
  const variant = platform.variant ? `/${platform.variant}` : '';
  return `${platform.os}/${platform.architecture}${variant}`;
}

function normalisedVariant(architecture: string, variant: string | undefined): string {
  return variant || DEFAULT_VARIANT[architecture] || '';
}

/** Index entry shape this module reads (OCI image index / Docker manifest list). */
export interface IndexEntry {
  readonly mediaType?: string;
  readonly digest: string;
  readonly size?: number;
  readonly platform?: Partial<Platform>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The entry to run on `wanted`, or undefined. Attestation manifests never match. */
export function selectIndexEntry<T extends IndexEntry>(
  entries: readonly T[],
  wanted: Platform,
): T | undefined {
  const candidates = entries.filter(
    (entry) =>
      entry.platform?.os === wanted.os &&
      entry.platform.architecture === wanted.architecture &&
      entry.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest',
  );
  const wantedVariant = normalisedVariant(wanted.architecture, wanted.variant);
  const sameVariant = candidates.find(
    (entry) => normalisedVariant(wanted.architecture, entry.platform?.variant) === wantedVariant,
  );
  if (sameVariant !== undefined || wanted.variant) return sameVariant;
  return candidates[0];
}

/** The node selector / required node affinity this module reads from a pod spec. */
export interface PodPlacement {
  readonly nodeSelector?: Readonly<Record<string, string>> | null;
  readonly affinity?: {
    readonly nodeAffinity?: {
      readonly requiredDuringSchedulingIgnoredDuringExecution?: {
        readonly nodeSelectorTerms?:
          | readonly {
              readonly matchExpressions?:
                | readonly {
                    readonly key: string;
                    readonly operator: string;
                    readonly values?: readonly string[] | null;
                  }[]
                | null;
            }[]
          | null;
      } | null;
    } | null;
  } | null;
}

const ARCH_LABEL = 'kubernetes.io/arch';
const OS_LABEL = 'kubernetes.io/os';

/**
 * One value for a node label that every required placement rule agrees on: the node selector, or an
 * `In` expression with exactly one value present in every required node affinity term.
 */
function requiredLabel(placement: PodPlacement, label: string): string | undefined {
  const fromSelector = placement.nodeSelector?.[label];
  if (fromSelector) return fromSelector;
  const terms =
    placement.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
      ?.nodeSelectorTerms ?? [];
  const values = new Set<string>();
  for (const term of terms) {
    const expression = term.matchExpressions?.find(
      (e) => e.key === label && e.operator === 'In' && e.values?.length === 1,
    );
    const value = expression?.values?.[0];
    if (value === undefined) return undefined;
    values.add(value);
  }
  return values.size === 1 ? [...values][0] : undefined;
}

/**
 * The platform a pod will run on when its placement pins one (`kubernetes.io/arch`,
 * `kubernetes.io/os`), else `fallback` (the webhook's configured platform).
 */
export function platformForPod(placement: PodPlacement, fallback: Platform): Platform {
  const architecture = requiredLabel(placement, ARCH_LABEL);
  const os = requiredLabel(placement, OS_LABEL);
  if (architecture === undefined && os === undefined) return fallback;
  if (architecture === undefined || architecture === fallback.architecture) {
    return { ...fallback, os: os ?? fallback.os };
  }
  return { os: os ?? fallback.os, architecture };
}
