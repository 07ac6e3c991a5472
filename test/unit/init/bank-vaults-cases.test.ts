// vault-sdk v0.12.0's parser cases, ported as data: which values are transit ciphertexts
// (vault/transit_test.go, TestIsEncrypted). Where ours refuses a value Bank-Vaults would pass on
// to a read, the case says so (docs/references.md, "Beside Bank-Vaults").
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MalformedReferenceError } from '../../../init-binary/src/contract/errors.ts';
import { parseValue } from '../../../init-binary/src/contract/references.ts';

interface IsEncryptedCase {
  /** vault/transit_test.go TestIsEncrypted: `value` and `valid` as upstream. */
  readonly value: string;
  readonly valid: boolean;
  /** What ours makes of it: a transit ciphertext, a read, or a malformed reference (exit 78). */
  readonly ours: 'transit' | 'read' | RegExp;
  readonly note?: string;
}

const IS_ENCRYPTED: readonly IsEncryptedCase[] = [
  {
    value: 'vault:v1:8SDd3WHDOjf7mq69CyCqYjBXAiQQAVZRkFM13ok481zoCmHnSeDX9vyf7w==',
    valid: true,
    ours: 'transit',
  },
  { value: 'vault:v100:aGVsbG8=', valid: true, ours: 'transit' },
  // Not a ciphertext upstream either; then read as a path without "#KEY", which fails there too.
  { value: 'vault:', valid: false, ours: /missing "#KEY" after the path/ },
  { value: 'vault:v0', valid: false, ours: /missing "#KEY" after the path/ },
  {
    value: 'vault:v0:',
    valid: false,
    ours: /transit ciphertext after "vault:vN:" must be non-empty base64/,
    note: 'upstream: not a ciphertext, then a path "v0:" without a key (fails at start); ours: an empty ciphertext, denied at admission',
  },
  { value: 'vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY', valid: false, ours: 'read' },
  {
    value: 'vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY#version',
    valid: false,
    ours: /the version "version" is not a positive whole number/,
    note: 'upstream: a read with ?version=version (Vault answers an error); ours: denied at admission',
  },
];

describe('vault-sdk vault/transit_test.go TestIsEncrypted', () => {
  for (const c of IS_ENCRYPTED) {
    it(`${c.value} (upstream valid: ${c.valid})`, () => {
      if (c.ours instanceof RegExp) {
        assert.equal(c.valid, false, 'only values upstream does not decrypt are refused');
        assert.throws(
          () => parseValue(c.value),
          (err: unknown) =>
            err instanceof MalformedReferenceError && (c.ours as RegExp).test(err.message),
        );
        return;
      }
      const parsed = parseValue(c.value);
      assert.ok(parsed.kind === 'whole');
      assert.equal(parsed.ref.kind, c.ours);
      assert.equal(parsed.ref.kind === 'transit', c.valid);
    });
  }
});
