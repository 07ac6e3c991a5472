// Parsing is linear in the length of the value, counted (not timed): every String#indexOf the
// parser makes is measured by the characters it scans, from where it starts to where it stops.
// Searching for `${>>vault:` from every reference made a value of many `${vault:` references
// quadratic (each search ran to the end). And the bounds: references per value and per budget.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_REFERENCES_PER_VALUE,
  MalformedReferenceError,
  ReferenceBudget,
  TooManyReferencesError,
  parseEnvValue,
  parseValue,
  referencesOf,
} from '../../../init-binary/src/contract/index.ts';
import { findReferences } from '../../../init-binary/src/env.ts';
import { ConfigError, exitCodeOf } from '../../../init-binary/src/errors.ts';

/** Characters scanned by String#indexOf while `fn` runs (where each search starts to where it stops). */
function scanned(fn: () => void): number {
  const indexOf = String.prototype.indexOf;
  let work = 0;
  String.prototype.indexOf = function (this: string, search: string, from?: number): number {
    const start = Math.max(0, Math.min(from ?? 0, this.length));
    const found = indexOf.call(this, search, start);
    work += (found < 0 ? this.length : found + search.length) - start;
    return found;
  };
  try {
    fn();
  } finally {
    String.prototype.indexOf = indexOf;
  }
  return work;
}

const inline = (n: number, ref = '${vault:secret/data/app#key}'): string =>
  `postgres://${`x${ref}`.repeat(n)}/db`;

describe('parsing work grows linearly with the value', () => {
  it('many inline reads: scans at most a few times the length, doubling the value doubles it', () => {
    const half = inline(MAX_REFERENCES_PER_VALUE / 2);
    const full = inline(MAX_REFERENCES_PER_VALUE);
    let refs = 0;
    const workHalf = scanned(() => void parseValue(half));
    const workFull = scanned(() => {
      refs = referencesOf(parseValue(full)).length;
    });
    assert.equal(refs, MAX_REFERENCES_PER_VALUE);
    assert.ok(workFull <= 3 * full.length, `${workFull} characters scanned for ${full.length}`);
    assert.ok(workFull / workHalf < 2.2, `work ${workHalf} → ${workFull} when the value doubled`);
  });

  it('many inline writes, and reads and writes mixed, the same', () => {
    for (const value of [
      inline(800, '${>>vault:sys/tools/random/8#random_bytes}'),
      `${inline(400)}${inline(400, '${>>vault:sys/tools/random/8#random_bytes}')}`,
    ]) {
      const work = scanned(() => void parseValue(value));
      assert.ok(work <= 3 * value.length, `${work} characters scanned for ${value.length}`);
    }
  });

  it("the issue's value of 80,000 inline references, without the per-value bound", () => {
    const value = inline(80_000);
    let refs = 0;
    const work = scanned(() => {
      refs = referencesOf(parseValue(value, { maxPerValue: Infinity })).length;
    });
    assert.equal(refs, 80_000);
    assert.ok(work <= 3 * value.length, `${work} characters scanned for ${value.length}`);
  });
});

describe('bounds', () => {
  it(`a value holds at most ${MAX_REFERENCES_PER_VALUE} references, and parsing stops there`, () => {
    const value = inline(80_000);
    let error: unknown;
    const work = scanned(() => {
      try {
        parseValue(value);
      } catch (err) {
        error = err;
      }
    });
    assert.ok(error instanceof TooManyReferencesError);
    assert.ok(error instanceof MalformedReferenceError, 'reported like any malformed value');
    assert.equal(error.message, `more than ${MAX_REFERENCES_PER_VALUE} references in one value`);
    // One search for `${>>vault:` runs to the end; the rest stops at reference 1001.
    const prefix = inline(MAX_REFERENCES_PER_VALUE + 1).length;
    assert.ok(work <= value.length + 3 * prefix, `${work} characters scanned`);
    assert.equal(referencesOf(parseValue(inline(10), { maxPerValue: 10 })).length, 10);
    assert.throws(() => parseValue(inline(11), { maxPerValue: 10 }), /more than 10 references/);
  });

  it('a budget counts references across values (one pod) and stops at its bound', () => {
    const budget = new ReferenceBudget(5);
    parseValue(inline(3), { budget });
    parseEnvValue('VAULT_TOKEN', 'vault:login', { budget });
    parseValue('vault:secret/app#k', { budget });
    assert.equal(budget.used, 5);
    assert.throws(
      () => parseValue(inline(1), { budget }),
      (err: unknown) =>
        err instanceof TooManyReferencesError && err.message === 'more than 5 references in all',
    );
    parseValue('plain text', { budget });
    assert.equal(budget.used, 5, 'plain values count nothing');
  });

  it('the init program refuses a value over the bound: 78, naming the variable', () => {
    assert.throws(
      () => findReferences({ DSN: inline(MAX_REFERENCES_PER_VALUE + 1) }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(
          err.message,
          `DSN: more than ${MAX_REFERENCES_PER_VALUE} references in one value`,
        );
        assert.equal(exitCodeOf(err), 78);
        return true;
      },
    );
  });
});
