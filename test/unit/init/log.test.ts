// The init program logs in the webhook's shape: JSON lines with a string level, an ISO 8601 UTC
// time and the message, then the fields (which never replace those three); text on request.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../init-binary/src/config.ts';
import { createLogger } from '../../../init-binary/src/log.ts';

function capture(json: boolean): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: 'debug', json, write: (l) => lines.push(l) }) };
}

describe('log lines', () => {
  it('are JSON by default: {"level":"info","time":"<ISO UTC>","msg":...} then the fields', () => {
    const { lines, log } = capture(parseConfig({}).jsonLog);
    log.info('logged in', { method: 'jwt', ttlSeconds: 60, skipped: undefined });
    assert.equal(lines.length, 1);
    const line = lines[0] ?? '';
    assert.ok(line.endsWith('\n'));
    assert.match(
      line,
      /^\{"level":"info","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","msg":"logged in",/,
    );
    const record = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual(Object.keys(record), ['level', 'time', 'msg', 'method', 'ttlSeconds']);
    assert.equal(new Date(record['time'] as string).toISOString(), record['time']);
  });

  it('never let a field replace the level, the time or the message', () => {
    const { lines, log } = capture(true);
    log.warn('the real message', { level: 'error', time: 'then', msg: 'forged', n: 1 });
    const record = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.equal(record['level'], 'warn');
    assert.equal(record['msg'], 'the real message');
    assert.notEqual(record['time'], 'then');
    assert.equal(record['n'], 1);
  });

  it('are text with VAULT_JSON_LOG=false', () => {
    const { lines, log } = capture(parseConfig({ VAULT_JSON_LOG: 'false' }).jsonLog);
    log.warn('U: missing', { n: 2 });
    assert.deepEqual(lines, ['vault-inject-env: warn: U: missing n=2\n']);
  });
});
