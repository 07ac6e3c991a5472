/**
 * The answers a refreshing daemon keeps for Vault Agent templates (agent-files.ts, refresh.ts):
 * each refresh renders the templates again, and a plain read (KV) goes to Vault every time. A
 * `secret` call that is a write (PKI issue with "k=v" parameters), or whose answer carries a
 * lease (a dynamic secret), is not made again each round: its answer is kept and the call made
 * again only two thirds into its lifetime (its lease, or a certificate's `expiration`), as
 * refresh-cache.ts does for `>>vault:` writes. Without a lifetime it is kept for good.
 */
import type { SecretAnswer } from './contract/agent-render.ts';
import type { SecretCall } from './contract/agent-template.ts';
import { reissueDelayMs } from './refresh-cache.ts';

interface Kept {
  readonly answer: SecretAnswer;
  /** When to make the call again (ms on `now`'s clock); undefined: never. */
  readonly dueAt: number | undefined;
}

export interface AgentAnswers {
  /** The answer to `c`: the kept one while it is valid, else `make()`'s (kept when it must be). */
  answer(
    c: SecretCall,
    make: () => Promise<SecretAnswer | undefined>,
  ): Promise<SecretAnswer | undefined>;
  /** The earliest time a kept answer is due again; undefined when none is. */
  nextDue(): number | undefined;
}

function record(value: unknown): Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/** When to make the call behind `answer` again (refresh-cache.ts' rule), from `wallNow`. */
function delayOf(answer: SecretAnswer, wallNow: number): number | undefined {
  const lease =
    answer.LeaseDuration > 0
      ? { id: answer.LeaseID, ttlSeconds: answer.LeaseDuration, renewable: answer.Renewable }
      : undefined;
  return reissueDelayMs({ data: record(answer.Data), lease }, wallNow);
}

export function agentAnswers(options: {
  /** A monotonic clock in ms (timers) and the wall clock (certificates' `expiration`). */
  readonly now: () => number;
  readonly wallNow?: () => number;
}): AgentAnswers {
  const { now, wallNow = Date.now } = options;
  const kept = new Map<string, Kept>();
  return {
    async answer(c, make) {
      const k = kept.get(c.id);
      if (k && (k.dueAt === undefined || now() < k.dueAt)) return k.answer;
      const answer = await make();
      const keep = answer !== undefined && (c.params !== undefined || answer.LeaseID !== '');
      if (!keep) {
        kept.delete(c.id);
        return answer;
      }
      const delay = delayOf(answer, wallNow());
      kept.set(c.id, { answer, dueAt: delay === undefined ? undefined : now() + delay });
      return answer;
    },
    nextDue() {
      let due: number | undefined;
      for (const k of kept.values()) {
        if (k.dueAt !== undefined && (due === undefined || k.dueAt < due)) due = k.dueAt;
      }
      return due;
    },
  };
}
