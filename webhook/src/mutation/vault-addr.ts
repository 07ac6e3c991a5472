/**
 * Vault addresses, compared as the init program dials them (init-binary/src/config.ts): scheme and
 * host without case, the default port (443 for https, 80 for http) the same as none, `.` and `..`
 * segments resolved, slashes at the end dropped, a query or fragment ignored (the init program
 * drops them). The webhook's allowlist (`--vault-addr`, `--allowed-vault-addrs`), the `vault-addr`
 * annotation and a container's own `VAULT_ADDR` (own-env.ts, through the annotation's row) all go
 * through `normalVaultAddr`. An address holding a user name or password is never allowed, and is
 * never echoed with them.
 */
import { ErrorCode } from '../errors.ts';
import type { InjectionConfig } from './settings.ts';
import { ValueError, quote } from './values.ts';

function parsed(value: string): URL | undefined {
  const v = value.trim();
  if (!URL.canParse(v)) return undefined;
  const url = new URL(v);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
}

const hasCredentials = (url: URL): boolean => url.username !== '' || url.password !== '';

/** The address as the init program would dial it, or undefined when it would refuse it. */
export function normalVaultAddr(value: string): string | undefined {
  const url = parsed(value);
  if (url === undefined || hasCredentials(url)) return undefined;
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

/** `value` quoted for a message, a user name and password replaced by `***`. */
function shown(value: string): string {
  const url = parsed(value);
  if (url === undefined || !hasCredentials(url)) return quote(value.trim());
  return quote(`${url.protocol}//***@${url.host}${url.pathname}`);
}

/**
 * Why a webhook setting (`--vault-addr`, an `--allowed-vault-addrs` entry) cannot be used, or
 * undefined. Said at start rather than per pod: such an entry could never match, or would put
 * credentials in every pod.
 */
export function vaultAddrProblem(value: string): string | undefined {
  const url = parsed(value);
  if (url === undefined) return `${quote(value.trim())} is not an http(s) URL`;
  if (hasCredentials(url)) {
    return `${shown(value)} holds a user name or password: a Vault address never carries credentials (the init program logs in with the pod's identity)`;
  }
  if (url.search !== '' || url.hash !== '') {
    return `${shown(value)} has a query or fragment, which the init program drops: write the address alone`;
  }
  return undefined;
}

/**
 * An address the webhook allows: its own `--vault-addr` or one of `--allowed-vault-addrs`,
 * compared normalised. Returns the allowed entry as the operator wrote it (trailing slashes
 * dropped), so a pod always gets exactly an address the operator listed.
 */
export function allowedVaultAddr(value: string, config: InjectionConfig): string {
  const allowed = [config.vaultAddr, ...config.allowedVaultAddrs];
  const wanted = normalVaultAddr(value);
  const match =
    wanted === undefined ? undefined : allowed.find((a) => normalVaultAddr(a) === wanted);
  if (match === undefined) {
    const url = parsed(value);
    const why =
      url !== undefined && hasCredentials(url) ? ': it holds a user name or password' : '';
    throw new ValueError(
      `${shown(value)} is not an allowed Vault address${why} (allowed: ${allowed.join(', ')})`,
      ErrorCode.ADDR_NOT_ALLOWED,
    );
  }
  return match.trim().replace(/\/+$/, '');
}
