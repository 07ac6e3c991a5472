// The init program's side of Vault Agent templates (init-binary/src/agent-files.ts) with a fake
// Vault: each distinct secret call made once, a call with parameters a write of them, a KV v2 path
// without data/ read as consul-template reads it, a missing secret failing (or, with
// ignore-missing, leaving its file out) without any content returned.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agentTemplates, renderAgentFiles } from '../../../init-binary/src/agent-files.ts';
import { defaultAgentTemplate } from '../../../init-binary/src/contract/agent-template.ts';
import type { SecretFilesSpec } from '../../../init-binary/src/contract/secret-files.ts';
import { ConfigError, MissingSecretError } from '../../../init-binary/src/errors.ts';
import { createLogger } from '../../../init-binary/src/log.ts';
import type { VaultHttp } from '../../../init-binary/src/vault/http.ts';

const CANARY = 'canary-agent-files-77c1';

/** A Vault holding `paths` (API path → response); records every call. */
function fakeVault(paths: Record<string, Record<string, unknown>>) {
  const calls: string[] = [];
  const http = {
    addr: 'https://vault.test',
    setDeadline: () => undefined,
    setToken: () => undefined,
    read: (path: string) => {
      calls.push(`GET ${path}`);
      return Promise.resolve(paths[path]);
    },
    write: (path: string, body: unknown) => {
      calls.push(`PUT ${path} ${JSON.stringify(body)}`);
      return Promise.resolve(paths[path] ?? {});
    },
  } as unknown as VaultHttp;
  return { http, calls };
}

function spec(agent: Record<string, string>): SecretFilesSpec {
  return {
    dir: '/vault/secrets',
    mode: 0o400,
    files: {},
    agent: Object.fromEntries(
      Object.entries(agent).map(([f, template]) => [
        f,
        { template, annotation: `vault.hashicorp.com/agent-inject-template-${f}` },
      ]),
    ),
  };
}

function logs() {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: 'info', json: false, write: (l) => lines.push(l) }) };
}

const KV2 = { data: { data: { user: 'app', password: CANARY }, metadata: { version: 1 } } };

describe('rendering agent files', () => {
  it('makes each distinct call once: a read, and a write of the parameters', async () => {
    const v = fakeVault({
      'secret/data/db': KV2,
      'pki/issue/web': { data: { certificate: 'CERT', private_key: 'KEY' } },
    });
    const work = agentTemplates(
      spec({
        a: '{{ with secret "secret/data/db" }}{{ .Data.data.user }}{{ end }}',
        b: defaultAgentTemplate('secret/data/db'),
        c: '{{ with secret "pki/issue/web" "common_name=web.example.test" }}{{ .Data.certificate }}{{ end }}',
      }),
    );
    const out = await renderAgentFiles(work, v, { ignoreMissing: false, log: logs().log });
    assert.deepEqual(v.calls.sort(), [
      'GET secret/data/db',
      'PUT pki/issue/web {"common_name":"web.example.test"}',
    ]);
    assert.deepEqual(Object.fromEntries(out), {
      a: 'app',
      b: `data: map[password:${CANARY} user:app]\nmetadata: map[version:1]\n`,
      c: 'CERT',
    });
  });

  it('reads a KV v2 path written without data/ through its mount, as consul-template', async () => {
    const v = fakeVault({
      'sys/internal/ui/mounts/secret/db': {
        data: { path: 'secret/', type: 'kv', options: { version: '2' } },
      },
      'secret/data/db': KV2,
    });
    const work = agentTemplates(
      spec({ a: '{{ with secret "secret/db" }}{{ .Data.data.user }}{{ end }}' }),
    );
    const out = await renderAgentFiles(work, v, { ignoreMissing: false, log: logs().log });
    assert.equal(out.get('a'), 'app');
    assert.deepEqual(v.calls, [
      'GET secret/db',
      'GET sys/internal/ui/mounts/secret/db',
      'GET secret/data/db',
    ]);
  });

  it('fails on a missing secret naming annotation and path; with ignore-missing leaves it out', async () => {
    const v = fakeVault({ 'secret/data/db': KV2 });
    const work = agentTemplates(
      spec({
        ok: '{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}',
        gone: '{{ with secret "kv/nope" }}{{ .Data.x }}{{ end }}',
      }),
    );
    await assert.rejects(
      renderAgentFiles(work, v, { ignoreMissing: false, log: logs().log }),
      (err: unknown) =>
        err instanceof MissingSecretError &&
        err.message === 'vault.hashicorp.com/agent-inject-template-gone: secret kv/nope not found',
    );
    const l = logs();
    const out = await renderAgentFiles(work, v, { ignoreMissing: true, log: l.log });
    assert.deepEqual([...out.keys()], ['ok']);
    assert.match(
      l.lines.join('\n'),
      /agent-inject-template-gone: secret kv\/nope not found; gone is not written/,
    );
    assert.doesNotMatch(l.lines.join('\n'), new RegExp(CANARY));
  });

  it('fails on a field with no value naming annotation and expression, never the value', async () => {
    const v = fakeVault({ 'secret/data/db': KV2 });
    const work = agentTemplates(
      spec({ t: '{{ with secret "secret/data/db" }}{{ .Data.data.pasword }}{{ end }}' }),
    );
    await assert.rejects(
      renderAgentFiles(work, v, { ignoreMissing: false, log: logs().log }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message ===
          'vault.hashicorp.com/agent-inject-template-t: .Data.data.pasword has no value',
    );
  });

  it('refuses a template it cannot parse before any call, naming the annotation', () => {
    assert.throws(
      () => agentTemplates(spec({ t: '{{ define "x" }}{{ end }}' })),
      (err: unknown) =>
        err instanceof ConfigError &&
        /^vault\.hashicorp\.com\/agent-inject-template-t: .*"define" is not supported$/.test(
          err.message,
        ),
    );
  });
});
