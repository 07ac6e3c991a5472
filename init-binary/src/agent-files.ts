/**
 * Secret files from Vault Agent templates (`vault.hashicorp.com/agent-inject-secret-NAME`,
 * docs/configuration.md#vault-agent-injector-annotations): the templates the webhook passed in
 * `VAULT_INJECT_SECRET_FILES` (`agent`) are parsed before any Vault call, their `secret` calls
 * made once each (a read, or a write of the parameters: PKI issue) beside the environment's
 * resolution, then each file rendered whole. The contents go to files.ts' atomic writes. A
 * refreshing daemon renders them again each round (agent-answers.ts keeps what is not re-read).
 */
import {
  parseAgentTemplate,
  type AgentTemplate,
  type SecretCall,
} from './contract/agent-template.ts';
import { renderAgentTemplate, type SecretAnswer } from './contract/agent-render.ts';
import { ContractError } from './contract/errors.ts';
import type { AgentAnswers } from './agent-answers.ts';
import type { SecretFilesSpec } from './contract/secret-files.ts';
import { ConfigError, MissingSecretError } from './errors.ts';
import type { Logger } from './log.ts';
import type { VaultHttp } from './vault/http.ts';
import { detectMount } from './vault/kv.ts';

export interface AgentFileWork {
  readonly file: string;
  readonly annotation: string;
  readonly template: AgentTemplate;
}

/** The spec's agent templates, parsed; throws ConfigError naming the annotation. */
export function agentTemplates(spec: SecretFilesSpec | undefined): AgentFileWork[] {
  return Object.entries(spec?.agent ?? {}).map(([file, { template, annotation }]) => {
    try {
      return { file, annotation, template: parseAgentTemplate(template) };
    } catch (err) {
      if (!(err instanceof ContractError)) throw err;
      throw new ConfigError(`${annotation}: ${err.message}`, { cause: err });
    }
  });
}

function answerOf(res: Readonly<Record<string, unknown>>): SecretAnswer {
  const lease = res['lease_id'];
  const ttl = res['lease_duration'];
  return {
    Data: res['data'] ?? {},
    LeaseID: typeof lease === 'string' ? lease : '',
    LeaseDuration: typeof ttl === 'number' ? ttl : 0,
    Renewable: res['renewable'] === true,
  };
}

async function call(http: VaultHttp, c: SecretCall): Promise<SecretAnswer | undefined> {
  if (c.params !== undefined) {
    const res = await http.write(c.path, c.params, { action: `writing ${c.path}` });
    return answerOf(res);
  }
  const res = await http
    .read(c.path, { action: `reading ${c.path}` })
    .then(async (r) => r ?? (await readKvV2(http, c.path)));
  return res === undefined ? undefined : answerOf(res);
}

/**
 * A path on a KV v2 mount written without `data/` (`secret/app`): consul-template reads
 * `secret/data/app` then, and so does this, after the literal path answered 404. The answer keeps
 * KV v2's shape (`.Data.data`, `.Data.metadata`), as there.
 */
async function readKvV2(http: VaultHttp, path: string) {
  const mount = await detectMount(http, path);
  if (mount.path === undefined || mount.kvVersion !== 2) return undefined;
  const rest = path.slice(mount.path.length);
  if (!path.startsWith(mount.path) || rest.startsWith('data/')) return undefined;
  return http.read(`${mount.path}data/${rest}`, { action: `reading ${path}` });
}

export interface AgentRenderOptions {
  readonly ignoreMissing: boolean;
  readonly log: Logger;
  /** A daemon's kept answers (agent-answers.ts): writes and leased reads are not made each round. */
  readonly answers?: AgentAnswers;
}

/**
 * Makes each distinct `secret` call of `work` once, concurrently, then renders every file.
 * A missing secret fails the run naming the annotation and the path (with `ignoreMissing`, the
 * files that need it are left out with a warning); so does a template that cannot render.
 * Nothing is returned, so nothing written, unless every file rendered.
 */
export async function renderAgentFiles(
  work: readonly AgentFileWork[],
  session: { readonly http: VaultHttp; readonly reads?: VaultHttp | undefined },
  options: AgentRenderOptions,
): Promise<Map<string, string>> {
  // The session's shared GETs when it has them: a path the environment reads is read once.
  const http = session.reads ?? session.http;
  const contents = new Map<string, string>();
  if (work.length === 0) return contents;
  const calls = new Map<string, SecretCall>();
  for (const w of work) for (const c of w.template.calls) calls.set(c.id, c);
  const answers = new Map<string, SecretAnswer>();
  const missing = new Set<string>();
  await Promise.all(
    [...calls.values()].map(async (c) => {
      const make = (): Promise<SecretAnswer | undefined> => call(http, c);
      const answer = await (options.answers?.answer(c, make) ?? make());
      if (answer === undefined) missing.add(c.id);
      else answers.set(c.id, answer);
    }),
  );
  for (const w of work) {
    const gone = w.template.calls.find((c) => missing.has(c.id));
    if (gone !== undefined) {
      const message = `${w.annotation}: secret ${gone.path} not found`;
      if (!options.ignoreMissing) throw new MissingSecretError(message);
      options.log.warn(`${message}; ${w.file} is not written (ignore-missing)`);
      continue;
    }
    try {
      contents.set(w.file, renderAgentTemplate(w.template, answers));
    } catch (err) {
      if (!(err instanceof ContractError)) throw err;
      throw new ConfigError(`${w.annotation}: ${err.message}`, { cause: err });
    }
  }
  return contents;
}
