import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  defaultAgentTemplate,
  parseAgentTemplate,
  type SecretCall,
} from '../../../init-binary/src/contract/agent-template.ts';
import {
  renderAgentTemplate,
  type SecretAnswer,
} from '../../../init-binary/src/contract/agent-render.ts';
import { TemplateError } from '../../../init-binary/src/contract/errors.ts';

const CANARY = 'canary-agent-4b1d';

/** A KV v2 answer as OpenBao gives it (`data.data`, `data.metadata`). */
const KV2 = {
  data: { user: 'app', password: CANARY, 'with-dash': 'd' },
  metadata: {
    created_time: '2026-01-01T00:00:00Z',
    custom_metadata: null,
    deletion_time: '',
    destroyed: false,
    version: 3,
  },
};
const PKI = {
  certificate: 'CERT',
  private_key: 'KEY',
  issuing_ca: 'CA',
  ca_chain: ['CA', 'ROOT'],
  serial_number: '01:02',
};

const answer = (data: unknown): SecretAnswer => ({
  Data: data,
  LeaseID: '',
  LeaseDuration: 0,
  Renewable: false,
});

/** Renders `src` with each path's answer (`path` → data); a call with parameters by its id. */
function render(src: string, byPath: Record<string, unknown>): string {
  const t = parseAgentTemplate(src);
  const answers = new Map<string, SecretAnswer>();
  for (const c of t.calls) {
    const data = byPath[c.path];
    if (data !== undefined) answers.set(c.id, answer(data));
  }
  return renderAgentTemplate(t, answers);
}

function rejects(src: string, pattern: RegExp): void {
  assert.throws(
    () => parseAgentTemplate(src),
    (err: unknown) => err instanceof TemplateError && pattern.test(err.message),
  );
}

describe('Vault Agent templates: rendering', () => {
  // Each expected text is what Go's text/template prints for the same data (vault-k8s renders
  // with consul-template, which uses text/template): maps as map[k:v] with sorted keys.
  const cases: readonly (readonly [string, string, Record<string, unknown>, string])[] = [
    [
      'with secret, a KV v2 key',
      '{{ with secret "secret/data/db" }}user={{ .Data.data.user }}{{ end }}',
      { 'secret/data/db': KV2 },
      'user=app',
    ],
    [
      'the default template on KV v2 (vault-k8s agent-inject-secret without a template)',
      defaultAgentTemplate('secret/data/db'),
      { 'secret/data/db': KV2 },
      `data: map[password:${CANARY} user:app with-dash:d]\nmetadata: map[created_time:2026-01-01T00:00:00Z custom_metadata:<nil> deletion_time: destroyed:false version:3]\n`,
    ],
    [
      'the default template on KV v1',
      defaultAgentTemplate('kv/db'),
      { 'kv/db': { user: 'app', port: 5432 } },
      'port: 5432\nuser: app\n',
    ],
    [
      'range $k, $v over .Data.data, sorted keys',
      '{{ with secret "secret/data/db" }}{{ range $k, $v := .Data.data }}{{ $k }}={{ $v }};{{ end }}{{ end }}',
      { 'secret/data/db': KV2 },
      `password=${CANARY};user=app;with-dash=d;`,
    ],
    [
      'range $v over a list, and range with dot',
      '{{ with secret "pki/cert" }}{{ range $v := .Data.ca_chain }}[{{ $v }}]{{ end }}{{ range .Data.ca_chain }}<{{ . }}>{{ end }}{{ end }}',
      { 'pki/cert': PKI },
      '[CA][ROOT]<CA><ROOT>',
    ],
    [
      'trimming {{- and -}}',
      'a  \n  {{- with secret "secret/data/db" -}}  \n  {{ .Data.data.user }}  \n{{- end -}}\n  b',
      { 'secret/data/db': KV2 },
      'aappb',
    ],
    [
      'the export form of .env files',
      '{{- with secret "secret/data/db" -}}\n{{ range $k, $v := .Data.data -}}\nexport {{ $k }}="{{ $v }}"\n{{ end -}}\n{{- end }}',
      { 'secret/data/db': { data: { A: '1', B: '2' }, metadata: {} } },
      'export A="1"\nexport B="2"\n',
    ],
    [
      'printf',
      '{{ with secret "secret/data/db" }}{{ printf "postgres://%s:%s@db:%d/x%%" .Data.data.user .Data.data.user 5432 }}{{ end }}',
      { 'secret/data/db': KV2 },
      'postgres://app:app@db:5432/x%',
    ],
    [
      'base64Encode and base64Decode in pipelines',
      '{{ with secret "secret/data/db" }}{{ .Data.data.user | base64Encode }} {{ "YXBw" | base64Decode }}{{ end }}',
      { 'secret/data/db': KV2 },
      'YXBw app',
    ],
    [
      'toJSON (Go: sorted keys, HTML escaped) and toJSONPretty',
      '{{ with secret "secret/data/j" }}{{ .Data.data | toJSON }}\n{{ toJSONPretty .Data.data }}{{ end }}',
      { 'secret/data/j': { data: { b: '<&>', a: [1, true] }, metadata: {} } },
      '{"a":[1,true],"b":"\\u003c\\u0026\\u003e"}\n{\n  "a": [\n    1,\n    true\n  ],\n  "b": "\\u003c\\u0026\\u003e"\n}',
    ],
    [
      'PKI issue: a write with parameters',
      '{{ with secret "pki/issue/web" "common_name=app.example" "ttl=1h" }}{{ .Data.certificate }}\n{{ .Data.private_key }}\n{{ .Data.issuing_ca }}{{ end }}',
      { 'pki/issue/web': PKI },
      'CERT\nKEY\nCA',
    ],
    [
      'index for keys that are no identifiers',
      '{{ with secret "secret/data/db" }}{{ index .Data.data "with-dash" }}{{ end }}',
      { 'secret/data/db': KV2 },
      'd',
    ],
    [
      'if / else if / else, variables, $ and comments',
      '{{/* a comment */}}{{ with secret "secret/data/db" }}{{ $u := .Data.data.user }}{{ if .Data.data.nope }}no{{ else if $u }}{{ $u | toUpper }}{{ else }}none{{ end }}{{ end }}',
      { 'secret/data/db': KV2 },
      'APP',
    ],
    [
      'with ... else on an empty value',
      '{{ with secret "secret/data/db" }}{{ with .Data.data.nope }}x{{ else }}fallback{{ end }}{{ end }}',
      { 'secret/data/db': KV2 },
      'fallback',
    ],
    [
      'eq, ne, not, and, or, len in conditions',
      '{{ with secret "secret/data/db" }}{{ if eq .Data.data.user "x" "app" }}a{{ end }}{{ if ne .Data.data.user "app" }}b{{ end }}{{ if not .Data.data.nope }}c{{ end }}{{ if and .Data.data.user (or .Data.data.nope "y") }}d{{ end }}{{ len .Data.data }}{{ end }}',
      { 'secret/data/db': KV2 },
      'acd3',
    ],
    [
      'join, split, replaceAll in consul-template order',
      '{{ with secret "pki/cert" }}{{ .Data.ca_chain | join "," }} {{ "a:b" | split ":" | join "+" }} {{ .Data.serial_number | replaceAll ":" "-" }}{{ end }}',
      { 'pki/cert': PKI },
      'CA,ROOT a+b 01-02',
    ],
    [
      'metadata fields',
      '{{ with secret "secret/data/db" }}v{{ .Data.metadata.version }}{{ end }}',
      { 'secret/data/db': KV2 },
      'v3',
    ],
  ];
  for (const [name, src, data, expected] of cases) {
    it(name, () => assert.equal(render(src, data), expected));
  }

  it('makes each distinct secret call once, parameters telling calls apart', () => {
    const t = parseAgentTemplate(
      '{{ with secret "a/b" }}{{ end }}{{ with secret "a/b" }}{{ end }}{{ with secret "pki/issue/r" "common_name=x" }}{{ end }}',
    );
    const calls: readonly SecretCall[] = t.calls;
    assert.deepEqual(
      calls.map((c) => [c.path, c.params]),
      [
        ['a/b', undefined],
        ['pki/issue/r', { common_name: 'x' }],
      ],
    );
  });

  it('fails on a missing key naming the expression, never a value', () => {
    assert.throws(
      () =>
        render('{{ with secret "secret/data/db" }}{{ .Data.data.pasword }}{{ end }}', {
          'secret/data/db': KV2,
        }),
      (err: unknown) =>
        err instanceof TemplateError &&
        err.message.includes('.Data.data.pasword') &&
        !err.message.includes(CANARY),
    );
  });

  it('fails on base64Decode of something not base64, without quoting it', () => {
    assert.throws(
      () =>
        render(
          '{{ with secret "secret/data/db" }}{{ .Data.data.password | base64Decode }}{{ end }}',
          { 'secret/data/db': KV2 },
        ),
      (err: unknown) => err instanceof TemplateError && !err.message.includes(CANARY),
    );
  });
});

describe('Vault Agent templates: what is refused, naming the construct', () => {
  const cases: readonly (readonly [string, string, RegExp])[] = [
    [
      'an unknown function',
      '{{ with secret "a" }}{{ .Data.x | sha256Hex }}{{ end }}',
      /"sha256Hex" is not supported/,
    ],
    ['define', '{{ define "x" }}a{{ end }}', /"define" is not supported/],
    ['template', '{{ template "x" }}', /"template" is not supported/],
    ['a printf verb we do not have', '{{ printf "%08.3f" 1 }}', /printf verb "%0"/],
    ['an unclosed action', 'a {{ .x', /never closed/],
    ['an unclosed block', '{{ with secret "a" }}x', /never closed with \{\{ end \}\}/],
    ['a stray end', 'x{{ end }}', /without a block/],
    ['secret with a non-literal path', '{{ with secret .x }}{{ end }}', /literal strings only/],
    [
      'secret with a parameter not key=value',
      '{{ with secret "pki/issue/r" "cn" }}{{ end }}',
      /not key=value/,
    ],
    ['secret with a ".." path', '{{ with secret "secret/../sys/x" }}{{ end }}', /".." segment/],
    ['a pipe into a non-function', '{{ "a" | "b" }}', /not a function/],
    ['a variable never declared', '{{ $nope }}', /\$nope is used but never declared/],
    [
      'a variable used outside the block declaring it',
      '{{ range $k, $v := .x }}{{ end }}{{ $k }}',
      /\$k is used but never declared/,
    ],
    ['an unknown character', '{{ .a + .b }}', /unsupported construct/],
  ];
  for (const [name, src, pattern] of cases) {
    it(name, () => rejects(src, pattern));
  }
});
