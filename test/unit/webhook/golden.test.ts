// Golden AdmissionReview fixtures: each directory of test/fixtures/admission holds review.json
// (the request), optionally flags.json (webhook flags), and the expected response.json (with the
// patch decoded in place), patch.json and pod-after.json (the request's object with the patch
// applied). UPDATE_GOLDEN=1 rewrites the expected files; the default run compares.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fjp from 'fast-json-patch';
import { admissionApp, decodePatch, FIXTURES, harness } from './helpers.ts';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const cases = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(new URL(`${d.name}/review.json`, FIXTURES)))
  .map((d) => d.name)
  .sort();

function golden(dir: URL, name: string, actual: unknown): void {
  const file = new URL(name, dir);
  const text = `${JSON.stringify(actual, null, 2)}\n`;
  if (UPDATE) {
    writeFileSync(file, text);
    return;
  }
  assert.ok(existsSync(file), `${name} is missing; run with UPDATE_GOLDEN=1 to create it`);
  assert.deepEqual(actual, JSON.parse(readFileSync(file, 'utf8')), `${name} differs`);
}

describe('golden admission reviews', () => {
  for (const name of cases) {
    it(name, async () => {
      const dir = new URL(`${name}/`, FIXTURES);
      const review = JSON.parse(readFileSync(new URL('review.json', dir), 'utf8'));
      const flagsFile = new URL('flags.json', dir);
      const flags = existsSync(flagsFile) ? JSON.parse(readFileSync(flagsFile, 'utf8')) : {};
      const app = admissionApp(harness(flags));
      const res = await app.inject({ method: 'POST', url: '/mutate', payload: review });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.response.uid, review.request.uid, 'the response echoes the uid');
      const patch = decodePatch(body.response.patch);
      if (body.response.patch !== undefined) body.response.patch = patch;
      golden(dir, 'response.json', body);
      golden(dir, 'patch.json', patch);
      const after = fjp.applyPatch(
        structuredClone(review.request.object),
        patch as fjp.Operation[],
        true,
        false,
      ).newDocument;
      golden(dir, 'pod-after.json', after);

      // Mutating the result again changes nothing (reinvocationPolicy: IfNeeded).
      const again = structuredClone(review);
      again.request.object = after;
      const res2 = await app.inject({ method: 'POST', url: '/mutate', payload: again });
      assert.equal(res2.json().response.patch, undefined, 'a second mutation yields no patch');
      await app.close();
    });
  }
});
