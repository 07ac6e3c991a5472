import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MalformedReferenceError } from '../../../init-binary/src/contract/errors.ts';
import { parseValue } from '../../../init-binary/src/contract/references.ts';
import { selectKey } from '../../../init-binary/src/contract/templates.ts';

/** The key selector of `vault:secret/x#TEMPLATE`. */
function keyOf(template: string) {
  const parsed = parseValue(`vault:secret/x#${template}`);
  assert.ok(parsed.kind === 'whole' && parsed.ref.kind === 'read');
  return parsed.ref.key;
}

/**
 * Template, secret data, result. Each expected result was produced by Sprig v3.3.0 in Go's
 * text/template with the delimiters Bank-Vaults uses for reference keys (`${` and `}`: vault-sdk
 * v0.12.0 utils/templater, as injector/vault/injector.go calls it), the Sprig Bank-Vaults ships.
 */
const SPRIG: readonly (readonly [string, Record<string, unknown>, string])[] = [
  ['${.x | default "a"}', { x: '' }, 'a'],
  ['${.x | default "a"}', { x: 'set' }, 'set'],
  ['${.missing | default "a"}', {}, 'a'],
  ['${.n | default "a"}', { n: 0 }, 'a'],
  ['${.b | default "a"}', { b: false }, 'a'],
  ['${.b | default "a"}', { b: true }, 'true'],
  ['${default "a" .x}', { x: '' }, 'a'],
  ['${.x | default "a" | upper}', { x: '' }, 'A'],
  [
    '${.x | quote}',
    { x: 'p"a\\ss\nword\t\u0001é😀  ' },
    '"p\\"a\\\\ss\\nword\\t\\x01é😀\\u00a0\\u2028"',
  ],
  ['${.x | replace "a" "b"}', { x: 'banana' }, 'bbnbnb'],
  ['${.x | replace "" "-"}', { x: 'abc' }, '-a-b-c-'],
  ['${.x | replace "" "-"}', { x: '' }, '-'],
  ['${.x | replace "an" ""}', { x: 'banana' }, 'ba'],
  [
    '${.x | title}',
    { x: 'hello wORLD foo_bar x-y 3d élan ßa' },
    'Hello WORLD Foo_bar X-Y 3d Élan ßa',
  ],
  ['${.x | trimPrefix "https://"}', { x: 'https://vault:8200' }, 'vault:8200'],
  ['${.x | trimPrefix "x"}', { x: 'https://vault:8200' }, 'https://vault:8200'],
  ['${.x | trimSuffix "/"}', { x: 'https://vault:8200/' }, 'https://vault:8200'],
  [
    '${.x | urlquery}',
    { x: "p@ss w/rd!*'()~-_.é+&=#%" },
    'p%40ss+w%2Frd%21%2A%27%28%29~-_.%C3%A9%2B%26%3D%23%25',
  ],
  [
    '${.x | sha256sum}',
    { x: 'secret' },
    '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b',
  ],
  ['${.x | b64enc}', { x: 'secret' }, 'c2VjcmV0'],
  ['${.x | b64dec}', { x: 'c2VjcmV0' }, 'secret'],
  ['${.x | upper}', { x: 'Secret' }, 'SECRET'],
  ['${.x | lower}', { x: 'Secret' }, 'secret'],
  ['${.x | trim}', { x: '  secret \n' }, 'secret'],
  ['${ .x | replace `\\n` "\\t" }', { x: 'a\\nb' }, 'a\tb'],
  ['${.x | replace "\\u00e9" "e"}', { x: 'élan' }, 'elan'],
  ['${.user}:${.password | urlquery}', { user: 'u', password: 'p@ss:w/rd' }, 'u:p%40ss%3Aw%2Frd'],
  ['${.x | trimPrefix ""}', { x: 'abc' }, 'abc'],
  ['${.x | trimSuffix "c" | trimSuffix "b"}', { x: 'abc' }, 'a'],
];

describe('template functions: Sprig results, argument order and pipelines', () => {
  for (const [template, data, expected] of SPRIG) {
    it(`${template} over ${JSON.stringify(data)}`, () => {
      assert.equal(selectKey(keyOf(template), data, 'secret/x'), expected);
    });
  }
});

describe('template expressions that are denied at admission (and exit 78)', () => {
  const BAD: readonly (readonly [string, RegExp])[] = [
    ['${.x | sha1sum}', /^unknown template function "sha1sum" \(known: b64enc, .*, sha256sum\)$/],
    [
      '${.x | replace "a"}',
      /^template function "replace" takes 2 string arguments before the value, not 1$/,
    ],
    [
      '${.x | default}',
      /^template function "default" takes 1 string argument before the value, not 0$/,
    ],
    [
      '${.x | upper "a"}',
      /^template function "upper" takes 0 string arguments before the value, not 1$/,
    ],
    ['${.x | default .y}', /^template function "default": argument \.y is not a string literal/],
    ['${.x | default "a}', /has no closing "/],
    ['${.x | default "\\q"}', /^template function "default": unknown escape \\q$/],
    ['${nope .x}', /must start with "\.KEY" .* or "FUNCTION \.KEY"$/],
    ['${"a" | upper}', /must start with "\.KEY"/],
  ];
  for (const [template, message] of BAD) {
    it(template, () => {
      assert.throws(
        () => keyOf(template),
        (err: unknown) => err instanceof MalformedReferenceError && message.test(err.message),
      );
    });
  }

  it('a missing key without default is still a missing key (Go prints "<no value>")', () => {
    assert.throws(() => selectKey(keyOf('${.y | upper}'), { x: 'a' }, 'secret/x'), {
      name: 'MissingKeyError',
    });
  });
});
