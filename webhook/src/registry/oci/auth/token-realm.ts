/**
 * Where a Bearer challenge's realm may send us. A registry's 401 names the realm, so without rules
 * any registry (or anything that answers like one) could make the webhook fetch any URL. The realm
 * gets the rules the registry gets:
 *   - `https:`, or `http:` only for a host configured as plain HTTP (`--registry-plain-http`),
 *     whether or not the request carries a credential;
 *   - with `sameHost`, only on the registry's own host name (any port).
 */
import { registryApiHost } from '../reference.ts';
import { hostOptions, type RegistryHosts } from '../transport.ts';

/** Why a realm is refused (a RegistryError reason), or the URL to ask. */
type RealmCheck = { readonly url: URL } | { readonly refused: string; readonly cause?: unknown };

interface RealmRules {
  readonly hosts: RegistryHosts;
  /** The registry that sent the challenge (normalised, `docker.io`, `r.example:5000`). */
  readonly registry: string;
  /** Only a realm on the registry's own host name. Default false: Docker Hub, GHCR, ECR differ. */
  readonly sameHost?: boolean;
}

/** May a request go to this URL over plain HTTP? Only to a host configured as plain HTTP. */
export function plainHttpAllowed(hosts: RegistryHosts, url: URL): boolean {
  return url.protocol !== 'http:' || hostOptions(hosts, url.host).plainHttp === true;
}

export function checkTokenRealm(realm: string, rules: RealmRules): RealmCheck {
  let url: URL;
  try {
    url = new URL(realm);
  } catch (error) {
    return { refused: `token realm is not a URL`, cause: error };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { refused: `token realm scheme ${url.protocol}` };
  }
  if (!plainHttpAllowed(rules.hosts, url)) {
    return {
      refused: `token realm ${url.host} is plain HTTP and not configured as a plain-HTTP registry`,
    };
  }
  const registryHost = new URL(`https://${registryApiHost(rules.registry)}`).hostname;
  if (rules.sameHost === true && url.hostname !== registryHost) {
    return { refused: `token realm ${url.host} is not on the registry's host ${registryHost}` };
  }
  return { url };
}
