// A test file whose test fails with the end-to-end harness's stack running, for
// failure-logs.test.ts (not a test itself: it does not match *.test.ts).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { useStack } from '../../e2e/harness.ts';

useStack();

it('fails on purpose', () => {
  assert.fail('deliberate failure');
});
