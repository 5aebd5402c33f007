/**
 * The standard proxy variables: HTTPS_PROXY / HTTP_PROXY (either case) name the proxy for each
 * scheme; NO_PROXY lists hosts reached directly ("*", exact names, ".suffix" or "suffix", host:port).
 */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv): string | undefined {
  const proxy =
    url.protocol === 'https:'
      ? (env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy)
      : (env.HTTP_PROXY ?? env.http_proxy);
  if (!proxy) return undefined;
  const noProxy = env.NO_PROXY ?? env.no_proxy ?? '';
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return undefined;
    const [name, entryPort] = splitHostPort(entry.replace(/^\*/, ''));
    if (entryPort && entryPort !== port) continue;
    const suffix = name.replace(/^\./, '');
    if (host === suffix || (!suffix.includes(':') && host.endsWith(`.${suffix}`))) return undefined;
  }
  return proxy;
}

/** "host:port", "[v6]:port", "[v6]", a bare IPv6 address (no port) or a name. */
function splitHostPort(entry: string): [string, string | undefined] {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return [bracketed[1]!, bracketed[2]];
  if ((entry.match(/:/g) ?? []).length > 1) return [entry, undefined];
  const [name, port] = entry.split(':') as [string, string | undefined];
  return [name, port];
}
