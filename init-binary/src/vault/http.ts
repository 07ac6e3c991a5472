/**
 * The one place node-vault is used: a client built from our configuration alone, every call
 * retried by policy and bound to the run's deadline, every failure translated once.
 */
import type NodeVault from 'node-vault';
import { withRetry } from '../retry.ts';
import { uptimeMs, type Logger } from '../log.ts';
import { isRetryable, statusOf, translate, type CallContext } from './errors.ts';
import { proxyFor, type ProxyConfig } from '../contract/proxy.ts';
import { createTransport } from './transport.ts';

/** Vault's JSON envelope; fields are checked where they are used. */
export type RawResponse = Readonly<Record<string, unknown>>;

export interface VaultHttpOptions {
  readonly addr: string;
  readonly namespace: string | undefined;
  readonly caPem: string | undefined;
  readonly skipVerify: boolean;
  readonly timeoutMs: number;
  /** HTTPS_PROXY, HTTP_PROXY and NO_PROXY (config.ts); Vault's address decides which applies. */
  readonly proxy?: ProxyConfig | undefined;
  /** The run's deadline (login, reads and retries). */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

export interface CallOptions {
  /** For messages: "reading secret/data/app". */
  readonly action: string;
  /** A failed login is always "denied" (77), whatever 4xx Vault chose. */
  readonly login?: boolean;
  /** What to check, by the status Vault answered (added to the failure line). */
  readonly hints?: Readonly<Record<number, string>>;
  /** Credentials this call sends (a login's JWT, role ID, secret ID): cut out of Vault's texts. */
  readonly secrets?: readonly string[];
}

export interface VaultHttp {
  /** GET; undefined when Vault answers 404. */
  read(path: string, options: CallOptions): Promise<RawResponse | undefined>;
  /** POST a JSON body. */
  write(path: string, body: unknown, options: CallOptions): Promise<RawResponse>;
  /** The token of the calls that follow, and who it belongs to (for denial messages). */
  setToken(token: string, identity?: string): void;
  /** A new budget for the calls that follow (daemon mode: one per renewal). */
  setDeadline(signal: AbortSignal, timeoutMs: number): void;
  readonly addr: string;
}

export async function createVaultHttp(options: VaultHttpOptions): Promise<VaultHttp> {
  const deadline = { signal: options.signal, timeoutMs: options.timeoutMs };
  const proxy = proxyFor(options.proxy, new URL(options.addr));
  if (proxy)
    options.log.debug('Vault through a proxy', { proxy: proxy.display, from: proxy.variable });
  const transport = createTransport({
    ...(proxy ? { proxy } : {}),
    https: options.addr.startsWith('https:'),
    addr: options.addr,
    ca: options.caPem,
    rejectUnauthorized: !options.skipVerify,
    signal: () => deadline.signal,
  });
  // One turn of the tick queue: the transport's first connect (net.connect defers it to a tick)
  // goes out before node-vault is evaluated, and the handshake overlaps it.
  await new Promise<void>((next) => process.nextTick(next));
  // Loaded here, not at the top: a run without references never pays for it.
  const { default: nodeVault } = await import('node-vault');
  options.log.debug('node-vault loaded', { atMs: uptimeMs() });
  const client: NodeVault.client = nodeVault({
    endpoint: options.addr,
    'request-promise': transport,
    debug: () => undefined,
    noCustomHTTPVerbs: true,
    // We call read and write only: no generated commands (their path templates are mustache,
    // their argument schemas tv4), and request() checks path and method itself. The program
    // bundles stubs for tv4, mustache and commands.js (scripts/bundle.esbuild.ts).
    commands: {},
    mustache: NO_TEMPLATES,
    // node-vault's types call tv4 a function; it is the tv4 object, used as tv4.validate().
    tv4: requestCheck() as unknown as NodeVault.VaultOptions['tv4'],
  });
  // node-vault falls back to VAULT_TOKEN, VAULT_NAMESPACE and VAULT_PREFIX from process.env for
  // every setting we leave empty: set each one explicitly so that only our configuration counts.
  const settable = client as NodeVault.client & { namespace: string; pathPrefix: string };
  settable.token = '';
  settable.namespace = options.namespace ?? '';
  settable.pathPrefix = '';

  // The token of the session, and every one it had before (daemon renewals keep it).
  const session: { identity?: string; tokens: Set<string> } = { tokens: new Set() };
  const call = <T>(
    fn: () => Promise<T>,
    callOptions: CallOptions,
    needs: CallContext['needs'],
  ): Promise<T> =>
    withRetry(fn, {
      signal: deadline.signal,
      retryable: isRetryable,
      onRetry: (err, attempt, delayMs) =>
        options.log.debug(`retrying ${callOptions.action}`, {
          attempt,
          delayMs,
          status: statusOf(err),
          error: String((err as { code?: unknown }).code ?? ''),
        }),
    }).catch((err: unknown) => {
      throw translate(err, {
        addr: options.addr,
        timeoutMs: deadline.timeoutMs,
        action: callOptions.action,
        login: callOptions.login,
        hints: callOptions.hints,
        identity: session.identity,
        needs,
        secrets: [...session.tokens, ...(callOptions.secrets ?? [])],
      });
    });

  return {
    addr: options.addr,
    setDeadline: (signal, timeoutMs) => {
      deadline.signal = signal;
      deadline.timeoutMs = timeoutMs;
    },
    setToken: (token, identity) => {
      settable.token = token;
      session.tokens.add(token);
      session.identity = identity;
    },
    read: (path, callOptions) =>
      call(
        async () => {
          try {
            return asRaw(await client.read(path));
          } catch (err) {
            if (statusOf(err) === 404) return undefined;
            throw err;
          }
        },
        callOptions,
        { capability: 'read', path: policyPath(path) },
      ),
    write: (path, body, callOptions) =>
      call(async () => asRaw(await client.write(path, body)), callOptions, {
        capability: 'update',
        path: policyPath(path),
      }),
  };
}

/** What node-vault's request() asks of tv4: its options carry a string path and method. */
function requestCheck(): { error: Error | null; validate(options: unknown): boolean } {
  return {
    error: null,
    validate(options: unknown): boolean {
      const o = options as { path?: unknown; method?: unknown } | null;
      const ok = typeof o?.path === 'string' && typeof o.method === 'string';
      this.error = ok ? null : new TypeError('node-vault request without a path or a method');
      return ok;
    },
  };
}

const NO_TEMPLATES = {
  render: (): never => {
    throw new Error('node-vault commands are not used');
  },
};

/** The path a policy names: the request path without its query (`?version=2`). */
function policyPath(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function asRaw(body: unknown): RawResponse {
  // 204 No Content comes back as undefined.
  return typeof body === 'object' && body !== null ? (body as RawResponse) : {};
}
