import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DockerConfigError,
  credentialSourceFromSecret,
  findCredential,
  parseDockerCfg,
  parseDockerConfigJson,
} from '../../../webhook/src/registry/oci/docker-config.ts';

const b64 = (text: string): string => Buffer.from(text).toString('base64');

describe('parseDockerConfigJson', () => {
  it('reads auth (base64 user:password, password may hold ":") and username/password', () => {
    const source = parseDockerConfigJson(
      'cfg',
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hub-user:pa:ss') },
          'r.example:5000': { username: 'u', password: 'p' },
          'acr.example': { identitytoken: 'refresh' },
          'tok.example': { registrytoken: 'bearer' },
        },
      }),
    );
    assert.deepEqual(
      source.entries.map((e) => [e.host, e.path, e.credential]),
      [
        ['docker.io', '', { username: 'hub-user', password: 'pa:ss' }],
        ['r.example:5000', '', { username: 'u', password: 'p' }],
        ['acr.example', '', { identityToken: 'refresh' }],
        ['tok.example', '', { registryToken: 'bearer' }],
      ],
    );
  });

  it('a config without auths has no entries', () => {
    assert.deepEqual(parseDockerConfigJson('cfg', '{"credsStore":"desktop"}').entries, []);
  });

  const bad: [string, RegExp][] = [
    ['not json', /cfg: not valid JSON/],
    ['[]', /not a JSON object/],
    ['{"auths":[]}', /"auths" is not an object/],
    ['{"auths":{"r.example":"x"}}', /entry "r.example" is not an object/],
    [
      `{"auths":{"r.example":{"auth":"${b64('nocolon')}"}}}`,
      /entry "r.example" has a malformed auth/,
    ],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${text}`, () => {
      assert.throws(
        () => parseDockerConfigJson('cfg', text),
        (e: unknown) => e instanceof DockerConfigError && message.test(e.message),
      );
    });
  }

  it('an error never holds the decoded secret', () => {
    const text = `{"auths":{"r.example":{"auth":"${b64('secretvalue')}"}}}`;
    assert.throws(
      () => parseDockerConfigJson('cfg', text),
      (e: unknown) => e instanceof Error && !e.message.includes('secretvalue'),
    );
  });
});

describe('credentialSourceFromSecret', () => {
  it('kubernetes.io/dockerconfigjson', () => {
    const source = credentialSourceFromSecret({
      metadata: { namespace: 'ns', name: 'regcred' },
      type: 'kubernetes.io/dockerconfigjson',
      data: {
        '.dockerconfigjson': b64(JSON.stringify({ auths: { 'r.example': { auth: b64('a:b') } } })),
      },
    });
    assert.equal(source?.name, 'secret ns/regcred');
    assert.deepEqual(source?.entries[0]?.credential, { username: 'a', password: 'b' });
  });

  it('legacy kubernetes.io/dockercfg', () => {
    const source = credentialSourceFromSecret({
      metadata: { namespace: 'ns', name: 'old' },
      type: 'kubernetes.io/dockercfg',
      data: {
        '.dockercfg': b64(
          JSON.stringify({ 'https://r.example': { auth: b64('a:b'), email: 'x@y' } }),
        ),
      },
    });
    assert.deepEqual(
      source?.entries.map((e) => e.host),
      ['r.example'],
    );
  });

  it('another secret type is ignored', () => {
    assert.equal(
      credentialSourceFromSecret({ type: 'Opaque', data: { '.dockerconfigjson': b64('{}') } }),
      undefined,
    );
  });
});

describe('findCredential', () => {
  const pod = parseDockerCfg('pod', JSON.stringify({ 'other.example': { auth: b64('pod:1') } }));
  const sa = parseDockerConfigJson(
    'sa',
    JSON.stringify({
      auths: {
        'r.example': { auth: b64('sa-any:1') },
        'r.example/team': { auth: b64('sa-team:1') },
        '*.wild.example': { auth: b64('sa-wild:1') },
        'ports.example:5000': { auth: b64('sa-port:1') },
        'https://index.docker.io/v1/': { auth: b64('sa-hub:1') },
      },
    }),
  );
  const table: [string, string, string | undefined][] = [
    ['r.example', 'app', 'sa-any'],
    ['r.example', 'team/app', 'sa-team'],
    ['r.example', 'teamster/app', 'sa-any'],
    ['eu.wild.example', 'app', 'sa-wild'],
    ['a.b.wild.example', 'app', undefined],
    ['ports.example:5000', 'app', 'sa-port'],
    ['ports.example', 'app', undefined],
    ['docker.io', 'library/nginx', 'sa-hub'],
    ['other.example', 'x', 'pod'],
    ['nowhere.example', 'x', undefined],
  ];
  for (const [registry, repository, expected] of table) {
    it(`${registry}/${repository} → ${expected ?? 'none'}`, () => {
      assert.equal(findCredential([pod, sa], registry, repository)?.credential.username, expected);
    });
  }

  it('the first source with a match wins, even over a more specific later one', () => {
    const first = parseDockerCfg(
      'first',
      JSON.stringify({ 'r.example': { auth: b64('first:1') } }),
    );
    assert.equal(findCredential([first, sa], 'r.example', 'team/app')?.source, 'first');
  });

  it('identity: equal credentials share it, different ones do not, and it is no hash of the password alone', () => {
    const a = findCredential([sa], 'r.example', 'app');
    const b = findCredential(
      [parseDockerCfg('x', JSON.stringify({ 'r.example': { auth: b64('sa-any:1') } }))],
      'r.example',
      'app',
    );
    const c = findCredential([sa], 'r.example', 'team/app');
    assert.equal(a?.identity, b?.identity);
    assert.notEqual(a?.identity, c?.identity);
  });
});
