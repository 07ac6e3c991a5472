/** --registry-token-realm-same-host reaches the lookup: off, a realm on another host is asked. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFlags, registryConfig } from '../../../webhook/src/config.ts';
import { createRegistryLookup } from '../../../webhook/src/registry/setup.ts';
import type { Transport } from '../../../webhook/src/registry/oci/transport.ts';

function realmAsking(): { transport: Transport; hosts: string[] } {
  const hosts: string[] = [];
  const transport: Transport = (request) => {
    hosts.push(request.url.host);
    if (request.url.host === 'auth.example') {
      return Promise.resolve({ status: 401, headers: {}, body: Buffer.from('{}') });
    }
    return Promise.resolve({
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="https://auth.example/token"' },
      body: Buffer.alloc(0),
    });
  };
  return { transport, hosts };
}

describe('--registry-token-realm-same-host', () => {
  for (const [flag, asked] of [
    [[], ['r.example', 'auth.example']],
    [['--registry-token-realm-same-host'], ['r.example']],
  ] as const) {
    it(`${flag.join(' ') || 'default'}: asks ${asked.join(', ')}`, async () => {
      const { transport, hosts } = realmAsking();
      const config = registryConfig(readFlags(['--self-signed', ...flag], {}).flags);
      const { lookup } = await createRegistryLookup(config, { transport });
      await assert.rejects(lookup.lookup({ image: 'r.example/app:v1' }));
      assert.deepEqual(hosts, asked);
    });
  }
});
