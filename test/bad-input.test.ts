import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { assertError, assertStatusError, freshToken, sleep } from './helpers/api.js';

const JSON_TYPE = { 'content-type': 'application/json' };

describe('malformed, oversized and mistyped requests', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ env: { OSPREY_BODY_LIMIT: '2048' } });
  });
  after(() => t.close());

  it('answers 400 MALFORMED_BODY for JSON that does not parse', async () => {
    for (const payload of ['{"name": ', '{name: "x"}', "{'name': 'x'}", '{"name":"a",}', 'nul', '{"a":1}{']) {
      const res = await t.request({ method: 'POST', url: '/v1/variables', headers: JSON_TYPE, payload });
      assertError(res, 400, 'MALFORMED_BODY', 'body', { messageNamesField: false });
      assert.match((res.json() as { message: string }).message, /JSON/);
    }
    // Before authentication too: the token route is public.
    const token = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: JSON_TYPE,
      payload: '{"apiKey": "a:b"',
    });
    assertError(token, 400, 'MALFORMED_BODY', 'body', { messageNamesField: false });
  });

  it('answers 400 MALFORMED_BODY for an empty JSON body', async () => {
    const res = await t.request({ method: 'POST', url: '/v1/variables', headers: JSON_TYPE, payload: '' });
    assertError(res, 400, 'MALFORMED_BODY', 'body', { messageNamesField: false });
  });

  it('refuses prototype-poisoning JSON with a 400, and never a 500', async () => {
    for (const payload of [
      '{"name":"p","value":1,"__proto__":{"isAdmin":true}}',
      '{"name":"p","value":{"constructor":{"prototype":{"isAdmin":true}}}}',
    ]) {
      const res = await t.request({ method: 'POST', url: '/v1/variables', headers: JSON_TYPE, payload });
      assert.equal(res.statusCode, 400, res.body);
      assert.ok(
        ['MALFORMED_BODY', 'UNKNOWN_FIELD', 'INVALID_ARGUMENT'].includes(
          (res.json() as { code: string }).code,
        ),
      );
    }
    assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
  });

  it('answers 400 naming the body when it is JSON but not an object', async () => {
    for (const payload of ['[]', '"a string"', '42', 'null', 'true']) {
      const res = await t.request({ method: 'POST', url: '/v1/variables', headers: JSON_TYPE, payload });
      assertError(res, 400, 'INVALID_ARGUMENT', 'body', { messageNamesField: false });
    }
  });

  it('answers 413 PAYLOAD_TOO_LARGE for a body over OSPREY_BODY_LIMIT, on every content type', async () => {
    const big = JSON.stringify({ name: 'big', value: 'x'.repeat(3000) });
    assert.ok(Buffer.byteLength(big) > 2048);
    const res = await t.request({ method: 'POST', url: '/v1/variables', headers: JSON_TYPE, payload: big });
    assertError(res, 413, 'PAYLOAD_TOO_LARGE', 'body', { messageNamesField: false });
    const torq = await t.request({
      method: 'POST',
      url: '/v1alpha/users/invite',
      headers: JSON_TYPE,
      payload: JSON.stringify({ email: `${'a'.repeat(3000)}@example.com` }),
    });
    assertStatusError(torq, 413, 3, 'PAYLOAD_TOO_LARGE', 'body');
    const form = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `grant_type=client_credentials&client_id=${'a'.repeat(3000)}&client_secret=b`,
    });
    assertError(form, 413, 'PAYLOAD_TOO_LARGE', 'body', { messageNamesField: false });
    const token = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: JSON_TYPE,
      payload: JSON.stringify({ apiKey: `a:${'b'.repeat(3000)}` }),
    });
    assertError(token, 413, 'PAYLOAD_TOO_LARGE', 'body', { messageNamesField: false });
    // Just under the limit is fine.
    const fits = JSON.stringify({ name: 'fits', value: 'x'.repeat(1900) });
    assert.ok(Buffer.byteLength(fits) <= 2048);
    const ok = await t.request({ method: 'POST', url: '/v1/variables', headers: JSON_TYPE, payload: fits });
    assert.equal(ok.statusCode, 201, ok.body);
    const names = (
      (await t.request({ method: 'GET', url: '/v1/variables' })).json() as { variables: { name: string }[] }
    ).variables.map((v) => v.name);
    assert.deepEqual(names, ['fits'], 'the oversized body created nothing');
  });

  it('answers 404 ROUTE_NOT_FOUND for an unknown route, with or without credentials', async () => {
    for (const [method, url] of [
      ['GET', '/v1/nope'],
      ['GET', '/v2/secrets'],
      ['POST', '/v1/secrets/extra/path'],
      ['PUT', '/v1/secrets'],
      ['GET', '/'],
    ] as const) {
      for (const as of [undefined, null]) {
        const res = await t.request({ method, url: `${url}?q=1`, ...(as === null ? { as } : {}) });
        const body = assertError(res, 404, 'ROUTE_NOT_FOUND');
        assert.ok(body.message.includes(url), body.message);
        assert.ok(!body.message.includes('?q=1'), 'the query string is not echoed');
      }
    }
  });

  it('answers 415 UNSUPPORTED_MEDIA_TYPE for a body that is not JSON', async () => {
    for (const type of ['application/xml', 'text/csv', 'multipart/form-data; boundary=x', 'text/plain']) {
      const res = await t.request({
        method: 'POST',
        url: '/v1/variables',
        headers: { 'content-type': type },
        payload: 'name=x',
      });
      assertError(res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'content-type', { messageNamesField: false });
      assert.match((res.json() as { message: string }).message, /application\/json/);
    }
    const torq = await t.request({
      method: 'POST',
      url: '/v1alpha/users/invite',
      headers: { 'content-type': 'application/xml' },
      payload: '<email>x@example.com</email>',
    });
    assertStatusError(torq, 415, 3, 'UNSUPPORTED_MEDIA_TYPE', 'content-type');
  });

  it('answers 400 UNKNOWN_FIELD naming an unknown query parameter', async () => {
    const res = await t.request({ method: 'GET', url: '/v1/secrets?colour=blue' });
    assertError(res, 400, 'UNKNOWN_FIELD', 'colour');
    const size = await t.request({ method: 'GET', url: '/v1/secrets?page_size=many' });
    assertError(size, 400, 'INVALID_ARGUMENT', 'page_size');
  });

  it('uses the google.rpc.Status shape for every error on the Torq surface', async () => {
    const viewer = await t.keyWithRole('viewer');
    const cases: [Promise<Awaited<ReturnType<TestApp['request']>>>, number, number, string, string?][] = [
      [t.request({ method: 'GET', url: '/v1alpha/audit_logs', as: null }), 401, 16, 'UNAUTHENTICATED'],
      [t.request({ method: 'GET', url: '/v1alpha/audit_logs', as: 'bogus' }), 401, 16, 'UNAUTHENTICATED'],
      [t.request({ method: 'GET', url: '/v1alpha/audit_logs', as: viewer }), 403, 7, 'PERMISSION_DENIED'],
      [
        t.request({ method: 'GET', url: '/v1alpha/audit_logs?colour=blue' }),
        400,
        3,
        'UNKNOWN_FIELD',
        'colour',
      ],
      [
        t.request({ method: 'GET', url: '/v1alpha/audit_logs?page_size=0' }),
        400,
        3,
        'INVALID_ARGUMENT',
        'page_size',
      ],
      [
        t.request({ method: 'GET', url: '/v1alpha/audit_logs?page_token=forged.token' }),
        400,
        3,
        'INVALID_PAGE_TOKEN',
        'page_token',
      ],
      [t.request({ method: 'GET', url: '/v1alpha/nope' }), 404, 5, 'ROUTE_NOT_FOUND'],
      [t.request({ method: 'GET', url: '/public/v1alpha/nope', as: null }), 404, 5, 'ROUTE_NOT_FOUND'],
      [
        t.request({ method: 'POST', url: '/v1alpha/users/invite', headers: JSON_TYPE, payload: '{"email":' }),
        400,
        3,
        'MALFORMED_BODY',
        'body',
      ],
      [
        t.request({ method: 'POST', url: '/v1alpha/workspaces', payload: { name: 'default' } }),
        409,
        6,
        'WORKSPACE_NAME_TAKEN',
        'name',
      ],
      [t.request({ method: 'GET', url: '/public/v1alpha/users', as: viewer }), 403, 7, 'PERMISSION_DENIED'],
    ];
    for (const [pending, status, grpc, reason, field] of cases) {
      const res = await pending;
      assertStatusError(res, status, grpc, reason, field);
      assert.doesNotMatch(res.body, /\.ts:\d+/);
    }
    // The native surface keeps its own shape for the same failures.
    const native = await t.request({ method: 'GET', url: '/v1/audit-logs', as: viewer });
    assertError(native, 403, 'PERMISSION_DENIED');
    assert.doesNotMatch(native.body, /@type/);
  });

  it('echoes a well-formed X-Request-Id and makes one up otherwise', async () => {
    const given = await t.request({
      method: 'GET',
      url: '/v1/auth/me',
      headers: { 'x-request-id': 'trace-abc.123' },
    });
    assert.equal(given.headers['x-request-id'], 'trace-abc.123');
    const bad = await t.request({
      method: 'GET',
      url: '/v1/auth/me',
      headers: { 'x-request-id': 'has spaces and <html>' },
    });
    assert.match(String(bad.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const err = await t.request({ method: 'GET', url: '/v1/nope', as: null });
    assert.match(String(err.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'errors carry one too');
  });
});

describe('rate limiting', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ env: { OSPREY_RATE_LIMIT: '5' } });
  });
  after(() => t.close());

  async function burst(n: number, send: () => Promise<Awaited<ReturnType<TestApp['request']>>>) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await send());
    return out;
  }

  it('answers 429 RATE_LIMITED with Retry-After beyond the limit for one key, and not for another', async () => {
    const viewer = await t.keyWithRole('viewer');
    const ownerToken = await t.token();
    const viewerToken = await freshToken(t, viewer);
    await sleep(1100);
    const started = Date.now();
    const results = await burst(7, () => t.request({ method: 'GET', url: '/v1/auth/me', as: ownerToken }));
    assert.ok(Date.now() - started < 900, 'the burst fits in one window');
    assert.deepEqual(
      results.map((r) => r.statusCode),
      [200, 200, 200, 200, 200, 429, 429],
    );
    const limited = results[5]!;
    const body = assertError(limited, 429, 'RATE_LIMITED');
    assert.match(body.message, /5 requests per second/);
    const retryAfter = Number(limited.headers['retry-after']);
    assert.equal(retryAfter, 1, 'Retry-After is whole seconds, within the 1 s window');
    // Another key has its own budget.
    const other = await t.request({ method: 'GET', url: '/v1/auth/me', as: viewerToken });
    assert.equal(other.statusCode, 200, other.body);
    // The Torq surface answers in its own shape.
    const torq = await t.request({ method: 'GET', url: '/v1alpha/audit_logs', as: ownerToken });
    assertStatusError(torq, 429, 8, 'RATE_LIMITED');
    // After Retry-After, the key may call again.
    await sleep(retryAfter * 1000 + 100);
    assert.equal((await t.request({ method: 'GET', url: '/v1/auth/me', as: ownerToken })).statusCode, 200);
  });

  it('limits the token endpoint per IP address', async () => {
    await sleep(1100);
    const fromOne = await burst(7, () =>
      t.app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        payload: { apiKey: `${t.owner.client_id}:${t.owner.client_secret}` },
        remoteAddress: '198.51.100.10',
      }),
    );
    assert.deepEqual(
      fromOne.map((r) => r.statusCode),
      [200, 200, 200, 200, 200, 429, 429],
    );
    assertError(fromOne[5]!, 429, 'RATE_LIMITED');
    assert.ok(fromOne[5]!.headers['retry-after']);
    const fromAnother = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      payload: { apiKey: `${t.owner.client_id}:${t.owner.client_secret}` },
      remoteAddress: '198.51.100.11',
    });
    assert.equal(fromAnother.statusCode, 200, fromAnother.body);
  });

  it('limits unauthenticated and wrongly authenticated requests per IP address', async () => {
    await sleep(1100);
    // Start just after a whole second, so the burst sits in one window however windows are cut.
    await sleep(1000 - (Date.now() % 1000) + 20);
    const started = Date.now();
    let n = 0;
    // Alternately a guessed token and no credentials at all, from one address.
    const guesses = await burst(8, () =>
      t.app.inject({
        method: 'GET',
        url: '/v1/auth/me',
        headers: n++ % 2 === 0 ? { authorization: `Bearer guess-${n}` } : {},
        remoteAddress: '198.51.100.20',
      }),
    );
    assert.ok(Date.now() - started < 900, 'the burst fits in one window');
    const codes = guesses.map((r) => r.statusCode);
    assert.deepEqual(codes.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.ok(
      codes.slice(5).every((c) => c === 429),
      `guesses past the limit are throttled: ${codes.join(',')}`,
    );
    const limited = guesses[5]!;
    assertError(limited, 429, 'RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) >= 1, 'with Retry-After');
    // Another address is not held back.
    const elsewhere = await t.app.inject({
      method: 'GET',
      url: '/v1/auth/me',
      headers: { authorization: 'Bearer guess-elsewhere' },
      remoteAddress: '198.51.100.21',
    });
    assertError(elsewhere, 401, 'UNAUTHENTICATED');
  });

  it('never limits /healthz, /readyz or /metrics', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics']) {
      const results = await burst(12, () =>
        t.app.inject({ method: 'GET', url, remoteAddress: '198.51.100.30' }),
      );
      assert.deepEqual(
        results.map((r) => r.statusCode),
        Array.from({ length: 12 }, () => 200),
        url,
      );
    }
  });
});

describe('health, metrics and the OpenAPI document', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('answers /healthz and /readyz without credentials', async () => {
    const health = await t.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    assert.deepEqual(health.json(), { status: 'ok' });
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json(), { status: 'ready' });
  });

  it('serves Prometheus text at /metrics with request counts by route and status', async () => {
    await t.app.inject({ method: 'GET', url: '/healthz' });
    await t.request({ method: 'GET', url: '/v1/auth/me' });
    await t.app.inject({ method: 'GET', url: '/v1/auth/me' });
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(res.body, /^# HELP osprey_http_requests_total /m);
    assert.match(res.body, /^# TYPE osprey_http_requests_total counter$/m);
    assert.match(
      res.body,
      /^osprey_http_requests_total\{method="GET",route="\/healthz",status="200"\} [1-9]/m,
    );
    assert.match(
      res.body,
      /^osprey_http_requests_total\{method="GET",route="\/v1\/auth\/me",status="200"\} [1-9]/m,
    );
    assert.match(
      res.body,
      /^osprey_http_requests_total\{method="GET",route="\/v1\/auth\/me",status="401"\} [1-9]/m,
    );
    assert.match(res.body, /^osprey_http_request_duration_seconds_bucket\{/m);
    assert.match(res.body, /^osprey_process_cpu_user_seconds_total /m);
  });

  it('serves an OpenAPI 3.1 document with the token and audit-log paths', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const doc = res.json() as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    assert.ok(doc.paths['/v1/auth/token']?.post, 'POST /v1/auth/token is documented');
    assert.ok(doc.paths['/v1alpha/audit_logs']?.get, 'GET /v1alpha/audit_logs is documented');
    assert.ok(doc.paths['/v1/api-keys/{id}'], 'path parameters use OpenAPI {braces}');
    assert.ok(doc.components.securitySchemes.bearer);
    assert.ok(!('/metrics' in doc.paths) && !('/healthz' in doc.paths), 'operational routes are hidden');
  });

  it('answers /readyz 503 when the database does not answer', async () => {
    const t2 = await startTestApp();
    try {
      await t2.db.close();
      const res = await t2.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(res.statusCode, 503, res.body);
      assert.equal((res.json() as { status: string }).status, 'unavailable');
      assert.equal((await t2.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'still alive');
    } finally {
      await t2.app.close();
      await t2.database.drop();
    }
  });
});
