import assert from 'node:assert/strict';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { KeyPair, TestApp } from './app.js';

/** The native error body: `{code, message, details}`. */
export interface ErrorBody {
  code: string;
  message: string;
  details: { field?: string; message: string }[];
}

/** The Torq surface's error body: a google.rpc.Status. */
export interface StatusBody {
  code: number;
  message: string;
  details: { '@type': string; reason: string; metadata: Record<string, string> }[];
}

export interface AuditEntry {
  id: string;
  timestamp: string;
  email: string;
  actor_name: string;
  actor_type: string;
  action: string;
  resource_id: string;
  resource_name: string;
  ip: string;
  user_agent: string;
  extra_data: Record<string, unknown>;
  account_id: string;
  account_name: string;
}

/**
 * Asserts a native error response: the status, the stable code, a non-empty message and, when
 * `field` is given, a `details[]` entry naming it (and the message naming it unless `quiet`).
 */
export function assertError(
  res: LightMyRequestResponse,
  status: number,
  code: string,
  field?: string,
  options: { messageNamesField?: boolean } = {},
): ErrorBody {
  assert.equal(res.statusCode, status, `expected ${status} ${code}, got ${res.statusCode}: ${res.body}`);
  const body = res.json() as ErrorBody;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'details', 'message'], res.body);
  assert.equal(body.code, code, res.body);
  assert.equal(typeof body.message, 'string');
  assert.ok(body.message.length > 0, 'the message is not empty');
  assert.ok(Array.isArray(body.details), res.body);
  assert.doesNotMatch(res.body, /\.ts:\d+|node_modules/, 'no stack trace reaches the client');
  if (field !== undefined) {
    assert.ok(
      body.details.some((d) => d.field === field),
      `details[].field names "${field}": ${res.body}`,
    );
    if (options.messageNamesField ?? true)
      assert.ok(body.message.includes(field), `the message names "${field}": ${body.message}`);
  }
  return body;
}

/** Asserts a Torq-surface error: google.rpc.Status with an integer code and an ErrorInfo reason. */
export function assertStatusError(
  res: LightMyRequestResponse,
  status: number,
  grpcCode: number,
  reason: string,
  field?: string,
): StatusBody {
  assert.equal(res.statusCode, status, `expected ${status} ${reason}, got ${res.statusCode}: ${res.body}`);
  const body = res.json() as StatusBody;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'details', 'message'], res.body);
  assert.equal(body.code, grpcCode, res.body);
  assert.ok(Number.isInteger(body.code));
  assert.equal(typeof body.message, 'string');
  assert.ok(body.message.length > 0);
  assert.equal(body.details.length, 1, res.body);
  const info = body.details[0]!;
  assert.equal(info['@type'], 'type.googleapis.com/google.rpc.ErrorInfo');
  assert.equal(info.reason, reason, res.body);
  if (field !== undefined) {
    assert.ok(Object.hasOwn(info.metadata, field), `metadata names "${field}": ${res.body}`);
  }
  return body;
}

/** Every audit entry of the caller's workspace (the last 24 hours), newest first. */
export async function auditLog(t: TestApp, as?: KeyPair | string): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let next: string | undefined;
  do {
    const res = await t.request({
      method: 'GET',
      url: `/v1alpha/audit_logs?page_size=500${next ? `&page_token=${encodeURIComponent(next)}` : ''}`,
      ...(as === undefined ? {} : { as }),
    });
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json() as { audit_logs: AuditEntry[]; next_page_token?: string };
    out.push(...page.audit_logs);
    next = page.next_page_token;
  } while (next);
  return out;
}

/** Polls `check` until it answers true or `timeoutMs` passes; answers whether it became true. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 5000,
  intervalMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** POST /v1/auth/token with a JSON apiKey; the raw response. */
export function exchange(t: TestApp, key: KeyPair, extra: Partial<InjectOptions> = {}) {
  return t.app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    payload: { apiKey: `${key.client_id}:${key.client_secret}` },
    ...extra,
  });
}

/** A fresh (uncached) bearer token for the key. */
export async function freshToken(t: TestApp, key: KeyPair): Promise<string> {
  const res = await exchange(t, key);
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { access_token: string }).access_token;
}

export interface Invited {
  id: string;
  email: string;
  invitation_token: string;
}

/** Invites `email` with `role` through POST /v1/users (as the owner key unless `as`). */
export async function invite(
  t: TestApp,
  email: string,
  role = 'viewer',
  as?: KeyPair | string,
): Promise<Invited> {
  const res = await t.request({
    method: 'POST',
    url: '/v1/users',
    payload: { email, role },
    ...(as === undefined ? {} : { as }),
  });
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json() as { user: { id: string; email: string }; invitation_token: string };
  return { id: body.user.id, email: body.user.email, invitation_token: body.invitation_token };
}

export function accept(t: TestApp, token: string, password: string, name?: string) {
  return t.app.inject({
    method: 'POST',
    url: '/v1/auth/accept-invitation',
    payload: { token, password, ...(name === undefined ? {} : { name }) },
  });
}

/** Signs in; answers the session cookie value. */
export async function login(
  t: TestApp,
  email: string,
  password: string,
  extra: Partial<InjectOptions> = {},
): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { email, password },
    ...extra,
  });
  assert.equal(res.statusCode, 200, res.body);
  const cookie = res.cookies.find((c) => c.name === 'osprey_session');
  assert.ok(cookie, 'login sets the osprey_session cookie');
  return cookie.value;
}

/** Invites, accepts and signs in a user; answers its id and session cookie. */
export async function member(
  t: TestApp,
  email: string,
  role: string,
  password = 'correct horse battery staple',
): Promise<{ id: string; session: string; password: string }> {
  const invited = await invite(t, email, role);
  const res = await accept(t, invited.invitation_token, password, email.split('@')[0]);
  assert.equal(res.statusCode, 200, res.body);
  return { id: invited.id, session: await login(t, email, password), password };
}

/** inject() authenticated by a session cookie instead of a bearer token. */
export function withSession(t: TestApp, session: string, options: InjectOptions) {
  return t.app.inject({ ...options, cookies: { ...options.cookies, osprey_session: session } });
}
