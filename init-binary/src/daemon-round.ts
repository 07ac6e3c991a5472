/**
 * One refresh round of a daemon (refresh.ts): the environment and `vault-inject.dev/secret-file-`
 * files resolved again through the cache (refresh-cache.ts), and the Vault Agent templates
 * rendered again beside them (agent-files.ts, agent-answers.ts), sharing the round's reads as at
 * start: a path both read is read once, and both see the same version.
 */
import { agentAnswers, type AgentAnswers } from './agent-answers.ts';
import { renderAgentFiles, type AgentFileWork } from './agent-files.ts';
import { splitFiles, type FileReference } from './files.ts';
import type { Logger } from './log.ts';
import type { Rendered } from './refresh.ts';
import { secretCache, type SecretCache } from './refresh-cache.ts';
import { resolve, type ResolveInput, type SecretApi } from './resolve.ts';
import type { VaultSession } from './vault/client.ts';
import type { VaultHttp } from './vault/http.ts';

export interface DaemonResolver {
  readonly cache: SecretCache;
  readonly answers: AgentAnswers;
  /** The session as the current round reads through it (for renderAgentFiles). */
  session(): { readonly http: VaultHttp; readonly reads?: VaultHttp | undefined };
  /** The earliest time a kept write or template answer is due again. */
  nextDue(): number | undefined;
}

/** A daemon's caches: each round reads through a fresh read-once api of the session. */
export function daemonResolver(
  session: VaultSession,
  reissue: ReadonlySet<string>,
  now: () => number,
): DaemonResolver {
  let reads: VaultHttp | undefined = session.reads;
  const fresh = (): SecretApi => {
    const api = session.reread?.();
    // Without a reread, the session's own GETs are not shared: each template read goes to Vault.
    reads = api?.reads;
    return api ?? session.api;
  };
  const cache = secretCache(session.api, { reissue, now, fresh });
  const answers = agentAnswers({ now });
  return {
    cache,
    answers,
    session: () => ({ http: session.http, reads }),
    nextDue() {
      const due = [cache.nextDue(), answers.nextDue()].filter((d) => d !== undefined);
      return due.length === 0 ? undefined : Math.min(...due);
    },
  };
}

export interface RoundInput {
  readonly input: ResolveInput;
  readonly files: readonly FileReference[];
  readonly agentFiles: readonly AgentFileWork[];
  readonly ignoreMissing: boolean;
  readonly log: Logger;
}

/** Resolves everything again: the environment, and every file's content. */
export async function renderRound(d: DaemonResolver, r: RoundInput): Promise<Rendered> {
  d.cache.nextRound();
  const agent = renderAgentFiles(r.agentFiles, d.session(), {
    ignoreMissing: r.ignoreMissing,
    log: r.log,
    answers: d.answers,
  });
  agent.catch(() => undefined);
  const split = splitFiles(await resolve(r.input, d.cache.api, r.log), r.files);
  return { env: split.env, contents: new Map([...split.contents, ...(await agent)]) };
}
