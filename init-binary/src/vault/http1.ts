/**
 * HTTP/1.1 as the transport (transport.ts) speaks it: a request written in one buffer, and an
 * incremental reader of the one response that answers it (status line, headers, then a body
 * delimited by Content-Length, chunked coding or the connection's end). Written by hand on
 * node:net instead of node:http, whose machinery costs 4-5 ms of CPU per init start
 * (docs/adr/0002-vault-client.md). A malformed answer fails with llhttp's code for it, as node:http
 * did (`HPE_…`): messages and exit codes stay what they were (docs/init-program.md).
 */

/** A response node:http would have refused, or one larger than the limits. */
export class HttpParseError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'HttpParseError';
    this.code = code;
  }
}

/** node:http's default `--max-http-header-size`. */
export const MAX_HEAD_BYTES = 16 * 1024;
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * What a header value may not hold, as node:http refuses it: control characters (CR and LF would
 * split the request) and anything beyond one byte.
 */
const UNSAFE_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

export interface RequestHead {
  readonly method: string;
  /** The request target: a path and query, or an absolute URI through a plain HTTP proxy. */
  readonly target: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** The request's bytes. Throws a TypeError (naming the header, never its value) on CR/LF/NUL. */
export function serializeRequest(head: RequestHead, body?: Buffer): Buffer {
  if (!TOKEN.test(head.method) || /[\s\0]/.test(head.target))
    throw new TypeError('invalid HTTP method or request target');
  let text = `${head.method} ${head.target} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(head.headers)) {
    if (!TOKEN.test(name) || UNSAFE_VALUE.test(value))
      throw new TypeError(`invalid character in the header ${TOKEN.test(name) ? name : '?'}`);
    text += `${name}: ${value}\r\n`;
  }
  text += '\r\n';
  return body && body.length > 0
    ? Buffer.concat([Buffer.from(text, 'latin1'), body])
    : Buffer.from(text, 'latin1');
}

type BodyMode =
  { kind: 'none' } | { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' };

export interface ResponseOptions {
  /** The answer to a CONNECT or HEAD: the head alone ends it. */
  readonly headOnly?: boolean;
  readonly maxBodyBytes?: number;
}

/**
 * Reads one response from the bytes a connection delivers, in whatever pieces they arrive. `push`
 * returns true once the response is complete; bytes past its end are in `rest`.
 */
export class ResponseReader {
  status = 0;
  /** Lowercased names; a repeated header keeps its values joined with ", ". */
  readonly headers = new Map<string, string>();
  /** The connection may carry another request once this response is complete. */
  reusable = false;
  rest: Buffer = Buffer.alloc(0);
  private pending: Buffer = Buffer.alloc(0);
  private mode: BodyMode | undefined;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  /** Chunked coding: bytes of data still to come in this chunk; -1 between chunks. */
  private chunkLeft = -1;
  private trailers = false;
  private done = false;
  private readonly maxBody: number;
  private readonly headOnly: boolean;

  constructor(options: ResponseOptions = {}) {
    this.maxBody = options.maxBodyBytes ?? MAX_BODY_BYTES;
    this.headOnly = options.headOnly === true;
  }

  get complete(): boolean {
    return this.done;
  }

  body(): Buffer {
    return this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
  }

  push(chunk: Buffer): boolean {
    if (this.done) {
      this.rest = Buffer.concat([this.rest, chunk]);
      return true;
    }
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (!this.done) {
      const progressed = this.mode === undefined ? this.readHead() : this.readBody();
      if (!progressed) break;
    }
    if (this.done) this.rest = this.pending;
    return this.done;
  }

  /** The connection ended: the response is complete only if its body runs to the end. */
  end(): void {
    if (this.done) return;
    if (this.mode?.kind === 'close') {
      this.finish(false);
      return;
    }
    throw new HttpParseError('ECONNRESET', 'connection closed before the response ended');
  }

  private finish(reusable: boolean): void {
    this.done = true;
    this.reusable = reusable && this.reusable;
  }

  private readHead(): boolean {
    const end = this.pending.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.pending.length > MAX_HEAD_BYTES)
        throw new HttpParseError('HPE_HEADER_OVERFLOW', 'response head larger than 16 KiB');
      return false;
    }
    if (end > MAX_HEAD_BYTES)
      throw new HttpParseError('HPE_HEADER_OVERFLOW', 'response head larger than 16 KiB');
    const lines = this.pending.subarray(0, end).toString('latin1').split('\r\n');
    this.pending = this.pending.subarray(end + 4);
    const m = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/.exec(lines[0] ?? '');
    if (!m) throw new HttpParseError('HPE_INVALID_CONSTANT', 'not an HTTP/1.x status line');
    const minor = m[1];
    this.status = Number(m[2]);
    this.headers.clear();
    for (const line of lines.slice(1)) this.addHeader(line);
    if (this.status < 200) return true; // 1xx: an interim answer, the real one follows
    const connection = (this.headers.get('connection') ?? '').toLowerCase();
    this.reusable =
      minor === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
    this.mode = this.bodyMode();
    if (this.mode.kind === 'close') this.reusable = false;
    return true;
  }

  private addHeader(line: string): void {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name))
      throw new HttpParseError('HPE_INVALID_HEADER_TOKEN', 'invalid response header');
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = this.headers.get(key);
    this.headers.set(key, before === undefined ? value : `${before}, ${value}`);
  }

  private bodyMode(): BodyMode {
    const s = this.status;
    if (this.headOnly || s === 204 || s === 304) return { kind: 'none' };
    const te = this.headers.get('transfer-encoding');
    const cl = this.headers.get('content-length');
    if (te !== undefined) {
      if (cl !== undefined)
        throw new HttpParseError(
          'HPE_UNEXPECTED_CONTENT_LENGTH',
          'both Content-Length and Transfer-Encoding',
        );
      return /(?:^|,)\s*chunked\s*$/i.test(te) ? { kind: 'chunked' } : { kind: 'close' };
    }
    if (cl === undefined) return { kind: 'close' };
    const values = new Set(cl.split(',').map((v) => v.trim()));
    const [only] = values;
    if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only))
      throw new HttpParseError('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length');
    const left = Number(only);
    if (left > this.maxBody) throw tooBig(this.maxBody);
    return { kind: 'length', left };
  }

  private take(bytes: Buffer): void {
    this.size += bytes.length;
    if (this.size > this.maxBody) throw tooBig(this.maxBody);
    if (bytes.length > 0) this.chunks.push(bytes);
  }

  private readBody(): boolean {
    const mode = this.mode as BodyMode;
    if (mode.kind === 'none') {
      this.finish(true);
      return true;
    }
    if (mode.kind === 'chunked') return this.readChunked();
    if (this.pending.length === 0) {
      if (mode.kind === 'length' && mode.left === 0) this.finish(true);
      return this.done;
    }
    if (mode.kind === 'close') {
      this.take(this.pending);
      this.pending = Buffer.alloc(0);
      return false;
    }
    const n = Math.min(mode.left, this.pending.length);
    this.take(this.pending.subarray(0, n));
    this.pending = this.pending.subarray(n);
    mode.left -= n;
    if (mode.left === 0) this.finish(true);
    return true;
  }

  /** One step of chunked coding: a size line, data, the CRLF after it, or a trailer line. */
  private readChunked(): boolean {
    if (this.chunkLeft > 0) {
      const n = Math.min(this.chunkLeft, this.pending.length);
      if (n === 0) return false;
      this.take(this.pending.subarray(0, n));
      this.pending = this.pending.subarray(n);
      this.chunkLeft -= n;
      return true;
    }
    if (this.chunkLeft === 0) {
      if (this.pending.length < 2) return false;
      if (this.pending[0] !== 0x0d || this.pending[1] !== 0x0a)
        throw new HttpParseError('HPE_STRICT', 'no CRLF after a chunk');
      this.pending = this.pending.subarray(2);
      this.chunkLeft = -1;
      return true;
    }
    const eol = this.pending.indexOf('\r\n');
    if (eol < 0) {
      if (this.pending.length > MAX_HEAD_BYTES)
        throw new HttpParseError('HPE_INVALID_CHUNK_SIZE', 'chunk size line too long');
      return false;
    }
    const line = this.pending.subarray(0, eol).toString('latin1');
    this.pending = this.pending.subarray(eol + 2);
    if (this.trailers) {
      if (line === '') this.finish(true);
      return true;
    }
    const m = /^([0-9a-fA-F]{1,8})(?:[ \t]*;.*)?$/.exec(line);
    if (!m) throw new HttpParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
    const size = parseInt(m[1] as string, 16);
    if (size === 0) this.trailers = true;
    else this.chunkLeft = size;
    return true;
  }
}

function tooBig(max: number): HttpParseError {
  return new HttpParseError('E2BIG', `response body larger than ${max / (1024 * 1024)} MiB`);
}
