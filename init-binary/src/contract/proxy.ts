/**
 * Proxy selection from `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, shared by the webhook's registry
 * client and the init program's Vault transport (docs/configuration.md, "Proxies"). Pure: it
 * decides which proxy a URL goes through; the transports open the connections.
 *
 * The rules are those of Go's golang.org/x/net/http/httpproxy (what the kubelet, containerd and
 * most cluster tooling use), with two deliberate differences, both documented:
 * - the lowercase variable wins over the uppercase one when both are set (as curl and Python do;
 *   Go prefers the uppercase one);
 * - loopback is not special-cased: `localhost` and 127.0.0.1 go through the proxy unless NO_PROXY
 *   lists them (as curl does; Go never proxies them).
 */
import { ContractError } from './errors.ts';

/** A proxy variable that cannot be used; names the variable, never its value (it may hold a password). */
export class ProxySettingError extends ContractError {
  readonly code = 'E_PROXY_SETTING';
  constructor(message: string) {
    super(message);
    this.name = 'ProxySettingError';
  }
}

export interface ProxyServer {
  readonly host: string;
  readonly port: number;
  /** `Basic …` from the URL's userinfo; never logged. */
  readonly authorization: string | undefined;
  /** `http://host:port`, without credentials: what logs and errors may show. */
  readonly display: string;
  /** The variable it came from (`HTTPS_PROXY` or `https_proxy`). */
  readonly variable: string;
}

interface DomainEntry {
  /** Lowercase, with a leading dot: `.example.com`. */
  readonly suffix: string;
  /** The entry had no leading dot: the domain itself matches too. */
  readonly matchSelf: boolean;
  readonly port: number | undefined;
}

interface IpEntry {
  readonly bytes: Uint8Array;
  /** Leading bits that must match (the whole address for a plain IP entry). */
  readonly bits: number;
  readonly port: number | undefined;
}

export interface NoProxy {
  readonly all: boolean;
  readonly domains: readonly DomainEntry[];
  readonly ips: readonly IpEntry[];
}

export interface ProxyConfig {
  readonly http: ProxyServer | undefined;
  readonly https: ProxyServer | undefined;
  readonly noProxy: NoProxy;
}

type Environment = Readonly<Record<string, string | undefined>>;

function lookup(env: Environment, lower: string): { name: string; value: string } | undefined {
  for (const name of [lower, lower.toUpperCase()]) {
    const value = env[name]?.trim();
    if (value !== undefined && value !== '') return { name, value };
  }
  return undefined;
}

/**
 * The proxy settings of an environment; undefined when neither HTTPS_PROXY nor HTTP_PROXY is set
 * (then NO_PROXY does not matter). Throws ProxySettingError for a value it cannot use.
 */
export function proxyConfigFromEnv(env: Environment): ProxyConfig | undefined {
  const https = lookup(env, 'https_proxy');
  const http = lookup(env, 'http_proxy');
  if (https === undefined && http === undefined) return undefined;
  const noProxy = lookup(env, 'no_proxy');
  return Object.freeze({
    https: https && parseProxyUrl(https.name, https.value),
    http: http && parseProxyUrl(http.name, http.value),
    noProxy: parseNoProxy(noProxy?.value ?? '', noProxy?.name ?? 'NO_PROXY'),
  });
}

/** A proxy URL; without a scheme, `http://` is assumed (as Go does). Port 80 by default. */
export function parseProxyUrl(variable: string, raw: string): ProxyServer {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new ProxySettingError(`${variable} is not a URL such as http://proxy.example:3128`);
  }
  if (url.protocol !== 'http:') {
    throw new ProxySettingError(
      `${variable}: only http:// proxies are supported (HTTP CONNECT), not ${url.protocol}//`,
    );
  }
  if (url.hostname === '') throw new ProxySettingError(`${variable} names no proxy host`);
  const port = url.port === '' ? 80 : Number(url.port);
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    let user: string;
    let password: string;
    try {
      user = decodeURIComponent(url.username);
      password = decodeURIComponent(url.password);
    } catch {
      throw new ProxySettingError(`${variable}: the credentials are not valid percent-encoding`);
    }
    authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  }
  const host = unbracket(url.hostname);
  return Object.freeze({
    host,
    port,
    authorization,
    display: `http://${url.hostname}:${port}`,
    variable,
  });
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function parsePort(variable: string, entry: string, raw: string): number {
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new ProxySettingError(`${variable}: "${entry}" has no valid port`);
  }
  return port;
}

/** `host:port`, `[v6]:port`, or a bare host / v6 address. */
function splitHostPort(variable: string, entry: string): { host: string; port?: number } {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(entry);
  if (bracketed) {
    const port = bracketed[2];
    return {
      host: bracketed[1] ?? '',
      ...(port !== undefined ? { port: parsePort(variable, entry, port) } : {}),
    };
  }
  const colon = entry.indexOf(':');
  if (colon < 0 || entry.indexOf(':', colon + 1) >= 0) return { host: entry };
  return { host: entry.slice(0, colon), port: parsePort(variable, entry, entry.slice(colon + 1)) };
}

/**
 * NO_PROXY's entries, comma-separated, case-insensitive, blanks ignored: `*` (everything),
 * `example.com` (it and its subdomains), `.example.com` and `*.example.com` (subdomains only),
 * an IP address or a CIDR (IPv4 or IPv6; hosts written as that address, no DNS lookups), each host
 * or address optionally with `:port` (then only that port).
 */
export function parseNoProxy(value: string, variable = 'NO_PROXY'): NoProxy {
  const domains: DomainEntry[] = [];
  const ips: IpEntry[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return Object.freeze({ all: true, domains: [], ips: [] });
    if (entry.includes('/')) {
      ips.push(parseCidr(variable, entry));
      continue;
    }
    const { host, port } = splitHostPort(variable, entry);
    const bytes = parseIp(host);
    if (bytes !== undefined) {
      ips.push({ bytes, bits: bytes.length * 8, port });
      continue;
    }
    let name = host.replace(/\.$/, '');
    if (name.startsWith('*.')) name = name.slice(1);
    if (name === '' || name === '.') {
      throw new ProxySettingError(`${variable}: "${entry}" names no host`);
    }
    const matchSelf = !name.startsWith('.');
    domains.push({ suffix: matchSelf ? `.${name}` : name, matchSelf, port });
  }
  return Object.freeze({ all: false, domains, ips });
}

function parseCidr(variable: string, entry: string): IpEntry {
  const slash = entry.indexOf('/');
  const bytes = parseIp(unbracket(entry.slice(0, slash)));
  const prefix = entry.slice(slash + 1);
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (bytes === undefined || !(bits >= 0 && bits <= bytes.length * 8)) {
    throw new ProxySettingError(`${variable}: "${entry}" is not a CIDR such as 10.0.0.0/8`);
  }
  return { bytes, bits, port: undefined };
}

/** The 4 or 16 bytes of an IP address literal; an IPv4-mapped IPv6 address gives 4. */
function parseIp(text: string): Uint8Array | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split('.').map(Number);
    return parts.every((n) => n <= 255) ? Uint8Array.from(parts) : undefined;
  }
  if (!text.includes(':')) return undefined;
  let canonical: string;
  try {
    // The URL parser validates and compresses IPv6 (embedded IPv4 becomes hex groups).
    canonical = unbracket(new URL(`http://[${text}]/`).hostname);
  } catch {
    return undefined;
  }
  const [head = '', tail] = canonical.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    bytes[i * 2] = n >> 8;
    bytes[i * 2 + 1] = n & 0xff;
  });
  const mapped = bytes.subarray(0, 12).every((b, i) => (i < 10 ? b === 0 : b === 0xff));
  return mapped ? bytes.slice(12) : bytes;
}

function ipMatches(entry: IpEntry, ip: Uint8Array): boolean {
  if (entry.bytes.length !== ip.length) return false;
  const full = entry.bits >> 3;
  for (let i = 0; i < full; i++) if (entry.bytes[i] !== ip[i]) return false;
  const rest = entry.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((entry.bytes[full] ?? 0) & mask) === ((ip[full] ?? 0) & mask);
}

/** Whether NO_PROXY sends this host and port (the URL's, default port filled in) direct. */
export function noProxyMatches(noProxy: NoProxy, hostname: string, port: number): boolean {
  if (noProxy.all) return true;
  const host = unbracket(hostname.toLowerCase()).replace(/\.$/, '');
  const ip = parseIp(host);
  if (ip !== undefined) {
    return noProxy.ips.some((e) => (e.port === undefined || e.port === port) && ipMatches(e, ip));
  }
  return noProxy.domains.some(
    (e) =>
      (e.port === undefined || e.port === port) &&
      (host.endsWith(e.suffix) || (e.matchSelf && host === e.suffix.slice(1))),
  );
}

/** The proxy a request to `url` goes through, or undefined for a direct connection. */
export function proxyFor(config: ProxyConfig | undefined, url: URL): ProxyServer | undefined {
  if (config === undefined) return undefined;
  const https = url.protocol === 'https:';
  const server = https ? config.https : config.http;
  if (server === undefined) return undefined;
  const port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
  return noProxyMatches(config.noProxy, url.hostname, port) ? undefined : server;
}
