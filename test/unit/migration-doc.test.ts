// docs/migrating-from-bank-vaults.md puts every Bank-Vaults pod annotation beside ours. The 54
// names are Bank-Vaults' webhook 1.23.1 pkg/common constants (vault.security.banzaicloud.io/...),
// as listed in the issue that asked for the page; each must have its own row in the table.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { HONOURED, MET, WARNED } from '../../webhook/src/mutation/bank-vaults.ts';

const BANK_VAULTS_ANNOTATIONS = [
  'mutate',
  'vault-addr',
  'vault-role',
  'vault-path',
  'vault-auth-method',
  'vault-skip-verify',
  'vault-tls-secret',
  'vault-client-timeout',
  'vault-namespace',
  'vault-ignore-missing-secrets',
  'vault-env-passthrough',
  'vault-env-from-path',
  'vault-env-daemon',
  'transit-key-id',
  'transit-path',
  'transit-batch-size',
  'vault-env-delay',
  'token-auth-mount',
  'vault-serviceaccount',
  'service-account-token-volume-name',
  'log-level',
  'enable-json-log',
  'mutate-probes',
  'registry-skip-verify',
  'vault-env-image',
  'vault-env-image-pull-policy',
  'psp-allow-privilege-escalation',
  'run-as-non-root',
  'run-as-user',
  'run-as-group',
  'readonly-root-fs',
  'vault-image',
  'vault-image-pull-policy',
  'vault-agent',
  'vault-agent-configmap',
  'vault-agent-once',
  'vault-agent-share-process-namespace',
  'vault-agent-cpu',
  'vault-agent-cpu-limit',
  'vault-agent-cpu-request',
  'vault-agent-memory',
  'vault-agent-memory-limit',
  'vault-agent-memory-request',
  'vault-agent-env-variables',
  'vault-configfile-path',
  'vault-ct-configmap',
  'vault-ct-image',
  'vault-ct-once',
  'vault-ct-pull-policy',
  'vault-ct-share-process-namespace',
  'vault-ct-cpu',
  'vault-ct-memory',
  'vault-ct-secrets-mount-path',
  'vault-ct-inject-in-initcontainers',
];

const doc = readFileSync(
  new URL('../../docs/migrating-from-bank-vaults.md', import.meta.url),
  'utf8',
);
const FATES = new Set([
  'honoured',
  'renamed',
  'warned',
  'refused',
  'honoured / refused',
  'met / warned',
]);

describe('docs/migrating-from-bank-vaults.md', () => {
  it('lists 54 distinct Bank-Vaults annotations', () => {
    assert.equal(new Set(BANK_VAULTS_ANNOTATIONS).size, 54);
  });
  it('has one row per Bank-Vaults annotation, each with its fate', () => {
    const rows = new Map<string, string>();
    for (const m of doc.matchAll(/^\| `([a-z-]+)` \| ([^|]+) \|/gm)) {
      const [, name = '', fate = ''] = m;
      if (BANK_VAULTS_ANNOTATIONS.includes(name)) {
        assert.ok(!rows.has(name), `${name} has two rows`);
        rows.set(name, fate.trim());
      }
    }
    const missing = BANK_VAULTS_ANNOTATIONS.filter((a) => !rows.has(a));
    assert.deepEqual(missing, [], 'annotations without a row');
    for (const [name, fate] of rows) assert.ok(FATES.has(fate), `${name}: "${fate}" is no fate`);
  });
  it('says of each annotation what the webhook does with it', () => {
    // The code's classification (webhook/src/mutation/bank-vaults.ts) is the truth the page tells.
    const code = (name: string): string => {
      if (HONOURED.has(name)) return 'honoured';
      if (name in WARNED) return 'warned';
      if (name in MET) return 'met / warned';
      return 'unknown to the code';
    };
    for (const m of doc.matchAll(/^\| `([a-z-]+)` \| ([^|]+) \|/gm)) {
      const [, name = '', fate = ''] = m;
      if (!BANK_VAULTS_ANNOTATIONS.includes(name)) continue;
      // "honoured / refused": honoured, some values denied (auth methods we do not have).
      const said = fate.trim() === 'honoured / refused' ? 'honoured' : fate.trim();
      assert.equal(said, code(name), `${name}: the page says "${fate.trim()}"`);
    }
  });
  it('is linked from the README and docs/configuration.md', () => {
    for (const file of ['../../README.md', '../../docs/configuration.md']) {
      const text = readFileSync(new URL(file, import.meta.url), 'utf8');
      assert.match(text, /migrating-from-bank-vaults\.md/, file);
    }
  });
});
