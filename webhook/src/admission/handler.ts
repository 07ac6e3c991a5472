/**
 * POST /mutate, transport-free: an AdmissionReview body in, an AdmissionReview out. Decodes,
 * calls the pipeline (pure mutation underneath), encodes; logs one line and counts the outcome.
 */
import type { Logger } from 'pino';
import { ErrorCode, WebhookError } from '../errors.ts';
import { operationLabel, type Metrics, type ReviewResult } from '../metrics.ts';
import { capItems, capText } from '../mutation/bounds.ts';
import type { Pod } from '../mutation/types.ts';
import { encodePatch, podPatch } from './patch.ts';
import { reviewPod, type Outcome, type PipelineDeps } from './pipeline.ts';
import {
  allow,
  deny,
  isPodCreate,
  parseReview,
  podOf,
  requester,
  reviewOut,
  type AdmissionRequest,
  type AdmissionResponse,
  type AdmissionReviewOut,
} from './review.ts';

export interface HandlerDeps extends PipelineDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Every review answers within this time (below the API server's webhook timeout). */
  readonly deadlineMs: number;
}

async function withDeadline(
  work: (signal: AbortSignal) => Promise<Outcome>,
  ms: number,
): Promise<Outcome> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({
        result: 'denied',
        error: new WebhookError(ErrorCode.DEADLINE, `the webhook did not finish within ${ms} ms`),
        warnings: [],
      });
    }, ms);
    timer.unref();
  });
  try {
    return await Promise.race([work(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The longest object name Kubernetes accepts; a review arrives before names are validated. */
const MAX_NAME_CHARS = 253;

function podLabel(pod: Pod, request: AdmissionRequest): string {
  const m = pod.metadata;
  const label = m?.name || request.name || (m?.generateName ? `${m.generateName}*` : '');
  return capText(label, MAX_NAME_CHARS);
}

function respond(uid: string, pod: Pod, outcome: Outcome): AdmissionResponse {
  switch (outcome.result) {
    case 'mutated': {
      const ops = podPatch(pod, outcome.pod);
      if (ops.length === 0) return allow(uid, outcome.warnings);
      return { ...allow(uid, outcome.warnings), patchType: 'JSONPatch', patch: encodePatch(ops) };
    }
    case 'denied':
      return deny(uid, outcome.error.message, outcome.warnings);
    default:
      return allow(uid, outcome.warnings);
  }
}

/**
 * Answers one review. Throws a WebhookError BAD_REVIEW for a malformed body (HTTP 400 at the
 * transport); anything else it answers, a dryRun request exactly like any other.
 */
export async function handleReview(body: unknown, deps: HandlerDeps): Promise<AdmissionReviewOut> {
  const started = performance.now();
  let request: AdmissionRequest;
  let pod: Pod | undefined;
  try {
    request = parseReview(body);
    if (isPodCreate(request)) pod = podOf(request);
  } catch (err) {
    const op = (body as { request?: { operation?: unknown } } | null)?.request?.operation;
    count(deps, op, 'invalid', started);
    throw err;
  }
  if (!pod) {
    count(deps, request.operation, 'skipped', started);
    return reviewOut(allow(request.uid));
  }
  const namespace = request.namespace || pod.metadata?.namespace || 'default';
  const target = pod;
  const outcome = await withDeadline(
    (signal) => reviewPod(target, namespace, deps, signal),
    deps.deadlineMs,
  );
  const response = respond(request.uid, pod, outcome);
  const result: ReviewResult =
    outcome.result === 'mutated' && !response.patch ? 'unchanged' : outcome.result;
  const seconds = count(deps, request.operation, result, started);
  deps.metrics.warnings.inc(outcome.warnings.length);
  deps.logger.info(
    auditLine(request, pod, outcome, { namespace, result, seconds }),
    'admission review',
  );
  return reviewOut(response);
}

/**
 * The one line per review: who created which pod, what happened, and for a mutated pod the Vault
 * role and auth path its containers log in with. Names only: never an env value or a secret.
 */
function auditLine(
  request: AdmissionRequest,
  pod: Pod,
  outcome: Outcome,
  answer: { readonly namespace: string; readonly result: ReviewResult; readonly seconds: number },
): Record<string, unknown> {
  return {
    uid: request.uid,
    user: requester(request),
    namespace: answer.namespace,
    pod: podLabel(pod, request),
    dryRun: request.dryRun === true,
    result: answer.result,
    containers: outcome.result === 'mutated' ? capItems(outcome.containers, 'containers') : [],
    ...(outcome.result === 'mutated'
      ? {
          role: outcome.login.role,
          authPath: outcome.login.authPath,
          authMethod: outcome.login.authMethod,
        }
      : {}),
    ...(outcome.result === 'denied'
      ? { code: outcome.error.code, reason: outcome.error.message }
      : {}),
    ...(outcome.warnings.length > 0 ? { warnings: outcome.warnings } : {}),
    durationMs: Math.round(answer.seconds * 1e6) / 1e3,
  };
}

function count(deps: HandlerDeps, op: unknown, result: ReviewResult, started: number): number {
  const seconds = (performance.now() - started) / 1000;
  deps.metrics.requests.inc({ operation: operationLabel(op), result });
  deps.metrics.duration.observe(seconds);
  return seconds;
}
