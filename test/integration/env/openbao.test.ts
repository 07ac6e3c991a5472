// The OpenBao dev server writes its root token to ~/.vault-token. Every server the tests start
// (test/env/openbao.ts, and the stack's through it) must write it into a HOME of its own, never
// over the user's token: checked on the user's file (content and mtime, or its absence) and on
// the server's own HOME (the token is there, so the server really did write one).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync, rmSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startOpenBao } from '../../env/openbao.ts';
import { startBao } from '../../env/vault-kubernetes.ts';

interface TokenFile {
  readonly file: string;
  readonly content: Buffer | undefined;
  readonly mtimeMs: number | undefined;
}

/** ~/.vault-token of the user: HOME's, and the passwd entry's (what bao uses without HOME). */
function userTokenFiles(): TokenFile[] {
  const homes = new Set([homedir(), userInfo().homedir]);
  return [...homes].map((home) => {
    const file = path.join(home, '.vault-token');
    return existsSync(file)
      ? { file, content: readFileSync(file), mtimeMs: statSync(file).mtimeMs }
      : { file, content: undefined, mtimeMs: undefined };
  });
}

/** Fails when a user's token file changed, after putting it back as it was. */
function assertUntouched(before: readonly TokenFile[]): void {
  for (const was of before) {
    const now = userTokenFiles().find((t) => t.file === was.file);
    const same = now?.mtimeMs === was.mtimeMs && now?.content?.equals(was.content ?? Buffer.of());
    const stillAbsent = was.content === undefined && now?.content === undefined;
    if (same || stillAbsent) continue;
    if (was.content === undefined) {
      rmSync(was.file, { force: true });
    } else {
      writeFileSync(was.file, was.content, { mode: 0o600 });
      const seconds = (was.mtimeMs ?? Date.now()) / 1000;
      utimesSync(was.file, seconds, seconds);
    }
    assert.fail(`${was.file} was written by the OpenBao dev server (restored)`);
  }
}

/**
 * Starts a server with a random root token, hands it to `check`, stops it; then fails if the
 * user's token file changed (restoring it first), whatever `check` did.
 */
async function withServer<T extends { stop(): Promise<void> }>(
  start: (token: string) => Promise<T>,
  check: (server: T, token: string) => Promise<void>,
): Promise<void> {
  const before = userTokenFiles();
  const token = `regression-${randomBytes(8).toString('hex')}`;
  let server: T | undefined;
  try {
    server = await start(token);
    await check(server, token);
  } finally {
    await server?.stop();
    assertUntouched(before);
  }
}

describe("the OpenBao dev server never overwrites the user's ~/.vault-token", () => {
  it('startOpenBao: the root token lands in the server HOME', async () => {
    await withServer(
      (rootToken) => startOpenBao({ rootToken }),
      async (bao, token) => {
        assert.notEqual(bao.home, homedir());
        assert.equal(readFileSync(path.join(bao.home, '.vault-token'), 'utf8'), token);
      },
    );
  });

  it("the stack's startBao: the same", async () => {
    await withServer(
      (rootToken) => startBao({ rootToken }),
      async (bao, token) => {
        assert.equal(readFileSync(path.join(bao.dir, 'home', '.vault-token'), 'utf8'), token);
        const res = await fetch(`${bao.addr}/v1/auth/token/lookup-self`, {
          headers: { 'x-vault-token': token },
        });
        assert.equal(res.status, 200);
      },
    );
  });
});
