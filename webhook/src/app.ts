/**
 * The two Fastify apps: admission (`POST /mutate`, HTTPS) and telemetry (`/healthz`, `/readyz`,
 * `/metrics`, plain HTTP). They register routes and never listen: main.ts listens, tests use
 * `inject()`.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { handleReview, type HandlerDeps } from './admission/handler.ts';
import type { ConnectionLimits } from './config.ts';
import { ErrorCode, isWebhookError } from './errors.ts';
import { operationLabel } from './metrics.ts';

/** The API server sends at most 3 MiB; anything larger is not a review. */
export const BODY_LIMIT = 3 * 1024 * 1024;

export interface AdmissionAppOptions {
  readonly deps: HandlerDeps;
  /** TLS material; absent for `inject()` tests. Swapped later with `server.setSecureContext`. */
  readonly https?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  /** How long each phase of a connection may take, and how many may be open (HTTPS only). */
  readonly limits?: ConnectionLimits;
}

/**
 * Node.js checks the header and request timeouts on a timer, not per byte: check often enough
 * that a slow client is cut within a small fraction of its timeout.
 */
function checkingInterval(limits: ConnectionLimits): number {
  return Math.max(50, Math.min(1000, limits.headerTimeoutMs / 4, limits.bodyTimeoutMs / 4));
}

/** TLS and HTTP server options for `limits` (passed through Fastify's `https`). */
function tlsServerOptions(limits: ConnectionLimits | undefined): Record<string, number> {
  if (!limits) return {};
  return {
    handshakeTimeout: limits.handshakeTimeoutMs,
    headersTimeout: limits.headerTimeoutMs,
    connectionsCheckingInterval: checkingInterval(limits),
  };
}

/**
 * What Node.js does not bound by itself: a connection that opens (for HTTPS: completes its
 * handshake) and then stays silent. Until its first request it may be silent for `idleTimeoutMs`
 * (every byte it sends restarts the timer; the header timeout bounds a trickle); after a response
 * the keep-alive timeout takes over.
 */
function idleUntilFirstRequest(
  server: Server,
  opened: 'connection' | 'secureConnection',
  limits: ConnectionLimits,
): void {
  server.on(opened, (socket: Socket) => socket.setTimeout(limits.idleTimeoutMs));
  server.on('request', (request: { socket: Socket }) => request.socket.setTimeout(0));
}

/** Fastify's options for the timeouts of `limits` (plain HTTP: the telemetry listener). */
function httpTimeouts(limits: ConnectionLimits | undefined): Record<string, unknown> {
  if (!limits) return {};
  return {
    requestTimeout: limits.bodyTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: limits.headerTimeoutMs,
      connectionsCheckingInterval: checkingInterval(limits),
    },
  };
}

/** Fastify's own codes for a body it could not take (size, media type, JSON syntax). */
const BODY_ERRORS = new Set([
  'FST_ERR_CTP_BODY_TOO_LARGE',
  'FST_ERR_CTP_INVALID_MEDIA_TYPE',
  'FST_ERR_CTP_EMPTY_JSON_BODY',
  'FST_ERR_CTP_INVALID_JSON_BODY',
  'FST_ERR_CTP_INVALID_CONTENT_LENGTH',
]);

function isBodyError(err: FastifyError): boolean {
  return BODY_ERRORS.has(err.code) || err instanceof SyntaxError;
}

/**
 * The stack overflowed while copying or diffing the object: only an object nested thousands of
 * levels deep does that (the API server never sends one), so it is the request's fault.
 */
function isTooDeep(err: Error): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

export function buildAdmissionApp(options: AdmissionAppOptions): FastifyInstance {
  const { deps } = options;
  const app = Fastify({
    // Fastify logs nothing itself: the handler writes one line per review, the error handler
    // one per failure, so no request body can reach a log through the framework.
    logger: false,
    bodyLimit: BODY_LIMIT,
    // Bound every connection: a client that trickles its body cannot hold a socket forever.
    requestTimeout: options.limits?.bodyTimeoutMs ?? deps.deadlineMs + 1000,
    ...(options.limits ? { keepAliveTimeout: options.limits.keepAliveTimeoutMs } : {}),
    return503OnClosing: true,
    ...(options.https
      ? {
          https: {
            key: options.https.key,
            cert: options.https.cert,
            ...tlsServerOptions(options.limits),
          },
        }
      : {}),
  }) as unknown as FastifyInstance;
  if (options.https && options.limits) {
    // The connection cap: more are closed as soon as they are accepted, and counted.
    const server = app.server as unknown as HttpsServer;
    server.maxConnections = options.limits.maxConnections;
    server.on('drop', () => deps.metrics.connectionsRejected.inc());
    idleUntilFirstRequest(server, 'secureConnection', options.limits);
  }

  app.post('/mutate', async (request, reply) => {
    const review = await handleReview(request.body, deps);
    return reply.send(review);
  });

  app.setErrorHandler((err: FastifyError, _request, reply) => {
    if (isWebhookError(err) && err.code === ErrorCode.BAD_REVIEW) {
      return reply.code(400).send({ code: err.code, message: err.message });
    }
    if (isBodyError(err)) {
      deps.metrics.requests.inc({ operation: operationLabel(undefined), result: 'invalid' });
      return reply.code(400).send({ code: ErrorCode.BAD_REVIEW, message: err.message });
    }
    if (isTooDeep(err)) {
      deps.metrics.requests.inc({ operation: operationLabel(undefined), result: 'invalid' });
      return reply
        .code(400)
        .send({ code: ErrorCode.BAD_REVIEW, message: 'the object is nested too deeply' });
    }
    // A bug: say so without echoing anything from the request.
    deps.logger.error(
      { code: err.code ?? 'E_INTERNAL', err: { name: err.name, stack: err.stack } },
      'internal error',
    );
    deps.metrics.requests.inc({ operation: operationLabel(undefined), result: 'error' });
    return reply.code(500).send({ code: 'E_INTERNAL', message: 'internal error' });
  });
  return app;
}

export interface TelemetryState {
  /** `/healthz` fails until a serving certificate is loaded. */
  certificateLoaded(): boolean;
  /** `/readyz` fails from SIGTERM on. */
  shuttingDown(): boolean;
}

export function buildTelemetryApp(options: {
  readonly registry: { metrics(): Promise<string>; readonly contentType: string };
  readonly state: TelemetryState;
  /** The admission listener's timeouts; no cap here, so that probes are never refused. */
  readonly limits?: ConnectionLimits;
}): FastifyInstance {
  const app = Fastify({
    logger: false,
    ...httpTimeouts(options.limits),
  }) as unknown as FastifyInstance;
  if (options.limits) idleUntilFirstRequest(app.server, 'connection', options.limits);
  app.get('/healthz', async (_request, reply) =>
    options.state.certificateLoaded()
      ? reply.send({ status: 'ok' })
      : reply.code(503).send({ status: 'no serving certificate loaded yet' }),
  );
  app.get('/readyz', async (_request, reply) =>
    options.state.shuttingDown() || !options.state.certificateLoaded()
      ? reply
          .code(503)
          .send({ status: options.state.shuttingDown() ? 'shutting down' : 'not ready' })
      : reply.send({ status: 'ok' }),
  );
  app.get('/metrics', async (_request, reply) =>
    reply
      .header('content-type', options.registry.contentType)
      .send(await options.registry.metrics()),
  );
  return app;
}
