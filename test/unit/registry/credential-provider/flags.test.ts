/** The credential provider flags: both or neither, read from flags or variables. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFlags, registryConfig } from '../../../../webhook/src/config.ts';

describe('--registry-credential-provider-config and -bin-dir', () => {
  it('are read from flags and variables', () => {
    const argv = [
      '--registry-credential-provider-config=/etc/kubernetes/providers.yaml',
      '--registry-credential-provider-bin-dir=/plugins',
    ];
    const fromFlags = registryConfig(readFlags(argv, {}).flags);
    assert.equal(fromFlags.credentialProviderConfigFile, '/etc/kubernetes/providers.yaml');
    assert.equal(fromFlags.credentialProviderBinDir, '/plugins');
    const fromEnv = registryConfig(
      readFlags([], {
        VAULT_INJECT_REGISTRY_CREDENTIAL_PROVIDER_CONFIG: '/c.yaml',
        VAULT_INJECT_REGISTRY_CREDENTIAL_PROVIDER_BIN_DIR: '/bin-dir',
      }).flags,
    );
    assert.equal(fromEnv.credentialProviderConfigFile, '/c.yaml');
    assert.equal(fromEnv.credentialProviderBinDir, '/bin-dir');
    assert.equal(registryConfig(readFlags([], {}).flags).credentialProviderConfigFile, '');
  });

  it('one without the other is refused, naming the missing flag', () => {
    assert.throws(
      () => registryConfig(readFlags(['--registry-credential-provider-config=/c.yaml'], {}).flags),
      /registry-credential-provider-bin-dir.*needed with the other credential provider flag/,
    );
    assert.throws(
      () => registryConfig(readFlags(['--registry-credential-provider-bin-dir=/p'], {}).flags),
      /registry-credential-provider-config.*needed with the other credential provider flag/,
    );
  });
});
