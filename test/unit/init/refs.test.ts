import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  MalformedReferenceError,
  MissingKeyError,
  TemplateError,
  describeRef,
  hasReference,
  parseEnvValue,
  parseValue,
  referencesOf,
  selectKey,
  type ParsedValue,
} from '../../../init-binary/src/contract/index.ts';

describe('parseValue: accepted forms', () => {
  const table: [string, ParsedValue][] = [
    ['plain text', { kind: 'plain' }],
    ['', { kind: 'plain' }],
    ['${HOME}/x', { kind: 'plain' }],
    ['xvault:secret#a', { kind: 'plain' }],
    [
      'vault:secret/data/app#DB_PASSWORD',
      {
        kind: 'whole',
        ref: { kind: 'read', path: 'secret/data/app', key: { kind: 'key', name: 'DB_PASSWORD' } },
      },
    ],
    [
      'vault:/secret/app/#tls.crt',
      {
        kind: 'whole',
        ref: { kind: 'read', path: 'secret/app', key: { kind: 'key', name: 'tls.crt' } },
      },
    ],
    [
      'vault:secret/data/app#DB_PASSWORD#3',
      {
        kind: 'whole',
        ref: {
          kind: 'read',
          path: 'secret/data/app',
          key: { kind: 'key', name: 'DB_PASSWORD' },
          version: 3,
        },
      },
    ],
    [
      'vault:secret/app#${.user | upper | b64enc}:${ .pass }',
      {
        kind: 'whole',
        ref: {
          kind: 'read',
          path: 'secret/app',
          key: {
            kind: 'template',
            source: '${.user | upper | b64enc}:${ .pass }',
            parts: [
              {
                kind: 'field',
                name: 'user',
                functions: [
                  { name: 'upper', args: [] },
                  { name: 'b64enc', args: [] },
                ],
              },
              { kind: 'text', text: ':' },
              { kind: 'field', name: 'pass', functions: [] },
            ],
          },
        },
      },
    ],
    [
      '>>vault:database/creds/app#username',
      {
        kind: 'whole',
        ref: {
          kind: 'write',
          path: 'database/creds/app',
          key: { kind: 'key', name: 'username' },
          body: {},
        },
      },
    ],
    [
      '>>vault:pki/issue/app#certificate#{"common_name":"a#b.example"}',
      {
        kind: 'whole',
        ref: {
          kind: 'write',
          path: 'pki/issue/app',
          key: { kind: 'key', name: 'certificate' },
          body: { common_name: 'a#b.example' },
        },
      },
    ],
    [
      'vault:v1:8SDd3WHDOjf7mq69CyCqYjBXAiQQAVZRkFM13ok481zoCmHnSeDX9vyf7w==',
      {
        kind: 'whole',
        ref: {
          kind: 'transit',
          ciphertext: 'vault:v1:8SDd3WHDOjf7mq69CyCqYjBXAiQQAVZRkFM13ok481zoCmHnSeDX9vyf7w==',
        },
      },
    ],
    [
      'postgres://${vault:db/creds/app#username}:${>>vault:db/creds/app#password#{"a":{"b":"}"}}}@db:5432/app',
      {
        kind: 'inline',
        parts: [
          { kind: 'text', text: 'postgres://' },
          {
            kind: 'ref',
            ref: { kind: 'read', path: 'db/creds/app', key: { kind: 'key', name: 'username' } },
          },
          { kind: 'text', text: ':' },
          {
            kind: 'ref',
            ref: {
              kind: 'write',
              path: 'db/creds/app',
              key: { kind: 'key', name: 'password' },
              body: { a: { b: '}' } },
            },
          },
          { kind: 'text', text: '@db:5432/app' },
        ],
      },
    ],
  ];
  for (const [input, expected] of table) {
    it(JSON.stringify(input), () => assert.deepEqual(parseValue(input), expected));
  }
});

describe('parseValue: rejected forms name the problem', () => {
  const table: [string, RegExp][] = [
    ['vault:secret/app', /missing "#KEY"/],
    ['vault:#key', /path is empty/],
    ['vault:secret//app#k', /empty, "\." or "\.\." segment/],
    ['vault:secret/../x#k', /"\.\." segment/],
    ['vault:secret/app#', /key after "#" is empty/],
    ['vault:secret/app#a b', /holds a space/],
    ['vault:secret/app?version=1#k', /holds "\?", "#" or "%" \(a query, a fragment or an escape/],
    ['vault:secret/a%2Fb#k', /holds "\?", "#" or "%"/],
    ['>>vault:pki/issue/x?y#certificate', /holds "\?", "#" or "%"/],
    ['vault:secret/app#k#0', /not a positive whole number/],
    ['vault:secret/app#k#latest', /not a positive whole number/],
    ['>>vault:pki/issue/x#certificate#{oops', /not valid JSON/],
    ['>>vault:pki/issue/x#certificate#[1]', /must be a JSON object/],
    [
      'vault:secret/app#${.a | sha1}',
      /unknown template function "sha1" \(known: b64enc, b64dec, upper, lower, trim, default, quote, replace, title, trimPrefix, trimSuffix, urlquery, sha256sum\)/,
    ],
    ['vault:secret/app#${a}', /must start with "\.KEY"/],
    ['vault:secret/app#${.a', /no closing/],
    ['vault:v1:', /non-empty base64/],
    ['vault:login', /only valid as the value of VAULT_TOKEN/],
    ['x=${vault:secret/app#a', /no closing "}"/],
    ['x=${vault:login}', /only valid as the whole value of VAULT_TOKEN/],
  ];
  for (const [input, problem] of table) {
    it(JSON.stringify(input), () => {
      assert.throws(
        () => parseEnvValue('APP_SETTING', input),
        (err: unknown) => {
          assert.ok(err instanceof MalformedReferenceError);
          assert.equal(err.code, 'E_REFERENCE');
          assert.match(err.message, problem);
          return true;
        },
      );
    });
  }
});

describe('parseEnvValue', () => {
  it('accepts vault:login only for VAULT_TOKEN', () => {
    assert.deepEqual(parseEnvValue('VAULT_TOKEN', 'vault:login'), {
      kind: 'whole',
      ref: { kind: 'login' },
    });
  });
});

describe('hasReference agrees with parseValue', () => {
  it('for arbitrary strings', () => {
    const pieces = fc.constantFrom(
      'vault:',
      '>>vault:',
      '${vault:',
      '${>>vault:',
      '#',
      '}',
      '{',
      'a',
      '/',
      '${',
      '.',
      '|',
      '"',
      ' ',
      '1',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(pieces).map((a) => a.join('')),
        ),
        (s) => {
          let parsed: ParsedValue | undefined;
          try {
            parsed = parseValue(s);
          } catch (err) {
            // Any failure must be our typed error, and only for a value that holds a reference.
            assert.ok(err instanceof MalformedReferenceError, `unexpected ${String(err)}`);
            assert.ok(hasReference(s));
            return;
          }
          assert.equal(parsed.kind !== 'plain', hasReference(s));
          if (parsed.kind !== 'plain') assert.ok(referencesOf(parsed).length > 0);
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe('selectKey', () => {
  const data = {
    user: 'alice',
    pass: ' s3cret ',
    n: 42,
    obj: { a: 1 },
    b64: 'aGVsbG8=',
    mixed: ' MiXeD ',
  };
  const cases: [string, string][] = [
    ['vault:p#user', 'alice'],
    ['vault:p#n', '42'],
    ['vault:p#obj', '{"a":1}'],
    ['vault:p#${.user|upper}:${.pass|trim|b64enc}', 'ALICE:czNjcmV0'],
    ['vault:p#${.b64 | b64dec}', 'hello'],
    ['vault:p#${.mixed | lower}', ' mixed '],
    ['vault:p#${.mixed|trim|lower}', 'mixed'],
    ['vault:p#${.user | b64enc}', 'YWxpY2U='],
    ['vault:p#${.user | b64enc | b64dec | upper}', 'ALICE'],
  ];
  for (const [ref, expected] of cases) {
    it(ref, () => {
      const parsed = parseValue(ref);
      assert.equal(parsed.kind, 'whole');
      const r = referencesOf(parsed)[0];
      assert.ok(r?.kind === 'read');
      assert.equal(selectKey(r.key, data, r.path), expected);
    });
  }
  it('names the path and key of a missing key, never a value', () => {
    const parsed = parseValue('vault:secret/app#missing');
    const r = referencesOf(parsed)[0];
    assert.ok(r?.kind === 'read');
    assert.throws(
      () => selectKey(r.key, data, r.path),
      (err: unknown) => {
        assert.ok(err instanceof MissingKeyError);
        assert.equal(err.message, 'key "missing" not found in secret/app');
        return true;
      },
    );
  });
  it('b64dec rejects non-base64 with a TemplateError that holds no value', () => {
    const r = referencesOf(parseValue('vault:p#${.user | b64dec}'))[0];
    assert.ok(r?.kind === 'read');
    assert.throws(
      () => selectKey(r.key, { user: 'not*base64' }, 'p'),
      (err: unknown) => {
        assert.ok(err instanceof TemplateError);
        assert.doesNotMatch(err.message, /not\*base64/);
        return true;
      },
    );
  });
});

describe('describeRef', () => {
  it('never includes a write body or a ciphertext', () => {
    const refs = referencesOf(
      parseValue('a${>>vault:pki/issue/x#certificate#{"common_name":"cn"}}b${vault:v1:QUJD}'),
    );
    assert.deepEqual(refs.map(describeRef), [
      '>>vault:pki/issue/x#certificate',
      'transit ciphertext',
    ]);
  });
});
