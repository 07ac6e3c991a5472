// VAULT_FLAVOR picks the server binary of every test that starts one (test/env/openbao.ts):
// `vault` means HashiCorp Vault or a clear error, never a silent OpenBao; `openbao` (the default)
// means bao. Runs the real components script for the answers.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { baoPath } from '../../env/openbao.ts';

const saved = { ...process.env };

afterEach(() => {
  for (const name of [
    'VAULT_FLAVOR',
    'VAULT_INJECT_VAULT',
    'VAULT_INJECT_BAO',
    'VAULT_INJECT_CACHE',
  ]) {
    const value = saved[name];
    if (value === undefined) Reflect.deleteProperty(process.env, name);
    else process.env[name] = value;
  }
});

describe('VAULT_FLAVOR', () => {
  it('openbao or unset: the cached bao', () => {
    delete process.env['VAULT_INJECT_BAO'];
    delete process.env['VAULT_FLAVOR'];
    assert.match(baoPath(), /\/openbao\/[^/]+\/bin\/bao$/);
    process.env['VAULT_FLAVOR'] = 'openbao';
    assert.match(baoPath(), /\/openbao\/[^/]+\/bin\/bao$/);
  });

  it('vault: the Vault binary it is given', () => {
    process.env['VAULT_FLAVOR'] = 'vault';
    process.env['VAULT_INJECT_VAULT'] = '/opt/vault/bin/vault';
    assert.equal(baoPath(), '/opt/vault/bin/vault');
  });

  it('vault without a built Vault: an error that says why, not OpenBao', () => {
    process.env['VAULT_FLAVOR'] = 'vault';
    delete process.env['VAULT_INJECT_VAULT'];
    // An empty cache: the answer does not depend on whether this machine ever built Vault.
    process.env['VAULT_INJECT_CACHE'] = mkdtempSync(path.join(tmpdir(), 'vault-inject-no-cache-'));
    assert.throws(
      baoPath,
      /VAULT_FLAVOR=vault: HashiCorp Vault is not available .*vault: not present/s,
    );
  });

  it('anything else: an error naming the choices', () => {
    process.env['VAULT_FLAVOR'] = 'consul';
    assert.throws(baoPath, /VAULT_FLAVOR must be openbao \(the default\) or vault, not "consul"/);
  });
});
