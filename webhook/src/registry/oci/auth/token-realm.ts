/**
 * Where a Bearer challenge's realm may send us: an http(s) URL, and a plain-HTTP one only without
 * a secret in the request unless that host is configured as plain HTTP.
 */
import type { RegistryCredential } from '../docker-config.ts';
import { hostOptions, type RegistryHosts } from '../transport.ts';

/** Why a realm is refused (a RegistryError reason), or the URL to ask. */
export type RealmCheck =
  { readonly url: URL } | { readonly refused: string; readonly cause?: unknown };

export interface RealmRules {
  readonly hosts: RegistryHosts;
}

export function checkTokenRealm(
  realm: string,
  credential: RegistryCredential | undefined,
  rules: RealmRules,
): RealmCheck {
  let url: URL;
  try {
    url = new URL(realm);
  } catch (error) {
    return { refused: `token realm is not a URL`, cause: error };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { refused: `token realm scheme ${url.protocol}` };
  }
  const sendsSecret = credential?.username !== undefined || credential?.identityToken !== undefined;
  const plainAllowed = hostOptions(rules.hosts, url.host).plainHttp === true;
  if (sendsSecret && url.protocol === 'http:' && !plainAllowed) {
    return { refused: `token realm ${url.host} is plain HTTP; refusing to send credentials` };
  }
  return { url };
}
