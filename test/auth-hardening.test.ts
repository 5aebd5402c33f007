import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';

describe('authentication hardening', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ env: { OSPREY_RATE_LIMIT: '20' } });
  });
  after(() => t.close());

  it('serves the interactive docs without credentials', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs' });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /swagger/i);
    const spec = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(spec.statusCode, 200);
  });

  it('accepts HTTP Basic with no body at all (plain OAuth2 clients)', async () => {
    const basic = Buffer.from(`${t.owner.client_id}:${t.owner.client_secret}`).toString('base64');
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { authorization: `Basic ${basic}` },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as { token_type: string }).token_type, 'Bearer');
  });

  it('throttles failed authentications per address before touching the database', async () => {
    // The limit counts per one-second window: start at the beginning of one so a busy machine
    // does not split the burst across two windows.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/v1/secrets',
        headers: { authorization: `Bearer guess-${i}` },
      });
      statuses.push(res.statusCode);
      if (res.statusCode === 429) assert.equal(res.headers['retry-after'], '1');
    }
    assert.ok(
      statuses.slice(0, 20).every((s) => s === 401),
      statuses.join(','),
    );
    const rest = statuses.slice(20);
    assert.ok(
      rest.every((s) => s === 401 || s === 429),
      statuses.join(','),
    );
    assert.equal(rest[0], 429, `the 21st failure in a window is refused: ${statuses.join(',')}`);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(
      (await t.request({ method: 'GET', url: '/v1/secrets' })).statusCode,
      200,
      'a good token works after the window',
    );
  });

  it("limits a private key to its user's current role", async () => {
    // A user with a password, an owner in the workspace, signs in and makes a private owner key.
    const invite = await t.request({
      method: 'POST',
      url: '/v1/users',
      payload: { email: 'lead@example.com', role: 'owner' },
    });
    const { invitation_token, user } = invite.json() as { invitation_token: string; user: { id: string } };
    const accept = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/accept-invitation',
      payload: { token: invitation_token, password: 'correct horse battery staple' },
    });
    assert.equal(accept.statusCode, 200, accept.body);
    const login = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: 'lead@example.com', password: 'correct horse battery staple' },
    });
    assert.equal(login.statusCode, 200, login.body);
    const cookie = login.cookies.find((c) => c.name === 'osprey_session')!;
    const made = await t.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      cookies: { osprey_session: cookie.value },
      payload: { name: 'my private key', type: 'private', role: 'owner' },
    });
    assert.equal(made.statusCode, 201, made.body);
    const pair = made.json() as { api_key: { client_id: string; type: string }; client_secret: string };
    assert.equal(pair.api_key.type, 'private');
    const key = { client_id: pair.api_key.client_id, client_secret: pair.client_secret };
    assert.equal((await t.request({ method: 'GET', url: '/v1alpha/audit_logs', as: key })).statusCode, 200);

    const demote = await t.request({
      method: 'PATCH',
      url: `/v1/users/${user.id}`,
      payload: { role: 'viewer' },
    });
    assert.equal(demote.statusCode, 200, demote.body);
    await new Promise((r) => setTimeout(r, 2100)); // the token cache trusts a verified token for 2 s
    const after = await t.request({ method: 'GET', url: '/v1alpha/audit_logs', as: key });
    assert.equal(after.statusCode, 403, "the demoted user's private owner key no longer reads the audit log");
  });
});
