// Two stacks at once: a server that cannot bind port 0 is started on a free port, and again on
// another when that port was taken between the pick and the bind (test/env/ports.ts). Here the
// pick returns a port this test holds first: the real forwarder process fails on it and is
// started again elsewhere. And the real servers of the stack, started on a taken port, fail with
// a message the retry recognises (their log says so), so none of them ends a run with EADDRINUSE.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { componentPath } from '../../env/kube.ts';
import { addressInUse, freePort, listenWithRetry } from '../../env/ports.ts';
import { startProcess, tcpOpen, waitUntil } from '../../env/processes.ts';
import { WEBHOOK_BUILT } from '../../env/stack.ts';

const FORWARDER = path.join(import.meta.dirname, '../../env/forwarder.ts');

describe('ports: two stacks at once', () => {
  let held: net.Server;
  let heldPort = 0;
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vault-inject-ports-'));
    held = net.createServer();
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    heldPort = (held.address() as net.AddressInfo).port;
  });
  after(async () => {
    held.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts `command` expecting it to fail on the held port; returns the error its start gave. */
  async function failOnHeldPort(name: string, command: string, args: string[]): Promise<Error> {
    const proc = startProcess({ name, command, args, logPath: path.join(dir, `${name}.log`) });
    try {
      await waitUntil(`${name} on a taken port`, () => Promise.resolve(false), {
        process: proc,
        timeoutMs: 20_000,
      });
      return new Error('did not fail');
    } catch (err) {
      return err as Error;
    } finally {
      await proc.stop();
    }
  }

  it('listenWithRetry: a port taken meanwhile is retried on another, with the real forwarder', async () => {
    const picks = [heldPort];
    const pick = async (): Promise<number> => picks.shift() ?? freePort();
    let tries = 0;
    const { proc, port } = await listenWithRetry(
      'forwarder',
      async (p) => {
        tries++;
        const f = startProcess({
          name: 'forwarder',
          command: process.execPath,
          args: [FORWARDER, `127.0.0.1:${p}`, `127.0.0.1:${heldPort}`],
          logPath: path.join(dir, `forwarder-${tries}.log`),
        });
        // Its one line on stderr once listening (the held port answers TCP too).
        await waitUntil(
          'forwarder',
          async () => (await readFile(f.logPath, 'utf8')).includes(' -> '),
          {
            process: f,
            timeoutMs: 10_000,
          },
        );
        return f;
      },
      5,
      pick,
    );
    try {
      assert.equal(tries, 2, 'the first start failed on the taken port, the second worked');
      assert.notEqual(port, heldPort);
      assert.equal(await tcpOpen(port), true);
    } finally {
      await proc.stop();
    }
  });

  it('a failure that is not a taken port is not retried', async () => {
    let tries = 0;
    await assert.rejects(
      listenWithRetry('broken', () => {
        tries++;
        return Promise.reject(new Error('no such file'));
      }),
      /no such file/,
    );
    assert.equal(tries, 1);
  });

  it('the webhook, OpenBao, etcd and the registry on a taken port fail saying so', async () => {
    const bao = await componentPath('openbao', 'VAULT_INJECT_BAO');
    const etcd = await componentPath('etcd', 'VAULT_INJECT_ETCD');
    const registry = await componentPath('registry', 'VAULT_INJECT_REGISTRY');
    const registryConfig = path.join(dir, 'registry.yml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      registryConfig,
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/r\nhttp:\n  addr: 127.0.0.1:${heldPort}\n`,
    );
    const failures = await Promise.all([
      failOnHeldPort('webhook', process.execPath, [
        WEBHOOK_BUILT,
        'webhook',
        '--self-signed',
        `--listen=127.0.0.1:${heldPort}`,
        `--telemetry-listen=127.0.0.1:${await freePort()}`,
        '--vault-addr=http://127.0.0.1:1',
      ]),
      failOnHeldPort('openbao', bao, [
        'server',
        '-dev',
        `-dev-listen-address=127.0.0.1:${heldPort}`,
      ]),
      failOnHeldPort('etcd', etcd, [
        `--data-dir=${dir}/etcd`,
        `--listen-client-urls=http://127.0.0.1:${heldPort}`,
        `--advertise-client-urls=http://127.0.0.1:${heldPort}`,
        `--listen-peer-urls=http://127.0.0.1:${await freePort()}`,
      ]),
      failOnHeldPort('registry', registry, ['serve', registryConfig]),
    ]);
    for (const err of failures) {
      assert.ok(addressInUse(err), err.message);
      assert.match(err.message, /exited early/, 'it ends at once, not at a readiness timeout');
    }
  });
});
