// The contract's value parsers (Go's time.ParseDuration and strconv.ParseBool, the list form), and
// the agreement they exist for: a duration, boolean or list reads the same as a webhook flag, as
// an annotation and as the init program's setting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBool, parseConfig, parseDurationSetting } from '../../../init-binary/src/config.ts';
import {
  MalformedReferenceError,
  parseBoolean,
  parseDurationMs,
  parseList,
  parseValue,
  pathProblem,
  pathSettingProblem,
} from '../../../init-binary/src/contract/index.ts';
import { injectionConfig, parseDuration, readFlags } from '../../../webhook/src/config.ts';
import { CLIENT_TIMEOUT } from '../../../webhook/src/mutation/annotations.ts';
import { podSettings } from '../../../webhook/src/mutation/pod-settings.ts';
import type { Pod } from '../../../webhook/src/mutation/types.ts';

describe('parseDurationMs: Go durations and plain seconds', () => {
  const ok: [string, number][] = [
    ['10s', 10_000],
    ['1.5s', 1500],
    ['2m1h', 3_720_000],
    ['1h2m', 3_720_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['1000000ns', 1],
    ['.5s', 500],
    ['1.s', 1000],
    ['1h1h', 7_200_000],
    ['0', 0],
    ['0s', 0],
    ['30', 30_000],
    ['2.5', 2500],
  ];
  for (const [text, ms] of ok)
    it(`${text} is ${ms} ms`, () => assert.equal(parseDurationMs(text), ms));
  const bad = [
    '',
    's',
    '1',
    '10 seconds',
    '-1s',
    '+1s',
    '1d',
    '1s ',
    ' 1s',
    '1..5s',
    '.s',
    '1sm',
    'ms',
  ];
  // '1' is a plain number of seconds, so it is taken out of the bad list.
  for (const text of bad.filter((t) => t !== '1')) {
    it(`${JSON.stringify(text)} is refused`, () => assert.equal(parseDurationMs(text), undefined));
  }
  it('takes linear time on a long run of terms (no backtracking blow-up)', () => {
    const text = '1s'.repeat(100_000);
    assert.equal(parseDurationMs(text), 100_000_000);
    assert.equal(parseDurationMs(`${text}x`), undefined);
  });
});

describe('parseBoolean: strconv.ParseBool', () => {
  for (const t of ['1', 't', 'T', 'true', 'TRUE', 'True'])
    it(t, () => assert.equal(parseBoolean(t), true));
  for (const f of ['0', 'f', 'F', 'false', 'FALSE', 'False'])
    it(f, () => assert.equal(parseBoolean(f), false));
  for (const x of ['', 'yes', 'tRuE', ' true', 'on', '2']) {
    it(`${JSON.stringify(x)} is refused`, () => assert.equal(parseBoolean(x), undefined));
  }
});

describe('parseList', () => {
  it('trims items and drops empty ones', () => {
    assert.deepEqual(parseList(' a, b ,,c,'), ['a', 'b', 'c']);
    assert.deepEqual(parseList(''), []);
    assert.deepEqual(parseList(undefined), []);
  });
});

/** Whether the webhook admits `value` as the client-timeout annotation. */
function annotationAccepts(value: string): boolean {
  const flags = readFlags([], {}).flags;
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', annotations: { [CLIENT_TIMEOUT.key]: value } },
    spec: { containers: [{ name: 'app', image: 'app:1' }] },
  };
  try {
    podSettings(pod, injectionConfig(flags), []);
    return true;
  } catch {
    return false;
  }
}

function initAccepts(value: string): number | undefined {
  try {
    return parseConfig({ VAULT_CLIENT_TIMEOUT: value }).clientTimeoutMs;
  } catch {
    return undefined;
  }
}

describe('one duration syntax for webhook flags, annotations and the init program', () => {
  const texts = [
    '1.5s',
    '30',
    '2m1h',
    '1m30s',
    '500ms',
    '10s',
    '0s',
    '0',
    'abc',
    '-1s',
    '10 seconds',
    '1d',
  ];
  for (const text of texts) {
    it(JSON.stringify(text), () => {
      const flag = parseDuration(text);
      const init = initAccepts(text);
      // A flag may be zero (e.g. no shutdown delay); the client timeout must be positive.
      assert.equal(init, flag === undefined || flag === 0 ? undefined : flag);
      assert.equal(annotationAccepts(text), init !== undefined);
    });
  }
  it('the cases that disagreed before: 1.5s, 30 and 2m1h as a webhook flag', () => {
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('30'), 30_000);
    assert.equal(parseDuration('2m1h'), 3_720_000);
    assert.equal(parseDurationSetting('X', '2m1h'), 3_720_000);
  });
});

describe('one boolean syntax', () => {
  it('the init program reads what the annotations read', () => {
    for (const t of ['1', 't', 'T', 'true', 'TRUE', 'True'])
      assert.equal(parseBool('X', t, false), true);
    assert.throws(() => parseBool('X', 'yes', false), /X "yes" is not a boolean/);
  });
});

describe('pathProblem / pathSettingProblem: one rule set for references and path settings', () => {
  it('names the problem, or nothing for a usable path', () => {
    assert.equal(pathProblem('secret/data/app'), undefined);
    assert.equal(pathProblem(''), 'is empty');
    assert.match(pathProblem('a/../b') ?? '', /"\.\." segment/);
    assert.match(pathProblem('a\u001bb') ?? '', /control character/);
    assert.match(pathProblem('a b') ?? '', /space/);
    assert.match(pathProblem('a?b') ?? '', /query/);
  });
  it('quotes the setting as JSON and cuts a long one', () => {
    assert.equal(pathSettingProblem('X', '/ok/'), undefined);
    const long = `${'a/'.repeat(100)}..`;
    const line = pathSettingProblem('X', long) ?? '';
    assert.ok(line.startsWith('X "a/a/'));
    assert.ok(line.length < 200, line);
  });
  it('is the rule a reference path gets', () => {
    for (const path of ['a/../b', 'a\u0007b', 'a//b', 'a%2Fb']) {
      assert.throws(() => parseValue(`vault:${path}#k`), MalformedReferenceError, path);
      assert.notEqual(pathProblem(path), undefined, path);
    }
  });
});
