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
  /** Who sent the request to the API server (not validated: read it with `requester`). */
  readonly userInfo?: unknown;
}

/** The user name of whoever created the object, '' when the review does not say. */
export function requester(request: AdmissionRequest): string {
  const info = request.userInfo;
  if (typeof info !== 'object' || info === null) return '';
  const { username } = info as { username?: unknown };
  return typeof username === 'string' ? username : '';
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
  checkMetadata(pod.metadata, `${where}.metadata`);
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
  listOf(spec, 'volumes', `${where}.spec`).forEach((v, i) =>
    named(v, `${where}.spec.volumes[${i}]`),
  );
  listOf(spec, 'imagePullSecrets', `${where}.spec`).forEach((s, i) =>
    object(s, `${where}.spec.imagePullSecrets[${i}]`),
  );
  return pod as unknown as Pod;
}

/** `null` stands for absent here, as the webhook reads it (`?.`, `??`). */
function checkMetadata(metadata: unknown, where: string): void {
  if (metadata === undefined || metadata === null) return;
  if (!isObject(metadata)) throw bad(`"${where}" is not an object`);
  const { annotations } = metadata;
  if (annotations === undefined || annotations === null) return;
  if (!isObject(annotations)) throw bad(`"${where}.annotations" is not an object`);
  for (const [key, value] of Object.entries(annotations)) {
    if (typeof value !== 'string') {
      throw bad(`"${where}.annotations[${JSON.stringify(key)}]" is not a string`);
    }
  }
}

/** `o[field]` as a list (empty when absent), or a BAD_REVIEW error. */
function listOf(o: Record<string, unknown>, field: string, where: string): unknown[] {
  const items = o[field];
  if (items === undefined) return [];
  if (!Array.isArray(items)) throw bad(`"${where}.${field}" is not a list`);
  return items;
}

function object(v: unknown, where: string): Record<string, unknown> {
  if (!isObject(v)) throw bad(`"${where}" is not an object`);
  return v;
}

function named(v: unknown, where: string): Record<string, unknown> {
  if (!isObject(v) || typeof v.name !== 'string') throw bad(`"${where}.name" is missing`);
  return v;
}

function checkContainer(c: unknown, where: string): void {
  const container = named(c, where);
  for (const field of ['command', 'args'] as const) listOf(container, field, where);
  for (const [j, item] of listOf(container, 'env', where).entries()) {
    const e = named(item, `${where}.env[${j}]`);
    if (e.value !== undefined && typeof e.value !== 'string') {
      throw bad(`"${where}.env[${j}].value" is not a string`);
    }
    if (e.valueFrom !== undefined && e.valueFrom !== null) {
      object(e.valueFrom, `${where}.env[${j}].valueFrom`);
    }
  }
  listOf(container, 'envFrom', where).forEach((f, j) => object(f, `${where}.envFrom[${j}]`));
  listOf(container, 'volumeMounts', where).forEach((m, j) =>
    named(m, `${where}.volumeMounts[${j}]`),
  );
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
