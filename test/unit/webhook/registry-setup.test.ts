// createRegistryLookup: the --registry-* files are read once, named in errors, never quoted.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readFlags, registryConfig } from '../../../webhook/src/config.ts';
import { createRegistryLookup } from '../../../webhook/src/registry/setup.ts';

const SECRET = 'CANARY-setup-91c2';
let dir: string;

const config = (argv: string[]) => registryConfig(readFlags(argv, {}).flags);

describe('createRegistryLookup', () => {
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-setup-'));
    await writeFile(path.join(dir, 'not-pem'), `${SECRET}\n`);
    await writeFile(path.join(dir, 'bad.json'), `{"auths": {"r.example": ${SECRET}}}`);
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({
        auths: { 'r.example': { auth: Buffer.from(`u:${SECRET}`).toString('base64') } },
      }),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('builds a lookup from good files, and closes', async () => {
    const lookup = await createRegistryLookup(
      config([`--registry-default-docker-config=${path.join(dir, 'config.json')}`]),
    );
    lookup.close();
  });

  // Flags as functions: the files exist only once `before` has run.
  const rows: [string, () => string[], RegExp][] = [
    [
      'a missing CA file',
      () => ['--registry-ca=r.example=/nonexistent/ca.pem'],
      /--registry-ca: cannot read \/nonexistent\/ca.pem \(ENOENT\)/,
    ],
    [
      'a CA file without a certificate',
      () => [`--registry-ca=r.example=${path.join(dir, 'not-pem')}`],
      /--registry-ca: .*not-pem holds no PEM certificate/,
    ],
    [
      'a docker config that is not JSON',
      () => [`--registry-default-docker-config=${path.join(dir, 'bad.json')}`],
      /--registry-default-docker-config: .*bad.json: not valid JSON/,
    ],
  ];
  for (const [name, argv, message] of rows) {
    it(`refuses ${name}, without quoting the file`, async () => {
      const resolved = argv();
      await assert.rejects(
        createRegistryLookup(config(resolved)),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'E_CONFIG');
          assert.match(err.message, message);
          assert.ok(!err.message.includes(SECRET), err.message);
          return true;
        },
      );
    });
  }
});
