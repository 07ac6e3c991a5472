// Part of the init bench (scripts/bench/init.ts): what 5 secret files add to a start. The same
// environment (10 references over 3 paths) with and without VAULT_INJECT_SECRET_FILES naming 5
// files on tmpfs whose templates use the same 3 paths (so no extra read: the cost of parsing,
// rendering, the statfs check and 5 atomic writes), in interleaved rounds; once as our
// `secret-file-NAME` templates, once as Vault Agent Injector templates (`agent-inject-template-`).
// Ours alone: vault-env writes no files.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  encodeSecretFiles,
  type SecretFilesSpec,
} from '../../init-binary/src/contract/secret-files.ts';
import { report } from './proc.ts';
import { median } from './stats.ts';

const TEMPLATE = [
  'ONE_A=${vault:secret/data/bench/one#a}',
  'TWO_B=${vault:secret/data/bench/two#b}',
  'THREE_C=${vault:secret/data/bench/three#c}',
  '',
].join('\n');

const AGENT_TEMPLATE = [
  '{{ with secret "secret/data/bench/one" }}ONE_A={{ .Data.data.a }}{{ end }}',
  '{{ with secret "secret/data/bench/two" }}TWO_B={{ .Data.data.b }}{{ end }}',
  '{{ with secret "secret/data/bench/three" }}THREE_C={{ .Data.data.c }}{{ end }}',
  '',
].join('\n');

const NAMES = [1, 2, 3, 4, 5].map((i) => `file-${i}.env`);
const KINDS: readonly { label: string; metric: string; spec: (dir: string) => SecretFilesSpec }[] =
  [
    {
      label: '5 secret files',
      metric: '5 secret files',
      spec: (dir) => ({
        dir,
        mode: 0o400,
        files: Object.fromEntries(NAMES.map((n) => [n, TEMPLATE])),
      }),
    },
    {
      label: '5 Vault Agent templates',
      metric: '5 Vault Agent templates',
      spec: (dir) => ({
        dir,
        mode: 0o400,
        files: {},
        agent: Object.fromEntries(
          NAMES.map((n) => [
            n,
            {
              template: AGENT_TEMPLATE,
              annotation: `vault.hashicorp.com/agent-inject-template-${n}`,
            },
          ]),
        ),
      }),
    },
  ];

/**
 * `measure(env)`: one start-to-exec in ms. For each kind of file, prints and reports the medians
 * and their difference.
 */
export async function filesOverhead(
  env: Record<string, string>,
  runs: number,
  measure: (env: Record<string, string>) => Promise<number>,
): Promise<void> {
  for (const kind of KINDS) await overhead(env, { runs, measure, kind });
}

async function overhead(
  env: Record<string, string>,
  o: {
    runs: number;
    measure: (env: Record<string, string>) => Promise<number>;
    kind: (typeof KINDS)[number];
  },
): Promise<void> {
  const { runs, measure, kind } = o;
  const dir = mkdtempSync('/dev/shm/vault-inject-bench-files-');
  try {
    const withFiles = { ...env, VAULT_INJECT_SECRET_FILES: encodeSecretFiles(kind.spec(dir)) };
    await measure(withFiles);
    const written = readdirSync(dir).sort();
    if (
      written.length !== 5 ||
      readFileSync(join(dir, 'file-1.env'), 'utf8') !== 'ONE_A=1\nTWO_B=2\nTHREE_C=3\n'
    )
      throw new Error(`the files were not rendered: ${written.join(', ')}`);
    const without: number[] = [];
    const with5: number[] = [];
    for (let round = 0; round < runs + 3; round++) {
      const order = round % 2 === 0 ? [false, true] : [true, false];
      for (const files5 of order) {
        const ms = await measure(files5 ? withFiles : env);
        if (round >= 3) (files5 ? with5 : without).push(ms);
      }
    }
    const paired = median(with5.map((ms, i) => ms - (without[i] ?? ms)));
    console.log(
      `\n${kind.label} (same 3 paths, tmpfs), ${runs} interleaved rounds: start-to-exec median ${median(without).toFixed(1)} ms without, ${median(with5).toFixed(1)} ms with; median of the paired differences ${paired.toFixed(1)} ms`,
    );
    report('init', `start-to-exec median, loopback, ${kind.metric}`, { ours: median(with5) }, 'ms');
    report(
      'init',
      `start-to-exec: ${kind.metric} minus none (paired median)`,
      { ours: paired },
      'ms',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
