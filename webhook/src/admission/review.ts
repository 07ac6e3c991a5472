/**
 * AdmissionReview `admission.k8s.io/v1` in and out. `parseReview` accepts only a well-formed
 * review (else a WebhookError BAD_REVIEW, answered with HTTP 400); the response always echoes the
 * request's uid.
 */
import { ErrorCode, WebhookError } from '../errors.ts';
import type { Pod } from '../mutation/types.ts';

export const API_VERSION = 'admission.k8s.io/v1';
export const KIND = 'AdmissionReview';

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly resource?: { group: string; version: string; resource: string };
  readonly subResource?: string;
  readonly operation: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly dryRun?: boolean;
  readonly object?: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  status?: { code: number; reason?: string; message: string };
}

export interface AdmissionReviewOut {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  response: AdmissionResponse;
}

function bad(message: string): WebhookError {
  return new WebhookError(ErrorCode.BAD_REVIEW, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) throw bad('the body is not a JSON object');
  if (body.apiVersion !== API_VERSION) {
    throw bad(
      `apiVersion must be "${API_VERSION}", got ${JSON.stringify(body.apiVersion) ?? 'none'}`,
    );
  }
  if (body.kind !== KIND)
    throw bad(`kind must be "${KIND}", got ${JSON.stringify(body.kind) ?? 'none'}`);
  const request = body.request;
  if (!isObject(request)) throw bad('"request" is missing or not an object');
  if (typeof request.uid !== 'string' || request.uid === '') throw bad('"request.uid" is missing');
  if (!isObject(request.kind) || typeof request.kind.kind !== 'string') {
    throw bad('"request.kind" is missing');
  }
  if (typeof request.operation !== 'string') throw bad('"request.operation" is missing');
  return request as unknown as AdmissionRequest;
}

/** Is this a Pod CREATE we should look at (not a subresource, not another kind)? */
export function isPodCreate(request: AdmissionRequest): boolean {
  const { kind } = request;
  return (
    kind.group === '' &&
    kind.kind === 'Pod' &&
    request.operation === 'CREATE' &&
    (request.subResource === undefined || request.subResource === '')
  );
}

/** The pod in a Pod CREATE request, or a BAD_REVIEW error naming what is wrong with it. */
export function podOf(request: AdmissionRequest): Pod {
  return checkPod(request.object, 'request.object');
}

/** Checks the fields the webhook relies on; `where` names the object in the error. */
export function checkPod(pod: unknown, where: string): Pod {
  if (!isObject(pod)) throw bad(`"${where}" is missing or not an object`);
  const spec = pod.spec;
  if (!isObject(spec) || !Array.isArray(spec.containers)) {
    throw bad(`"${where}.spec.containers" is missing`);
  }
  for (const list of ['containers', 'initContainers'] as const) {
    const items = spec[list];
    if (items === undefined) continue;
    if (!Array.isArray(items)) throw bad(`"${where}.spec.${list}" is not a list`);
    items.forEach((c: unknown, i) => checkContainer(c, `${where}.spec.${list}[${i}]`));
  }
  return pod as unknown as Pod;
}

function checkContainer(c: unknown, where: string): void {
  if (!isObject(c) || typeof c.name !== 'string') throw bad(`"${where}.name" is missing`);
  for (const field of ['command', 'args', 'env', 'envFrom', 'volumeMounts'] as const) {
    if (c[field] !== undefined && !Array.isArray(c[field]))
      throw bad(`"${where}.${field}" is not a list`);
  }
  for (const [j, e] of ((c.env as unknown[] | undefined) ?? []).entries()) {
    if (!isObject(e) || typeof e.name !== 'string')
      throw bad(`"${where}.env[${j}].name" is missing`);
    if (e.value !== undefined && typeof e.value !== 'string') {
      throw bad(`"${where}.env[${j}].value" is not a string`);
    }
  }
}

export function reviewOut(response: AdmissionResponse): AdmissionReviewOut {
  return { apiVersion: API_VERSION, kind: KIND, response };
}

export function allow(uid: string, warnings: readonly string[] = []): AdmissionResponse {
  return { uid, allowed: true, ...(warnings.length > 0 ? { warnings: [...warnings] } : {}) };
}

export function deny(
  uid: string,
  message: string,
  warnings: readonly string[] = [],
): AdmissionResponse {
  return {
    uid,
    allowed: false,
    status: { code: 403, reason: 'Forbidden', message },
    ...(warnings.length > 0 ? { warnings: [...warnings] } : {}),
  };
}
