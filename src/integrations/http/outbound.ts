import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici';
import { ActionError } from '../action-error.js';
import { proxyFor } from './proxy-env.js';
import { BlockedAddressError, SsrfGuard } from './ssrf-guard.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Per-call network rules: extra allowed networks (workspace and integration) and TLS verification. */
export interface OutboundPolicy {
  allow?: readonly string[];
  verifyTls?: boolean;
}

export interface OutboundRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string | Buffer | undefined;
  signal: AbortSignal;
  maxRedirects?: number;
  /** Headers holding credentials (beyond authorization and cookie): dropped on a redirect to another origin. */
  credentialHeaders?: readonly string[];
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** The URL that answered (after redirects). */
  url: URL;
}

export interface OutboundOptions {
  /** Networks every call may reach (OSPREY_HTTP_ALLOW_NETWORKS). */
  allow: readonly string[];
  connectTimeoutMs?: number;
  maxResponseBytes?: number;
  /** The proxy variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY); default process.env. */
  env?: NodeJS.ProcessEnv;
}

interface Route {
  guard: SsrfGuard;
  direct: Agent;
  proxies: Map<string, ProxyAgent>;
}

/**
 * Outbound HTTP for every action. Each connection's address is checked by the SSRF guard after DNS
 * resolution (so a DNS answer cannot change between check and use); redirects are followed by hand
 * with each hop checked; bodies are capped; TLS is verified unless a policy turns it off. Through a
 * proxy (the standard variables) the proxy resolves the name, so the guard checks the resolved
 * address just before sending instead.
 */
export class OutboundHttp {
  readonly #options: OutboundOptions;
  readonly #routes = new Map<string, Route>();
  readonly maxResponseBytes: number;

  constructor(options: OutboundOptions) {
    this.#options = options;
    this.maxResponseBytes = options.maxResponseBytes ?? 10 * 1024 * 1024;
  }

  /** The guard for a policy: the installation's allow-list plus the policy's. */
  guard(policy: OutboundPolicy = {}): SsrfGuard {
    return this.#route(policy).guard;
  }

  async send(req: OutboundRequest, policy: OutboundPolicy = {}): Promise<OutboundResponse> {
    const route = this.#route(policy);
    let method = req.method;
    let { body } = req;
    let target = req.url;
    const maxRedirects = req.maxRedirects ?? 5;
    for (let hop = 0; ; hop++) {
      let res: Dispatcher.ResponseData;
      try {
        route.guard.checkLiteral(target.hostname);
        const proxy = proxyFor(target, this.#options.env ?? process.env);
        let dispatcher: Dispatcher = route.direct;
        if (proxy) {
          await checkResolved(route.guard, target.hostname);
          dispatcher = this.#proxy(route, proxy, policy);
        }
        res = await request(target, {
          method,
          headers: req.headers,
          body: body ?? null,
          dispatcher,
          signal: req.signal,
        });
      } catch (error) {
        const blocked = blockedCause(error);
        if (blocked) throw new ActionError('ADDRESS_BLOCKED', blocked.message);
        if (req.signal.aborted) throw new ActionError('STEP_TIMEOUT', 'the request timed out');
        const code = (error as { code?: string; cause?: { code?: string } }).cause?.code ?? '';
        if (/CERT|SELF_SIGNED|TLS|SSL/i.test(code) || /certificate/i.test((error as Error).message))
          throw new ActionError('TLS_FAILED', `${target.origin}: ${(error as Error).message}`);
        throw new ActionError('CONNECTION_FAILED', `${target.origin}: ${describe(error)}`);
      }
      if (REDIRECTS.has(res.statusCode) && typeof res.headers.location === 'string') {
        await res.body.dump();
        if (hop >= maxRedirects)
          throw new ActionError('TOO_MANY_REDIRECTS', `more than ${maxRedirects} redirects`);
        const next = new URL(res.headers.location, target);
        if (next.protocol !== 'http:' && next.protocol !== 'https:')
          throw new ActionError('CONNECTION_FAILED', `a redirect to ${next.protocol} is not followed`);
        if (next.origin !== target.origin) {
          // Credentials are for the origin they were configured for.
          for (const h of ['authorization', 'cookie', ...(req.credentialHeaders ?? [])])
            delete req.headers[h.toLowerCase()];
        }
        target = next;
        if (
          res.statusCode === 303 ||
          ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')
        ) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      const text = await this.#read(res.body);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers))
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      return { status: res.statusCode, headers, text, url: target };
    }
  }

  async close(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const route of this.#routes.values()) {
      closing.push(route.direct.close());
      for (const p of route.proxies.values()) closing.push(p.close());
    }
    this.#routes.clear();
    await Promise.allSettled(closing);
  }

  #route(policy: OutboundPolicy): Route {
    const allow = [...this.#options.allow, ...(policy.allow ?? [])];
    const verify = policy.verifyTls !== false;
    const key = `${verify}|${allow.join(',')}`;
    let route = this.#routes.get(key);
    if (!route) {
      const guard = new SsrfGuard(allow);
      route = {
        guard,
        direct: new Agent({
          connect: {
            lookup: guard.lookup,
            timeout: this.#options.connectTimeoutMs ?? 10_000,
            rejectUnauthorized: verify,
          },
        }),
        proxies: new Map(),
      };
      if (this.#routes.size >= 200) {
        const [oldest] = this.#routes.keys();
        const old = this.#routes.get(oldest!)!;
        this.#routes.delete(oldest!);
        void old.direct.close();
      }
      this.#routes.set(key, route);
    }
    return route;
  }

  #proxy(route: Route, uri: string, policy: OutboundPolicy): ProxyAgent {
    let agent = route.proxies.get(uri);
    if (!agent) {
      agent = new ProxyAgent({
        uri,
        requestTls: { rejectUnauthorized: policy.verifyTls !== false },
        connect: { timeout: this.#options.connectTimeoutMs ?? 10_000 },
      });
      route.proxies.set(uri, agent);
    }
    return agent;
  }

  async #read(stream: AsyncIterable<Buffer>): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream) {
      size += chunk.length;
      if (size > this.maxResponseBytes)
        throw new ActionError(
          'RESPONSE_TOO_LARGE',
          `the response is larger than ${this.maxResponseBytes} bytes`,
        );
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}

function blockedCause(error: unknown): BlockedAddressError | undefined {
  for (let e = error as { cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as never, i++)
    if (e instanceof BlockedAddressError) return e;
  return undefined;
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  const base = (error as Error).message;
  return cause?.code ? `${base} (${cause.code})` : cause?.message ? `${base}: ${cause.message}` : base;
}

/** Through a proxy: the names' current addresses must all be allowed. */
async function checkResolved(guard: SsrfGuard, hostname: string): Promise<void> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  if (isIP(bare)) return; // literals were checked already
  const addresses = await dnsLookup(bare, { all: true }).catch(() => []);
  const bad = addresses.find((a) => !guard.isAllowed(a.address));
  if (bad) throw new BlockedAddressError(hostname, bad.address);
}
