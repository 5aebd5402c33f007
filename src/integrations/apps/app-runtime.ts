import type { ErrorObject } from 'ajv/dist/2020.js';
import type { Authentication, RequestTemplate } from '../../domain/apps/manifest.js';
import type { CodeRunner } from '../../engine/step-host.js';
import { truthy, type ExpressionRuntime, type Scope } from '../../engine/expressions.js';
import { ActionError } from '../action-error.js';
import type { OutboundHttp, OutboundPolicy } from '../http/outbound.js';
import { retryableConnection, retryableStatus, retryAfterFor, waitToRetry } from '../http/retry-policy.js';
import type { AppCatalogue, InstalledApp } from './catalogue.js';
import type { NativeActionContext, NativeHandler, NativeTest } from './native-handler.js';
import type { OAuth2Tokens } from './oauth2.js';
import { Scrubber } from './scrub.js';
import { statusError, vendorMessage } from './vendor-errors.js';

/** The codes an `error:` template may choose. */
const TEMPLATE_ERROR_CODES = new Set([
  'AUTH_FAILED',
  'NOT_FOUND',
  'REMOTE_REJECTED',
  'REMOTE_ERROR',
  'INVALID_RESPONSE',
]);

/** One action call: the app, its configuration (secrets included) and the integration's settings. */
export interface ActionCall {
  app: InstalledApp;
  action: string;
  params: unknown;
  config: Record<string, unknown>;
  secretKeys: readonly string[];
  policy: OutboundPolicy;
  timeoutMs: number;
  retries: number;
  signal: AbortSignal;
  /** Keys cached credentials (OAuth2 tokens): the integration's id and version. */
  cacheKey: string;
  workspaceId: string;
}

export interface ResponseView {
  status_code: number;
  headers: Record<string, string>;
  body: unknown;
}

export interface AppRuntimeDeps {
  http: OutboundHttp;
  expressions: ExpressionRuntime;
  code: CodeRunner;
  handlers: ReadonlyMap<string, NativeHandler>;
  tests: ReadonlyMap<string, NativeTest>;
  oauth: OAuth2Tokens;
  catalogue: AppCatalogue;
}

/**
 * Runs app actions from their manifests: validates parameters, renders request templates, applies
 * authentication, sends through the guarded outbound client with retries on 429/5xx, maps vendor
 * errors to stable codes and the answer to the output. Credentials are scrubbed from everything
 * that leaves.
 */
export class AppRuntime {
  constructor(private readonly deps: AppRuntimeDeps) {}

  async execute(call: ActionCall): Promise<unknown> {
    const { app } = call;
    const action = app.manifest.actions[call.action];
    if (!action)
      throw new ActionError(
        'ACTION_UNAVAILABLE',
        `${app.manifest.identifier} has no action "${call.action}"`,
      );
    const scrub = scrubberFor(call);
    const params = this.#validate(call);
    const signal = AbortSignal.any([call.signal, AbortSignal.timeout(call.timeoutMs)]);
    try {
      if (action.handler) {
        const handler = this.deps.handlers.get(action.handler);
        if (!handler) throw new ActionError('ACTION_UNAVAILABLE', `no native handler ${action.handler}`);
        return scrub.value(
          await handler({ ...this.#nativeContext(call, signal), params, retries: call.retries }),
        );
      }
      if (action.code) {
        const source = app.files.get(action.code);
        if (!source) throw new ActionError('ACTION_UNAVAILABLE', `the package has no ${action.code}`);
        const publicConfig = Object.fromEntries(
          Object.entries(call.config).filter(([k]) => !call.secretKeys.includes(k)),
        );
        const result = await this.deps.code.run(
          new TextDecoder().decode(source),
          { params, config: publicConfig },
          { memoryMb: 64, timeoutMs: call.timeoutMs },
          signal,
        );
        return scrub.value(result.output);
      }
      const scope = newScope(params, call.config);
      const requests = action.request ? [action.request] : (action.requests ?? []);
      for (const req of requests) {
        if (req.when !== undefined && !truthy(await this.#render(req.when, scope))) continue;
        const response = await this.#exchange(call, req, scope, scrub, signal);
        scope.context.response = response;
        scope.bindings.response = response;
        if (req.name) (scope.context.responses as Record<string, unknown>)[req.name] = response;
      }
      if (action.error !== undefined) {
        const failure = await this.#render(action.error, scope);
        if (typeof failure === 'string' && failure !== '')
          throw new ActionError('REMOTE_REJECTED', `${app.manifest.title}: ${failure}`);
        const f = failure as { code?: unknown; message?: unknown } | null;
        if (f && typeof f === 'object' && typeof f.message === 'string' && f.message !== '')
          throw new ActionError(
            typeof f.code === 'string' && TEMPLATE_ERROR_CODES.has(f.code) ? f.code : 'REMOTE_REJECTED',
            `${app.manifest.title}: ${f.message}`,
          );
      }
      const output =
        action.output !== undefined
          ? await this.#render(action.output, scope)
          : ((scope.context.response as ResponseView | undefined)?.body ?? null);
      return scrub.value(output);
    } catch (error) {
      throw cleanError(error, scrub, signal, call.signal);
    }
  }

  /** The connectivity test: the manifest's test request, action or handler; resolves on success. */
  async test(call: Omit<ActionCall, 'action' | 'params'>): Promise<{ status_code?: number }> {
    const { manifest } = call.app;
    const scrub = scrubberFor(call);
    const signal = AbortSignal.any([call.signal, AbortSignal.timeout(call.timeoutMs)]);
    try {
      missingConfig(call);
      const test = manifest.test;
      if (!test) return {};
      if (test.action) {
        await this.execute({ ...call, action: test.action, params: test.params ?? {} });
        return {};
      }
      if (test.handler) {
        const handler = this.deps.tests.get(test.handler);
        if (!handler) throw new ActionError('ACTION_UNAVAILABLE', `no native test ${test.handler}`);
        await handler(this.#nativeContext(call, signal));
        return {};
      }
      const response = await this.#exchange(
        { ...call, action: '', params: {} },
        test.request!,
        newScope({}, call.config),
        scrub,
        signal,
      );
      return { status_code: response.status_code };
    } catch (error) {
      throw cleanError(error, scrub, signal, call.signal);
    }
  }

  /** What a native handler or test gets: the configuration and the integration's network rules. */
  #nativeContext(
    call: Omit<ActionCall, 'action' | 'params'>,
    signal: AbortSignal,
  ): Omit<NativeActionContext, 'params'> {
    return {
      config: call.config,
      workspaceId: call.workspaceId,
      signal,
      guard: this.deps.http.guard(call.policy),
      policy: call.policy,
      verifyTls: call.policy.verifyTls !== false,
      timeoutMs: call.timeoutMs,
    };
  }

  #validate(call: ActionCall): Record<string, unknown> {
    const raw = call.params ?? {};
    if (typeof raw !== 'object' || Array.isArray(raw))
      throw new ActionError('INVALID_INPUT', 'the parameters must be an object', undefined, [
        { field: '', message: 'must be an object' },
      ]);
    missingConfig(call);
    const params = structuredClone(raw) as Record<string, unknown>;
    const validate = this.deps.catalogue.validator(call.app, call.action);
    if (validate && !validate(params)) {
      const details = (validate.errors ?? []).map(paramProblem);
      throw new ActionError(
        'INVALID_INPUT',
        `invalid parameters for ${call.app.manifest.identifier}.${call.action}: ${details.map((d) => `${d.field || '(parameters)'} ${d.message}`).join('; ')}`,
        undefined,
        details,
      );
    }
    return params;
  }

  async #render(template: unknown, scope: Scope): Promise<unknown> {
    return this.deps.expressions.render(template, scope);
  }

  /** Sends one request template, with authentication and retries; answers or throws a mapped error. */
  async #exchange(
    call: ActionCall,
    req: RequestTemplate,
    scope: Scope,
    scrub: Scrubber,
    signal: AbortSignal,
  ): Promise<ResponseView> {
    const { manifest } = call.app;
    const method = req.method ?? 'GET';
    let urlText: string;
    if (req.url !== undefined) urlText = String(await this.#render(req.url, scope));
    else {
      const base = String(await this.#render(manifest.base_url ?? '', scope)).replace(/\/+$/, '');
      const path = String(await this.#render(req.path ?? '', scope));
      urlText = `${base}${path.startsWith('/') || path === '' ? '' : '/'}${path}`;
    }
    let url: URL;
    try {
      url = new URL(urlText);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    } catch {
      const shown = scrub.touches(urlText) ? '[secret]' : urlText;
      throw new ActionError(
        'INVALID_CONFIGURATION',
        /^(null|undefined)?$/.test(urlText.trim()) || urlText.trim() === '/'
          ? `${manifest.title}: no URL to call; check the integration's configuration`
          : `${manifest.title}: the request URL is not an http(s) URL: ${shown}`,
      );
    }
    for (const [k, v] of Object.entries(asMap(await this.#render(req.query ?? {}, scope)))) {
      if (v === null || v === undefined) continue;
      for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, scalar(item));
    }
    const headers: Record<string, string> = { 'user-agent': 'Osprey' };
    if (req.response !== 'text') headers.accept = 'application/json';
    for (const [k, v] of Object.entries(asMap(await this.#render(req.headers ?? {}, scope))))
      if (v !== null && v !== undefined) headers[k.toLowerCase()] = scalar(v);
    let body: string | undefined;
    if (req.json !== undefined) {
      body = JSON.stringify(await this.#render(req.json, scope));
      headers['content-type'] ??= 'application/json';
    } else if (req.form !== undefined) {
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries(asMap(await this.#render(req.form, scope)))) {
        if (v === null || v === undefined) continue;
        for (const item of Array.isArray(v) ? v : [v]) form.append(k, scalar(item));
      }
      body = form.toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    } else if (req.body !== undefined) {
      const rendered = await this.#render(req.body, scope);
      body = typeof rendered === 'string' ? rendered : JSON.stringify(rendered);
    }
    const auth =
      req.authentication ??
      manifest.actions[call.action]?.authentication ??
      manifest.authentication ??
      'none';
    const shownPath = scrub.touches(url.pathname) ? '[secret URL]' : url.pathname;
    const label = `${manifest.title}: ${method} ${shownPath}`;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      const sendUrl = new URL(url);
      const sendHeaders = { ...headers };
      let oauthKey: string | undefined;
      try {
        oauthKey = await this.#authenticate(call, auth, scope, sendUrl, sendHeaders, scrub, signal);
      } catch (error) {
        // A token endpoint that is busy (429, 5xx) is waited for like the API itself.
        const e = error as ActionError;
        const busy = e instanceof ActionError && (e.code === 'RATE_LIMITED' || e.code === 'REMOTE_ERROR');
        if (busy && (await waitToRetry(attempt, call.retries, e.retryAfterMs, signal))) continue;
        throw error;
      }
      // Every header that carries a secret stays with the origin it was configured for.
      const credentialHeaders = Object.entries(sendHeaders)
        .filter(([, v]) => scrub.touches(v))
        .map(([k]) => k);
      let res;
      try {
        res = await this.deps.http.send(
          { method, url: sendUrl, headers: sendHeaders, body, signal, credentialHeaders },
          call.policy,
        );
      } catch (error) {
        const retryable =
          error instanceof ActionError && error.code === 'CONNECTION_FAILED' && retryableConnection(method);
        if (retryable && (await waitToRetry(attempt, call.retries, undefined, signal))) continue;
        throw error;
      }
      if (res.status === 401 && oauthKey && !refreshed) {
        this.deps.oauth.forget(oauthKey);
        refreshed = true;
        attempt--;
        continue;
      }
      const ok = (res.status >= 200 && res.status < 300) || (req.accept_status ?? []).includes(res.status);
      if (!ok) {
        // A 403 with no requests left (GitHub's primary rate limit) is a rate limit, not a refusal.
        const status = res.status === 403 && res.headers['x-ratelimit-remaining'] === '0' ? 429 : res.status;
        const after = retryAfterFor(status, res.headers);
        const retryable = retryableStatus(status, method, after);
        if (retryable && (await waitToRetry(attempt, call.retries, after, signal))) continue;
        const detail = vendorMessage(res.text);
        const message = `${label} answered ${res.status}${detail ? `: ${detail}` : ''}`;
        throw statusError(status, message, retryable ? (after ?? 0) : undefined);
      }
      const contentType = res.headers['content-type'] ?? '';
      let parsed: unknown = res.text;
      if (req.response === 'text') parsed = res.text;
      else if (res.text === '') parsed = null;
      else if (/json/i.test(contentType)) {
        try {
          parsed = JSON.parse(res.text) as unknown;
        } catch {
          throw new ActionError(
            'INVALID_RESPONSE',
            `${label} answered ${res.status} with a body that is not valid JSON`,
          );
        }
      } else if (/^\s*[[{]/.test(res.text)) {
        try {
          parsed = JSON.parse(res.text) as unknown;
        } catch {
          parsed = res.text;
        }
      }
      return { status_code: res.status, headers: res.headers, body: parsed };
    }
  }

  /** Applies the authentication to the request; answers the OAuth2 cache key when a token was used. */
  async #authenticate(
    call: ActionCall,
    auth: Authentication,
    scope: Scope,
    url: URL,
    headers: Record<string, string>,
    scrub: Scrubber,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    if (auth === 'none' || auth.type === 'none') return undefined;
    const text = async (t: string): Promise<string> => {
      const v = await this.#render(t, scope);
      return v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
    };
    switch (auth.type) {
      case 'api_key': {
        const value = await text(auth.value);
        if (value === '') return undefined; // nothing configured: no credential sent
        scrub.add(value);
        if (auth.in === 'query') url.searchParams.set(auth.name, value);
        else headers[auth.name.toLowerCase()] = value;
        return undefined;
      }
      case 'basic': {
        const value = `Basic ${Buffer.from(`${await text(auth.username)}:${await text(auth.password)}`).toString('base64')}`;
        scrub.add(value.slice(6));
        headers.authorization = value;
        return undefined;
      }
      case 'bearer': {
        const token = await text(auth.token);
        if (token === '') return undefined;
        scrub.add(token);
        headers.authorization = `Bearer ${token}`;
        return undefined;
      }
      case 'oauth2_client_credentials': {
        const token = await this.deps.oauth.token(
          call.cacheKey,
          {
            tokenUrl: await text(auth.token_url),
            clientId: await text(auth.client_id),
            clientSecret: await text(auth.client_secret),
            scope: auth.scope ? await text(auth.scope) : undefined,
            audience: auth.audience ? await text(auth.audience) : undefined,
            clientAuth: auth.client_auth ?? 'basic',
            label: call.app.manifest.title,
          },
          call.policy,
          signal,
        );
        scrub.add(token);
        headers.authorization = `Bearer ${token}`;
        return call.cacheKey;
      }
    }
  }
}

/** A query, header or form value as text: objects and lists as JSON. */
function scalar(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function asMap(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function newScope(params: Record<string, unknown>, config: Record<string, unknown>): Scope {
  const context: Record<string, unknown> = { params, config, responses: {} };
  return { context, bindings: { params, config, responses: context.responses } };
}

function scrubberFor(call: Pick<ActionCall, 'config' | 'secretKeys'>): Scrubber {
  return new Scrubber(call.secretKeys.map((k) => call.config[k]));
}

/** Required configuration without a value: the integration is incomplete. */
function missingConfig(call: Pick<ActionCall, 'app' | 'config'>): void {
  const missing = Object.entries(call.app.manifest.configuration ?? {})
    .filter(([k, f]) => f.required && (call.config[k] === undefined || call.config[k] === ''))
    .map(([k]) => k);
  if (missing.length)
    throw new ActionError(
      'INTEGRATION_INCOMPLETE',
      `${call.app.manifest.title} needs ${missing.join(', ')} in the integration's configuration`,
    );
}

function paramProblem(e: ErrorObject): { field: string; message: string } {
  const base = e.instancePath.split('/').slice(1).join('.');
  if (e.keyword === 'required') {
    const f = String(e.params.missingProperty);
    return { field: base ? `${base}.${f}` : f, message: 'is required' };
  }
  if (e.keyword === 'additionalProperties') {
    const f = String(e.params.additionalProperty);
    return { field: base ? `${base}.${f}` : f, message: 'is not a parameter of this action' };
  }
  if (e.keyword === 'enum')
    return {
      field: base,
      message: `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
    };
  return { field: base, message: e.message ?? 'is invalid' };
}

/** Errors leave without credentials, and an abort reads as the timeout it was. */
function cleanError(error: unknown, scrub: Scrubber, signal: AbortSignal, outer: AbortSignal): unknown {
  if (signal.aborted && !outer.aborted && !(error instanceof ActionError && error.code !== 'STEP_TIMEOUT'))
    return new ActionError('STEP_TIMEOUT', 'the action took longer than its timeout');
  if (error instanceof ActionError) {
    const message = scrub.text(error.message);
    return message === error.message
      ? error
      : new ActionError(error.code, message, error.retryAfterMs, error.details);
  }
  if (error instanceof Error && error.name !== 'AbortError') {
    const e = error as Error & { code?: unknown };
    const message = scrub.text(e.message);
    if (message !== e.message) return Object.assign(new Error(message), { name: e.name, code: e.code });
  }
  return error;
}
