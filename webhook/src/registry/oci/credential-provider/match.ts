/**
 * `matchImages` as kubelet matches them (`URLsMatchStr`): both sides are read as schemeless URLs;
 * the host has as many dot-separated labels as the pattern and each label matches its pattern
 * label as a shell glob (`*`, `?`, `[a-z]`), never across a dot, so `*.io` does not match
 * `k8s.gcr.io`; a port must be equal (none matches none only); the pattern's path is a plain string
 * prefix of the image's path. Wildcards belong in the host only.
 */

interface SchemelessUrl {
  readonly labels: readonly string[];
  readonly port: string;
  readonly path: string;
}

function splitUrl(text: string): SchemelessUrl {
  const slash = text.indexOf('/');
  const hostPort = slash === -1 ? text : text.slice(0, slash);
  const path = slash === -1 ? '' : text.slice(slash);
  const colon = hostPort.lastIndexOf(':');
  const hasPort = colon !== -1 && /^\d*$/.test(hostPort.slice(colon + 1));
  const host = hasPort ? hostPort.slice(0, colon) : hostPort;
  return { labels: host.split('.'), port: hasPort ? hostPort.slice(colon + 1) : '', path };
}

/** A shell glob for one host label (Go's filepath.Match syntax), as a RegExp. */
function labelGlob(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i] ?? '';
    if (c === '*') source += '[^.]*';
    else if (c === '?') source += '[^.]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) throw new Error(`unterminated "[" in "${pattern}"`);
      const body = pattern.slice(i + 1, end);
      const negated = body.startsWith('^');
      const set = (negated ? body.slice(1) : body).replace(/[\\\]]/g, '\\$&');
      source += negated ? `[^.${set}]` : `[${set}]`;
      i = end;
    } else source += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'i');
}

/** A reason `pattern` is not a valid `matchImages` entry, or undefined. */
export function matchImageProblem(pattern: string): string | undefined {
  if (pattern === '') return 'is empty';
  if (/\s|^[a-z][a-z0-9+.-]*:\/\//i.test(pattern)) return 'has a scheme or a space';
  const { labels, port, path } = splitUrl(pattern);
  if (/[*?[]/.test(port) || /[*?[]/.test(path)) return 'has a wildcard outside the host';
  if (labels.some((label) => label === '')) return 'has an empty host label';
  try {
    labels.forEach(labelGlob);
  } catch (error) {
    return (error as Error).message;
  }
  return port !== '' && !/^\d+$/.test(port) ? 'has an invalid port' : undefined;
}

/** Whether `image` (`registry/repository`, no tag) matches the `matchImages` entry `pattern`. */
export function matchesImage(pattern: string, image: string): boolean {
  const glob = splitUrl(pattern);
  const target = splitUrl(image);
  if (glob.port !== target.port || glob.labels.length !== target.labels.length) return false;
  if (!target.path.startsWith(glob.path)) return false;
  return glob.labels.every((label, i) => labelGlob(label).test(target.labels[i] ?? ''));
}
