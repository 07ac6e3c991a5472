/** Image config lookups for containers without `command` (docs/registry.md). */
import { collect, type FlagSpec, type FlagValues, type Problems } from './flags.ts';
import { E } from './injection.ts';

/** What to do with a pod whose container's image cannot be looked up. */
export type RegistryFailurePolicy = 'deny' | 'admit';

export interface RegistryConfig {
  /** Per lookup, every request included; below the request deadline. */
  readonly timeoutMs: number;
  /** `os/architecture[/variant]` when the pod's placement pins none. */
  readonly platform: string;
  /** How long a tag → digest answer is trusted. */
  readonly tagTtlMs: number;
  /** Extra CA bundles by registry host (normalised: `docker.io`, `r.example:5000`). */
  readonly caFiles: readonly { readonly host: string; readonly file: string }[];
  readonly insecureSkipVerify: readonly string[];
  readonly plainHttp: readonly string[];
  /** Bearer token realms only on the registry's own host name. */
  readonly tokenRealmSameHost: boolean;
  /** A docker config.json tried after the pod's and its service account's pull secrets. */
  readonly defaultDockerConfigFile: string;
  /** A kubelet CredentialProviderConfig file; '' for none. */
  readonly credentialProviderConfigFile: string;
  /** Where that config's plugin executables are. */
  readonly credentialProviderBinDir: string;
  readonly failurePolicy: RegistryFailurePolicy;
}

export const REGISTRY_FLAGS = [
  {
    flag: 'registry-timeout',
    env: E('REGISTRY_TIMEOUT'),
    default: '2s',
    help: 'per image lookup in a registry, every request included (below --request-deadline)',
  },
  {
    flag: 'registry-platform',
    env: E('REGISTRY_PLATFORM'),
    default: 'linux/amd64',
    help: 'platform looked up in multi-arch images unless the pod pins kubernetes.io/os or /arch',
  },
  {
    flag: 'registry-tag-ttl',
    env: E('REGISTRY_TAG_TTL'),
    default: '60s',
    help: 'how long a tag → digest answer is trusted',
  },
  {
    flag: 'registry-ca',
    env: E('REGISTRY_CA'),
    default: '',
    repeatable: true,
    help: 'HOST=FILE: a PEM CA bundle trusted for that registry (repeatable; comma list in the variable)',
  },
  {
    flag: 'registry-insecure-skip-verify',
    env: E('REGISTRY_INSECURE_SKIP_VERIFY'),
    default: '',
    help: 'comma list of registry hosts whose TLS certificate is not verified',
  },
  {
    flag: 'registry-plain-http',
    env: E('REGISTRY_PLAIN_HTTP'),
    default: '',
    help: 'comma list of registry hosts spoken to over plain HTTP',
  },
  {
    flag: 'registry-token-realm-same-host',
    env: E('REGISTRY_TOKEN_REALM_SAME_HOST'),
    default: 'false',
    boolean: true,
    help: "fetch Bearer tokens only from the registry's own host name (not for Docker Hub)",
  },
  {
    flag: 'registry-default-docker-config',
    env: E('REGISTRY_DEFAULT_DOCKER_CONFIG'),
    default: '',
    help: 'a docker config.json tried after the pull secrets of the pod and its service account',
  },
  {
    flag: 'registry-credential-provider-config',
    env: E('REGISTRY_CREDENTIAL_PROVIDER_CONFIG'),
    default: '',
    help: "the nodes' kubelet CredentialProviderConfig file: plugins tried after the default docker config",
  },
  {
    flag: 'registry-credential-provider-bin-dir',
    env: E('REGISTRY_CREDENTIAL_PROVIDER_BIN_DIR'),
    default: '',
    help: 'the directory holding the plugins of --registry-credential-provider-config',
  },
  {
    flag: 'registry-failure-policy',
    env: E('REGISTRY_FAILURE_POLICY'),
    default: 'deny',
    help: 'deny: deny a pod whose image cannot be looked up; admit: admit it unmutated with a warning',
  },
] as const satisfies readonly FlagSpec[];

type Name = (typeof REGISTRY_FLAGS)[number]['flag'];

const PLATFORM = /^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/;

/** `HOST=FILE,HOST=FILE` of --registry-ca. */
function caFiles(p: Problems<Name>): RegistryConfig['caFiles'] {
  return p.list('registry-ca').flatMap((item) => {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) {
      p.add('registry-ca', `"${item}" is not HOST=FILE`);
      return [];
    }
    return [Object.freeze({ host: item.slice(0, eq), file: item.slice(eq + 1) })];
  });
}

function credentialProviderFlags(
  p: Problems<Name>,
): Pick<RegistryConfig, 'credentialProviderConfigFile' | 'credentialProviderBinDir'> {
  const file = p.text('registry-credential-provider-config');
  const binDir = p.text('registry-credential-provider-bin-dir');
  if ((file === '') !== (binDir === '')) {
    const missing = file === '' ? 'config' : 'bin-dir';
    p.add(
      `registry-credential-provider-${missing}`,
      'is needed with the other credential provider flag',
    );
  }
  return { credentialProviderConfigFile: file, credentialProviderBinDir: binDir };
}

/** The registry settings; every bad value is added to `p`. */
export function readRegistry(p: Problems<Name>): RegistryConfig {
  const timeoutMs = p.positiveDuration('registry-timeout');
  const platform = p.text('registry-platform');
  if (!PLATFORM.test(platform)) {
    p.add('registry-platform', `"${platform}" is not os/architecture[/variant], e.g. linux/arm64`);
  }
  return Object.freeze({
    timeoutMs,
    platform,
    tagTtlMs: p.duration('registry-tag-ttl'),
    caFiles: Object.freeze(caFiles(p)),
    insecureSkipVerify: Object.freeze(p.list('registry-insecure-skip-verify')),
    plainHttp: Object.freeze(p.list('registry-plain-http')),
    tokenRealmSameHost: p.bool('registry-token-realm-same-host'),
    defaultDockerConfigFile: p.text('registry-default-docker-config'),
    ...credentialProviderFlags(p),
    failurePolicy: p.oneOf<RegistryFailurePolicy>('registry-failure-policy', ['deny', 'admit']),
  });
}

/** The registry settings alone; throws naming every bad value. */
export function registryConfig(flags: FlagValues): RegistryConfig {
  return collect(flags, readRegistry);
}
