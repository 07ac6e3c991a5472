/**
 * What the webhook writes into a pod: the Vault defaults, the init image and how it is delivered.
 * `vault-inject webhook` and `vault-inject mutate` share these flags (docs/configuration.md).
 */
import type { Delivery, InjectionConfig } from '../mutation/settings.ts';
import { vaultAddrProblem } from '../mutation/vault-addr.ts';
import { VERSION } from '../version.ts';
import { POD_DEFAULT_FLAGS, readDefaults } from './defaults.ts';
import {
  collect,
  type FlagSection,
  type FlagSpec,
  type FlagValues,
  type Problems,
} from './flags.ts';

export const E = (name: string): string => `VAULT_INJECT_${name}`;

const DELIVERY_FLAGS = [
  {
    flag: 'vault-addr',
    env: 'VAULT_ADDR',
    default: 'https://vault.vault:8200',
    help: 'default Vault address for pods',
  },
  {
    flag: 'allowed-vault-addrs',
    env: E('ALLOWED_VAULT_ADDRS'),
    envAlias: 'VAULT_ADDR_ALLOWLIST',
    default: '',
    help: 'comma list of addresses a vault-addr annotation may name, besides --vault-addr',
  },
  {
    flag: 'allow-skip-verify',
    env: E('ALLOW_SKIP_VERIFY'),
    envAlias: 'VAULT_ALLOW_OBJECT_SKIP_VERIFY',
    default: 'false',
    boolean: true,
    help: 'honour the skip-verify annotation and allow --default-skip-verify',
  },
  {
    flag: 'allow-registry-skip-verify',
    env: E('ALLOW_REGISTRY_SKIP_VERIFY'),
    default: 'false',
    boolean: true,
    help: 'honour the registry-skip-verify annotation (image lookups of that pod)',
  },
  {
    flag: 'init-image',
    env: E('INIT_IMAGE'),
    default: `ghcr.io/vault-inject/vault-inject-init:${VERSION}`,
    help: 'image holding the /vault-inject bundle',
  },
  {
    flag: 'init-image-pull-policy',
    env: E('INIT_IMAGE_PULL_POLICY'),
    default: 'IfNotPresent',
    help: 'Always, IfNotPresent or Never',
  },
  {
    flag: 'delivery',
    env: E('DELIVERY'),
    default: 'emptydir',
    help: 'emptydir (copy init container) or image (image volume, Kubernetes >= 1.33)',
  },
  { flag: 'emptydir-medium', env: E('EMPTYDIR_MEDIUM'), default: 'disk', help: 'disk or memory' },
  {
    flag: 'copy-cpu-request',
    env: E('COPY_CPU_REQUEST'),
    default: '10m',
    help: 'copy init container CPU request',
  },
  {
    flag: 'copy-memory-request',
    env: E('COPY_MEMORY_REQUEST'),
    default: '64Mi',
    help: 'copy init container memory request',
  },
  {
    flag: 'copy-cpu-limit',
    env: E('COPY_CPU_LIMIT'),
    default: '',
    help: 'copy init container CPU limit (empty: none)',
  },
  {
    flag: 'copy-memory-limit',
    env: E('COPY_MEMORY_LIMIT'),
    default: '128Mi',
    help: 'copy init container memory limit',
  },
  {
    flag: 'init-log-level',
    env: E('INIT_LOG_LEVEL'),
    default: '',
    help: 'VAULT_LOG_LEVEL given to the init program (empty: its default)',
  },
] as const satisfies readonly FlagSpec[];

/** What goes into a pod: where and how (`DELIVERY_FLAGS`), and the pods' defaults. */
export const INJECTION_FLAGS = [
  ...DELIVERY_FLAGS,
  ...POD_DEFAULT_FLAGS,
] as const satisfies readonly FlagSpec[];

/** The injection flags in the groups `--help` shows. */
export const INJECTION_SECTIONS: readonly FlagSection[] = [
  { title: 'injection (what goes into a pod)', flags: DELIVERY_FLAGS },
  { title: "pod defaults (a pod's annotation wins)", flags: POD_DEFAULT_FLAGS },
];

type Name = (typeof INJECTION_FLAGS)[number]['flag'];

function resources(p: Problems<Name>): InjectionConfig['copyResources'] {
  const pick = (cpu: string, memory: string): Record<string, string> => {
    const r: Record<string, string> = {};
    if (cpu) r.cpu = cpu;
    if (memory) r.memory = memory;
    return r;
  };
  const requests = pick(p.text('copy-cpu-request'), p.text('copy-memory-request'));
  const limits = pick(p.text('copy-cpu-limit'), p.text('copy-memory-limit'));
  return {
    ...(Object.keys(requests).length > 0 ? { requests } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
}

function vaultAddresses(p: Problems<Name>): { vaultAddr: string; allowed: readonly string[] } {
  const vaultAddr = p.text('vault-addr');
  const problem = vaultAddrProblem(vaultAddr);
  if (problem !== undefined) p.add('vault-addr', problem);
  const allowed = p.list('allowed-vault-addrs');
  // An entry that is not a URL could never match an annotation: say so at start, not per pod.
  for (const a of allowed) {
    const entry = vaultAddrProblem(a);
    if (entry !== undefined) p.add('allowed-vault-addrs', entry);
  }
  return { vaultAddr, allowed: Object.freeze(allowed) };
}

/** The injection settings; every bad value is added to `p`. */
export function readInjection(p: Problems<Name>): InjectionConfig {
  const { vaultAddr, allowed } = vaultAddresses(p);
  const medium = p.oneOf('emptydir-medium', ['disk', 'memory']);
  const before = p.count;
  const allowSkipVerify = p.bool('allow-skip-verify');
  const { authPath, authMethod, defaults } = readDefaults(
    p,
    p.count === before ? allowSkipVerify : undefined,
  );
  return Object.freeze({
    vaultAddr,
    allowedVaultAddrs: allowed,
    authPath,
    authMethod,
    allowSkipVerify,
    defaults,
    allowRegistrySkipVerify: p.bool('allow-registry-skip-verify'),
    initImage: p.text('init-image'),
    initImagePullPolicy: p.oneOf('init-image-pull-policy', ['Always', 'IfNotPresent', 'Never']),
    delivery: p.oneOf<Delivery>('delivery', ['emptydir', 'image']),
    emptyDirMedium: medium === 'memory' ? 'Memory' : '',
    copyResources: resources(p),
    initLogLevel: p.text('init-log-level'),
  });
}

/** The injection settings alone (the offline preview); throws naming every bad value. */
export function injectionConfig(flags: FlagValues): InjectionConfig {
  return collect(flags, readInjection);
}
