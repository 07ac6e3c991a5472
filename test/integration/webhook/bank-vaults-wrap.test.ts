// The BUILT webhook (dist/webhook/vault-inject.js, over HTTPS) given a pod exactly as Bank-Vaults'
// webhook stores it: the container of vault-secrets-webhook 1.23.1 pkg/webhook/pod_test.go,
// Test_mutatingWebhook_mutateContainers case "Will mutate container with command, no args", with
// the copy-vault-env init container and vault-env volume pkg/webhook/pod.go MutatePod adds
// (test/fixtures/admission/bank-vaults-wrapped), and our own stored pod wrapped the same way after
// us (bank-vaults-wrapped-after-us). Neither is wrapped a second time: both are denied, saying why
// and what to do, and the audit line carries E_BANK_VAULTS.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BUILT_WEBHOOK, postJson } from '../registry/built-webhook.ts';

const FIXTURES = new URL('../../fixtures/admission/', import.meta.url);
const review = (dir: string): { request: { uid: string } } =>
  JSON.parse(readFileSync(new URL(`${dir}/review.json`, FIXTURES), 'utf8'));

let child: ChildProcess;
let port = 0;
const lines: Record<string, unknown>[] = [];

async function until(what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  child = spawn(
    process.execPath,
    [
      BUILT_WEBHOOK,
      'webhook',
      '--self-signed',
      '--listen=127.0.0.1:0',
      '--telemetry-listen=127.0.0.1:0',
      '--read-sources=false',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let buffered = '';
  child.stdout?.on('data', (c: Buffer) => {
    buffered += c.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const p of parts) lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  await until('webhook listening', () => lines.some((l) => l['msg'] === 'webhook listening'));
  port = lines.find((l) => l['msg'] === 'webhook listening')?.['admissionPort'] as number;
});

after(async () => {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
});

describe("the built webhook and a pod Bank-Vaults' webhook wrapped", () => {
  const cases: [string, RegExp][] = [
    [
      'bank-vaults-wrapped',
      /^container "MyContainer" already runs Bank-Vaults' \/vault\/vault-env/,
    ],
    [
      'bank-vaults-wrapped-after-us',
      /^container "app": Bank-Vaults' webhook put \/vault\/vault-env in front of vault-inject's init program/,
    ],
  ];
  for (const [dir, message] of cases) {
    it(`${dir}: denied, never wrapped twice`, async () => {
      const body = review(dir);
      const answer = (await postJson(port, body))['response'] as {
        allowed: boolean;
        patch?: string;
        status?: { message?: string };
      };
      assert.equal(answer.allowed, false);
      assert.equal(answer.patch, undefined);
      assert.match(answer.status?.message ?? '', message);
      assert.match(answer.status?.message ?? '', /both webhooks select this pod/);
      await until('the audit line', () =>
        lines.some((l) => l['uid'] === body.request.uid && l['code'] !== undefined),
      );
      const audit = lines.find((l) => l['uid'] === body.request.uid && l['code'] !== undefined);
      assert.equal(audit?.['code'], 'E_BANK_VAULTS');
    });
  }
});
