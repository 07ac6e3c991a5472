/**
 * Every Bank-Vaults pod annotation (`vault.security.banzaicloud.io/*`) has one fate here, and none
 * is dropped without a word (docs/configuration.md#bank-vaults-annotations):
 * - honoured: an alias of a row of the annotation table (annotations.ts), with its meaning there;
 * - met: a security setting of Bank-Vaults' init containers that the copy container always has
 *   (Pod Security `restricted`); asking for it is fine, asking for less is told and ignored;
 * - warned: a feature this webhook does not have (Vault Agent, consul-template, the init image):
 *   an admission warning names the annotation and says what to do instead.
 * A `vault.security.banzaicloud.io/` or `vault-inject.dev/` annotation that is none of these
 * (a typo, an annotation of a later version) is warned about too. Pure.
 */
import { parseBoolean } from '../../../init-binary/src/contract/index.ts';
import { ANNOTATIONS, BANK_VAULTS_MUTATE, BANK_VAULTS_PREFIX, PREFIX } from './annotations.ts';
import { SECRET_FILE_KEY_PREFIX } from './secret-files.ts';
import { VAULT_K8S_PREFIX } from './annotation-row.ts';
import { vaultK8sWarnings } from './vault-k8s.ts';
import { quote } from './values.ts';

const AGENT =
  'Vault Agent is not supported: the init program logs in and reads the secrets itself; use env references (vault:PATH#KEY), vault-env-from-path, or for files vault-inject.dev/secret-file-NAME (docs/configuration.md#secret-files)';
const CONSUL_TEMPLATE =
  'consul-template is not supported: use vault-inject.dev/secret-file-NAME for files (templates with ${vault:PATH#KEY}, docs/configuration.md#secret-files), or env references';
const ENV_IMAGE =
  "a pod cannot choose the init program's image: it runs with the pod's Vault identity before the app, so the webhook's operator sets it (--init-image, --init-image-pull-policy)";

/** Bank-Vaults annotations this webhook does not act on, and what to do instead. */
export const WARNED: Readonly<Record<string, string>> = {
  'vault-env-image': ENV_IMAGE,
  'vault-env-image-pull-policy': ENV_IMAGE,
  'vault-image': AGENT,
  'vault-image-pull-policy': AGENT,
  'vault-agent': AGENT,
  'vault-agent-configmap': AGENT,
  'vault-agent-once': AGENT,
  'vault-agent-share-process-namespace': AGENT,
  'vault-agent-cpu': AGENT,
  'vault-agent-cpu-limit': AGENT,
  'vault-agent-cpu-request': AGENT,
  'vault-agent-memory': AGENT,
  'vault-agent-memory-limit': AGENT,
  'vault-agent-memory-request': AGENT,
  'vault-agent-env-variables': AGENT,
  'vault-configfile-path': AGENT,
  'vault-ct-configmap': CONSUL_TEMPLATE,
  'vault-ct-image': CONSUL_TEMPLATE,
  'vault-ct-once': CONSUL_TEMPLATE,
  'vault-ct-pull-policy': CONSUL_TEMPLATE,
  'vault-ct-share-process-namespace': CONSUL_TEMPLATE,
  'vault-ct-cpu': CONSUL_TEMPLATE,
  'vault-ct-memory': CONSUL_TEMPLATE,
  'vault-ct-secrets-mount-path': CONSUL_TEMPLATE,
  'vault-ct-inject-in-initcontainers': CONSUL_TEMPLATE,
  'service-account-token-volume-name':
    "Bank-Vaults uses it only for its Vault Agent container; the init program reads the pod's service-account token, or a projected one with vault-inject.dev/token-audience",
};

/** Security settings the copy init container always has: the value it has, and what it is. */
export const MET: Readonly<Record<string, { readonly value: boolean; readonly fact: string }>> = {
  'psp-allow-privilege-escalation': {
    value: false,
    fact: 'the copy init container never allows privilege escalation (Pod Security restricted)',
  },
  'run-as-non-root': {
    value: true,
    fact: 'the copy init container always runs as non-root (Pod Security restricted)',
  },
  'readonly-root-fs': {
    value: true,
    fact: 'the copy init container always has a read-only root filesystem',
  },
};

/** The Bank-Vaults names the annotation table reads (its aliases, and the opt-out `mutate`). */
export const HONOURED: ReadonlySet<string> = new Set([
  BANK_VAULTS_MUTATE.slice(BANK_VAULTS_PREFIX.length),
  ...ANNOTATIONS.flatMap((a) => a.aliases)
    .filter((k) => k.startsWith(BANK_VAULTS_PREFIX))
    .map((k) => k.slice(BANK_VAULTS_PREFIX.length)),
]);

const OURS: ReadonlySet<string> = new Set(ANNOTATIONS.map((a) => a.key));

/** The vault-k8s names the annotation table reads as aliases (vault-k8s.ts warns of the rest). */
const VAULT_K8S_HONOURED: ReadonlySet<string> = new Set(
  ANNOTATIONS.flatMap((a) => a.aliases)
    .filter((k) => k.startsWith(VAULT_K8S_PREFIX))
    .map((k) => k.slice(VAULT_K8S_PREFIX.length)),
);

function bankVaultsWarning(key: string, value: string): string | undefined {
  const name = key.slice(BANK_VAULTS_PREFIX.length);
  if (HONOURED.has(name)) return undefined;
  const advice = WARNED[name];
  if (advice !== undefined) return `annotation ${key} ignored: ${advice}`;
  const met = MET[name];
  if (met !== undefined) {
    // Go's strconv.ParseBool, as Bank-Vaults reads it; unreadable is not what the pod has.
    if (parseBoolean(value.trim()) === met.value) return undefined;
    return `annotation ${key}: ${quote(value)} ignored: ${met.fact}`;
  }
  return `annotation ${quote(key)} is not a Bank-Vaults pod annotation this webhook knows: ignored (check its spelling)`;
}

/** The warnings the pod's annotations call for, one per annotation (docs/configuration.md). */
export function annotationWarnings(
  annotations: Readonly<Record<string, string>> | undefined,
): string[] {
  const out: string[] = vaultK8sWarnings(annotations, VAULT_K8S_HONOURED);
  for (const [key, value] of Object.entries(annotations ?? {})) {
    if (key.startsWith(BANK_VAULTS_PREFIX)) {
      const w = bankVaultsWarning(key, value);
      if (w !== undefined) out.push(w);
    } else if (
      key.startsWith(PREFIX) &&
      !OURS.has(key) &&
      !key.startsWith(SECRET_FILE_KEY_PREFIX)
    ) {
      out.push(
        `annotation ${quote(key)} is not one this webhook knows: ignored (see docs/configuration.md#annotations)`,
      );
    }
  }
  return out;
}
