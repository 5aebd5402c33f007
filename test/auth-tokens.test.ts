import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UNAUTHENTICATED_MESSAGE } from '../src/domain/errors.js';
import { hashToken } from '../src/services/api-keys.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import { assertError, auditLog, eventually, exchange, freshToken } from './helpers/api.js';

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const GRANT = 'grant_type=client_credentials';

describe('POST /v1/auth/token', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  function assertTokenResponse(res: Awaited<ReturnType<typeof exchange>>): string {
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'token_type']);
    assert.equal(body.expires_in, 3600);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(typeof body.access_token, 'string');
    assert.ok((body.access_token as string).length >= 32, 'the token has enough entropy');
    assert.equal(res.headers['cache-control'], 'no-store');
    return body.access_token as string;
  }

  async function me(token: string) {
    return t.request({ method: 'GET', url: '/v1/auth/me', as: token });
  }

  it('exchanges JSON {"apiKey": "id:secret"} for a working one-hour bearer token', async () => {
    const token = assertTokenResponse(await exchange(t, t.owner));
    const res = await me(token);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as { workspace: { id: string } }).workspace.id, t.workspaceId);
    assert.doesNotMatch(JSON.stringify(res.json()), new RegExp(t.owner.client_secret));
  });

  it('issues a new token on every exchange, and all of them work', async () => {
    const a = assertTokenResponse(await exchange(t, t.owner));
    const b = assertTokenResponse(await exchange(t, t.owner));
    assert.notEqual(a, b);
    assert.equal((await me(a)).statusCode, 200);
    assert.equal((await me(b)).statusCode, 200);
  });

  it('accepts OAuth2 client credentials with HTTP Basic and a form body', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { ...FORM, authorization: basic(t.owner.client_id, t.owner.client_secret) },
      payload: 'grant_type=client_credentials',
    });
    const token = assertTokenResponse(res);
    assert.equal((await me(token)).statusCode, 200);
  });

  it('accepts HTTP Basic with a lower-case scheme', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: {
        ...FORM,
        authorization: basic(t.owner.client_id, t.owner.client_secret).replace('Basic', 'basic'),
      },
      payload: 'grant_type=client_credentials',
    });
    assertTokenResponse(res);
  });

  it('accepts HTTP Basic with no body at all (the body is optional)', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { authorization: basic(t.owner.client_id, t.owner.client_secret) },
    });
    assertTokenResponse(res);
  });

  it('accepts client_id and client_secret as form fields, with or without scope', async () => {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: t.owner.client_id,
      client_secret: t.owner.client_secret,
    });
    assertTokenResponse(
      await t.app.inject({ method: 'POST', url: '/v1/auth/token', headers: FORM, payload: form.toString() }),
    );
    form.set('scope', 'anything');
    assertTokenResponse(
      await t.app.inject({ method: 'POST', url: '/v1/auth/token', headers: FORM, payload: form.toString() }),
    );
    // The same fields as JSON.
    assertTokenResponse(
      await t.app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        payload: {
          grant_type: 'client_credentials',
          client_id: t.owner.client_id,
          client_secret: t.owner.client_secret,
        },
      }),
    );
  });

  it('decodes form-urlencoded Basic credentials (RFC 6749 §2.3.1) and secrets containing ":"', async () => {
    const workspace = { id: t.workspaceId, name: 'default' };
    const fixed = { clientId: 'client with space', clientSecret: 'p+s%20:x/é' };
    await t.services.apiKeys.createAsSystem(workspace, {
      name: 'odd characters',
      type: 'service',
      role: 'viewer',
      fixed,
    });
    const encode = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+');
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { ...FORM, authorization: basic(encode(fixed.clientId), encode(fixed.clientSecret)) },
      payload: 'grant_type=client_credentials',
    });
    assertTokenResponse(res);
    // The JSON form splits at the first ":" only.
    assertTokenResponse(
      await t.app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        payload: { apiKey: `${fixed.clientId}:${fixed.clientSecret}` },
      }),
    );
  });

  it('answers 401 INVALID_CLIENT, the same way, for a wrong secret and an unknown client', async () => {
    const wrong = `${t.owner.client_secret.slice(0, -1)}${t.owner.client_secret.endsWith('A') ? 'B' : 'A'}`;
    const attempts = [
      { payload: { apiKey: `${t.owner.client_id}:${wrong}` } },
      { payload: { apiKey: `${t.owner.client_id}:${t.owner.client_secret}x` } },
      { payload: { apiKey: `${t.owner.client_id}:` } },
      { payload: { apiKey: `00000000-0000-4000-8000-00000000abcd:${t.owner.client_secret}` } },
      { headers: { authorization: basic(t.owner.client_id, wrong) } },
      { headers: { authorization: basic('no-such-client', t.owner.client_secret) } },
      {
        headers: FORM,
        payload: `grant_type=client_credentials&client_id=${t.owner.client_id}&client_secret=${wrong}`,
      },
    ];
    const messages = new Set<string>();
    const withoutChallenge: string[] = [];
    for (const attempt of attempts) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/auth/token', ...attempt });
      const body = assertError(res, 401, 'INVALID_CLIENT');
      assert.doesNotMatch(res.body, /access_token/);
      messages.add(body.message);
      if (res.headers['www-authenticate'] !== 'Basic realm="osprey"')
        withoutChallenge.push(JSON.stringify(attempt));
    }
    assert.equal(
      messages.size,
      1,
      `one message, so a caller cannot tell which part was wrong: ${[...messages].join(' | ')}`,
    );
    // RFC 6749 §5.2 / RFC 7235 §3.1: a 401 carries a WWW-Authenticate challenge.
    assert.deepEqual(withoutChallenge, [], 'every 401 INVALID_CLIENT has WWW-Authenticate: Basic');
  });

  it("refuses one key's client id with another key's secret", async () => {
    const viewer = await t.keyWithRole('viewer');
    const res = await exchange(t, { client_id: viewer.client_id, client_secret: t.owner.client_secret });
    assertError(res, 401, 'INVALID_CLIENT');
  });

  it('answers 401 INVALID_CLIENT for a malformed apiKey, bad Basic credentials or none at all', async () => {
    const attempts = [
      { payload: { apiKey: 'no-colon-here' } },
      { payload: { apiKey: `:${t.owner.client_secret}` } },
      { payload: { apiKey: '' } },
      { payload: {} },
      {
        headers: { ...FORM, authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` },
        payload: GRANT,
      },
      { headers: { ...FORM, authorization: 'Basic' }, payload: GRANT },
      { headers: { ...FORM, authorization: `Bearer ${await t.token()}` }, payload: GRANT },
      { headers: FORM, payload: GRANT },
      { headers: FORM, payload: `grant_type=client_credentials&client_id=${t.owner.client_id}` },
    ];
    for (const attempt of attempts) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/auth/token', ...attempt });
      assertError(res, 401, 'INVALID_CLIENT');
      assert.equal(res.headers['www-authenticate'], 'Basic realm="osprey"', JSON.stringify(attempt));
    }
  });

  it('answers 400 UNSUPPORTED_GRANT_TYPE naming grant_type for any grant but client_credentials', async () => {
    for (const grant of ['password', 'authorization_code', 'refresh_token', '']) {
      const form = await t.app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        headers: { ...FORM, authorization: basic(t.owner.client_id, t.owner.client_secret) },
        payload: `grant_type=${grant}`,
      });
      assertError(form, 400, 'UNSUPPORTED_GRANT_TYPE', 'grant_type');
      const json = await t.app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        payload: { grant_type: grant, apiKey: `${t.owner.client_id}:${t.owner.client_secret}` },
      });
      assertError(json, 400, 'UNSUPPORTED_GRANT_TYPE', 'grant_type');
    }
  });

  it('refuses unknown fields and wrong types in the token request, naming the field', async () => {
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: FORM,
      payload: `grant_type=password&username=admin&password=hunter2`,
    });
    assertError(unknown, 400, 'UNKNOWN_FIELD', 'username');
    const typed = await t.app.inject({ method: 'POST', url: '/v1/auth/token', payload: { apiKey: 42 } });
    assertError(typed, 400, 'INVALID_ARGUMENT', 'apiKey');
    const text = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { 'content-type': 'application/xml' },
      payload: `<apiKey>${t.owner.client_id}:${t.owner.client_secret}</apiKey>`,
    });
    assertError(text, 415, 'UNSUPPORTED_MEDIA_TYPE', 'content-type', { messageNamesField: false });
  });

  it('stops a disabled key from getting tokens at once, and its existing token within seconds', async () => {
    const key = await t.keyWithRole('viewer');
    const token = await freshToken(t, key);
    assert.equal((await me(token)).statusCode, 200);
    const id = await keyId(key);
    const off = await t.request({ method: 'PATCH', url: `/v1/api-keys/${id}`, payload: { enabled: false } });
    assert.equal(off.statusCode, 200, off.body);
    assert.equal((off.json() as { api_key: { enabled: boolean } }).api_key.enabled, false);
    assertError(await exchange(t, key), 401, 'INVALID_CLIENT');
    const started = Date.now();
    const stopped = await eventually(async () => (await me(token)).statusCode === 401, 5000);
    assert.ok(stopped, 'the token of a disabled key stops working within 5 s');
    assert.ok(Date.now() - started < 5000);
    const res = await me(token);
    assertError(res, 401, 'UNAUTHENTICATED');
    assert.equal((res.json() as { message: string }).message, UNAUTHENTICATED_MESSAGE);
    // Enabling it again lets it get tokens again.
    const on = await t.request({ method: 'PATCH', url: `/v1/api-keys/${id}`, payload: { enabled: true } });
    assert.equal(on.statusCode, 200, on.body);
    assert.equal((await me(await freshToken(t, key))).statusCode, 200);
  });

  it('stops a deleted key from getting tokens at once, and its existing token within seconds', async () => {
    const key = await t.keyWithRole('contributor');
    const token = await freshToken(t, key);
    assert.equal((await me(token)).statusCode, 200);
    const del = await t.request({ method: 'DELETE', url: `/v1/api-keys/${await keyId(key)}` });
    assert.equal(del.statusCode, 204, del.body);
    assertError(await exchange(t, key), 401, 'INVALID_CLIENT');
    assert.ok(
      await eventually(async () => (await me(token)).statusCode === 401, 5000),
      'the token of a deleted key stops working within 5 s',
    );
    // Not even a write slips through afterwards.
    const write = await t.request({
      method: 'POST',
      url: '/v1/variables',
      payload: { name: 'after_delete', value: 1 },
      as: token,
    });
    assertError(write, 401, 'UNAUTHENTICATED');
  });

  it('refuses tokens to an expired key, and stops its existing token', async () => {
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const created = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'short-lived', role: 'viewer', expires_at: expiresAt },
    });
    assert.equal(created.statusCode, 201, created.body);
    const body = created.json() as {
      api_key: { client_id: string; expires_at: string };
      client_secret: string;
    };
    assert.equal(Date.parse(body.api_key.expires_at), Date.parse(expiresAt));
    const key = { client_id: body.api_key.client_id, client_secret: body.client_secret };
    const token = await freshToken(t, key);
    assert.equal((await me(token)).statusCode, 200);
    assert.ok(
      await eventually(async () => (await exchange(t, key)).statusCode === 401, 6000),
      'an expired key gets no token',
    );
    assertError(await exchange(t, key), 401, 'INVALID_CLIENT');
    assert.ok(
      await eventually(async () => (await me(token)).statusCode === 401, 5000),
      "an expired key's token stops working",
    );
  });

  it('refuses an expired token', async () => {
    const token = await freshToken(t, t.owner);
    assert.equal((await me(token)).statusCode, 200);
    await t.db.exec(
      `UPDATE access_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`,
      [hashToken(token)],
    );
    assert.ok(await eventually(async () => (await me(token)).statusCode === 401, 5000));
  });

  it('writes no audit entry and no secret for a token exchange', async () => {
    const before = await auditLog(t);
    await freshToken(t, t.owner);
    await exchange(t, { client_id: t.owner.client_id, client_secret: 'wrong' });
    const after = await auditLog(t);
    assert.equal(after.length, before.length);
    assert.doesNotMatch(JSON.stringify(after), new RegExp(t.owner.client_secret));
  });

  async function keyId(key: KeyPair): Promise<string> {
    const res = await t.request({ method: 'GET', url: '/v1/api-keys' });
    const found = (res.json() as { api_keys: { id: string; client_id: string }[] }).api_keys.find(
      (k) => k.client_id === key.client_id,
    );
    assert.ok(found, `key ${key.client_id} is listed`);
    return found.id;
  }
});

describe('the Authorization header on API routes', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('answers 401 UNAUTHENTICATED with the seed message for every malformed or wrong header', async () => {
    const token = await t.token();
    const headers = [
      'Bearer',
      'Bearer ',
      `Bearer ${token} extra`,
      `Token ${token}`,
      token,
      basic(t.owner.client_id, t.owner.client_secret),
      `Bearer ${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`,
      `Bearer ${token}x`,
      'Bearer not-a-token',
    ];
    for (const authorization of headers) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/auth/me', headers: { authorization } });
      const body = assertError(res, 401, 'UNAUTHENTICATED');
      assert.equal(body.message, UNAUTHENTICATED_MESSAGE, authorization);
    }
    const none = await t.app.inject({ method: 'GET', url: '/v1/auth/me' });
    assertError(none, 401, 'UNAUTHENTICATED');
  });

  it('challenges with WWW-Authenticate: Bearer on a 401 (RFC 6750 §3, RFC 7235 §3.1)', async () => {
    const none = await t.app.inject({ method: 'GET', url: '/v1/auth/me' });
    assertError(none, 401, 'UNAUTHENTICATED');
    assert.match(String(none.headers['www-authenticate']), /^Bearer\b/);
    const bad = await t.app.inject({
      method: 'GET',
      url: '/v1/auth/me',
      headers: { authorization: 'Bearer not-a-token' },
    });
    assertError(bad, 401, 'UNAUTHENTICATED');
    assert.match(String(bad.headers['www-authenticate']), /^Bearer\b/);
  });

  it('accepts the bearer scheme in any case and surrounding spaces', async () => {
    const token = await t.token();
    for (const authorization of [`bearer ${token}`, `BEARER ${token}`, `Bearer   ${token}  `]) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/auth/me', headers: { authorization } });
      assert.equal(res.statusCode, 200, `${authorization}: ${res.body}`);
    }
  });

  it('GET /v1/auth/me tells whose credentials they are', async () => {
    const res = await t.request({ method: 'GET', url: '/v1/auth/me' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), {
      workspace: { id: t.workspaceId, name: 'default' },
      role: 'owner',
      actor: { type: 'api_key', email: 'owner@example.com', name: 'Workspace owner key', user_id: null },
    });
    const viewer = await t.keyWithRole('viewer');
    const v = await t.request({ method: 'GET', url: '/v1/auth/me', as: viewer });
    assert.equal(v.statusCode, 200, v.body);
    const body = v.json() as { role: string; actor: { type: string; name: string } };
    assert.equal(body.role, 'viewer');
    assert.equal(body.actor.type, 'api_key');
    assert.match(body.actor.name, /^viewer-/);
  });
});

describe('token lifetime from OSPREY_TOKEN_TTL_SECONDS', () => {
  it('answers expires_in from the configuration', async () => {
    const t = await startTestApp({ env: { OSPREY_TOKEN_TTL_SECONDS: '120' } });
    try {
      const res = await exchange(t, t.owner);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((res.json() as { expires_in: number }).expires_in, 120);
      const row = await t.db.one<{ seconds: number }>(
        `SELECT extract(epoch FROM expires_at - created_at)::int AS seconds FROM access_tokens`,
      );
      assert.ok(row && Math.abs(row.seconds - 120) <= 2, `stored lifetime ${row?.seconds}`);
    } finally {
      await t.close();
    }
  });
});
