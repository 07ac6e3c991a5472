/**
 * `--warm-compile-cache`, run once by scripts/bundle.sh: goes through the code a real start runs
 * (configuration, parsing, node-vault and our transport, resolution) against an in-process fake
 * Vault on loopback, so that Node's compile cache shipped in the bundle holds it all compiled.
 */
import type { AddressInfo } from 'node:net';
import { renderAgentTemplate } from './contract/agent-render.ts';
import { defaultAgentTemplate, parseAgentTemplate } from './contract/agent-template.ts';
import { run } from './run.ts';
import { openSession } from './vault/client.ts';

/** A Vault Agent template using each construct (vault.hashicorp.com/agent-inject-template-NAME). */
const AGENT_TEMPLATE =
  '{{- with secret "secret/data/app" -}}{{ range $k, $v := .Data.data }}{{ $k }}={{ $v | toJSON }}\n{{ end }}' +
  '{{ $u := .Data.data.a }}{{ if eq $u "x" }}{{ printf "%s" (index .Data.data "b" | base64Decode) }}{{ else }}-{{ end }}' +
  '{{ .Data.data | toJSONPretty | base64Encode }}{{- end }}';

function warmAgentTemplates(): void {
  for (const src of [AGENT_TEMPLATE, defaultAgentTemplate('secret/data/app')]) {
    const t = parseAgentTemplate(src);
    const Data = { data: { a: 'x', b: 'eA==' }, metadata: { version: 1 } };
    const answers = new Map(
      t.calls.map((c) => [c.id, { Data, LeaseID: '', LeaseDuration: 0, Renewable: false }]),
    );
    renderAgentTemplate(t, answers);
  }
}

export async function warmUp(): Promise<void> {
  warmAgentTemplates();
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    const body = url.includes('/sys/internal/ui/mounts/')
      ? { data: { path: 'secret/', type: 'kv', options: { version: '2' } } }
      : url.includes('/login')
        ? { auth: { client_token: 'warm', lease_duration: 60, renewable: true } }
        : { data: { data: { a: 'x', b: 'eA==' }, metadata: {} } };
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    await run(
      ['true'],
      {
        PATH: '/usr/bin:/bin',
        VAULT_ADDR: `http://127.0.0.1:${port}`,
        VAULT_AUTH_METHOD: 'approle',
        VAULT_PATH: 'approle',
        VAULT_ROLE_ID: 'warm',
        A: 'vault:secret/app#a',
        B: 'vault:secret/data/app#${.b | b64dec | upper}',
        C: 'x${vault:secret/app#a#1}y',
      },
      {
        openSession,
        renewToken: async () => 0,
        renewLease: async () => 0,
        execve: () => {
          throw new Warmed();
        },
        canExecve: () => true,
        logWrite: () => undefined,
      },
    );
  } catch (err) {
    if (!(err instanceof Warmed)) throw err;
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

class Warmed extends Error {}
