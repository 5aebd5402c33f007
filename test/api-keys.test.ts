import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import {
  assertError,
  assertStatusError,
  auditLog,
  exchange,
  freshToken,
  member,
  withSession,
} from './helpers/api.js';

interface KeyView {
  id: string;
  client_id: string;
  name: string;
  type: 'service' | 'private';
  role: string;
  role_id: string;
  enabled: boolean;
  expires_at: string | null;
  created_at: string;
  created_by: string;
  last_authenticated_at: string | null;
  user: { id: string; email: string; name: string } | null;
}
interface Created {
  api_key: KeyView;
  client_secret: string;
}
interface TorqKey {
  client_id: string;
  name: string;
  type: string;
  role_id: string;
  role_name: string;
  created_time: string;
  last_authenticated_time?: string;
  user?: { id: string; email: string };
}

const VIEW_FIELDS = [
  'client_id',
  'created_at',
  'created_by',
  'enabled',
  'expires_at',
  'id',
  'last_authenticated_at',
  'name',
  'role',
  'role_id',
  'type',
  'user',
];

describe('/v1/api-keys', () => {
  let t: TestApp;
  let roleIds: Record<string, string>;
  before(async () => {
    t = await startTestApp();
    const roles = await t.request({ method: 'GET', url: '/v1alpha/roles' });
    assert.equal(roles.statusCode, 200, roles.body);
    roleIds = Object.fromEntries(
      (roles.json() as { roles: { id: string; name: string }[] }).roles.map((r) => [r.name, r.id]),
    );
  });
  after(() => t.close());

  async function create(payload: Record<string, unknown>, as?: KeyPair | string): Promise<Created> {
    const res = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload,
      ...(as === undefined ? {} : { as }),
    });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as Created;
  }

  it('creates a service key and shows its secret in that response only', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'siem connector', role: 'contributor' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const { api_key: key, client_secret: secret } = res.json() as Created;
    assert.deepEqual(Object.keys(res.json() as object).sort(), ['api_key', 'client_secret']);
    assert.deepEqual(Object.keys(key).sort(), VIEW_FIELDS);
    assert.equal(key.name, 'siem connector');
    assert.equal(key.type, 'service', 'service is the default type');
    assert.equal(key.role, 'contributor');
    assert.equal(key.role_id, roleIds.contributor);
    assert.equal(key.enabled, true);
    assert.equal(key.expires_at, null);
    assert.equal(key.last_authenticated_at, null);
    assert.equal(key.user, null);
    assert.equal(key.created_by, 'owner@example.com');
    assert.ok(secret.length >= 32);
    assert.notEqual(key.client_id, secret);

    // The pair works, and the secret is never shown again: not by get, list, update, the Torq
    // list, the audit log, nor stored in the clear.
    const pair = { client_id: key.client_id, client_secret: secret };
    await freshToken(t, pair);
    const responses = [
      await t.request({ method: 'GET', url: '/v1/api-keys' }),
      await t.request({ method: 'GET', url: `/v1/api-keys/${key.id}` }),
      await t.request({ method: 'PATCH', url: `/v1/api-keys/${key.id}`, payload: { name: 'siem' } }),
      await t.request({ method: 'GET', url: '/v1alpha/api-keys' }),
      await t.request({ method: 'GET', url: '/public/v1alpha/api-keys' }),
      await t.request({ method: 'GET', url: '/v1alpha/audit_logs?page_size=500' }),
      await t.request({ method: 'GET', url: '/v1/auth/me', as: pair }),
    ];
    for (const r of responses) {
      assert.equal(r.statusCode, 200, r.body);
      assert.ok(r.body.includes(key.client_id) || r.body.includes(key.name) || r.body.includes('siem'));
      assert.ok(!r.body.includes(secret), `the secret is not in ${r.body.slice(0, 200)}`);
      assert.doesNotMatch(r.body, /client_secret|secret_encrypted/);
    }
    const stored = await t.db.one<{ secret_encrypted: Buffer }>(
      'SELECT secret_encrypted FROM api_keys WHERE id = $1',
      [key.id],
    );
    assert.ok(stored && !stored.secret_encrypted.includes(Buffer.from(secret)), 'stored encrypted');
  });

  it('lists, gets, renames, disables and deletes a key, recording each change in the audit log', async () => {
    const { api_key: key } = await create({ name: 'lifecycle', role: 'viewer' });
    const list = await t.request({ method: 'GET', url: '/v1/api-keys' });
    assert.equal(list.statusCode, 200, list.body);
    const keys = (list.json() as { api_keys: KeyView[] }).api_keys;
    assert.ok(keys.some((k) => k.id === key.id));
    assert.ok(keys.some((k) => k.client_id === t.owner.client_id && k.name === 'Workspace owner key'));
    for (const k of keys) assert.deepEqual(Object.keys(k).sort(), VIEW_FIELDS);

    const got = await t.request({ method: 'GET', url: `/v1/api-keys/${key.id}` });
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual((got.json() as { api_key: KeyView }).api_key, key);

    const renamed = await t.request({
      method: 'PATCH',
      url: `/v1/api-keys/${key.id}`,
      payload: { name: 'lifecycle-renamed' },
    });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal((renamed.json() as { api_key: KeyView }).api_key.name, 'lifecycle-renamed');

    const off = await t.request({
      method: 'PATCH',
      url: `/v1/api-keys/${key.id}`,
      payload: { enabled: false },
    });
    assert.equal(off.statusCode, 200, off.body);
    assert.equal((off.json() as { api_key: KeyView }).api_key.enabled, false);
    const listed = (
      (await t.request({ method: 'GET', url: '/v1/api-keys' })).json() as { api_keys: KeyView[] }
    ).api_keys.find((k) => k.id === key.id);
    assert.equal(listed?.enabled, false, 'a disabled key is still listed, as disabled');

    const on = await t.request({
      method: 'PATCH',
      url: `/v1/api-keys/${key.id}`,
      payload: { enabled: true },
    });
    assert.equal(on.statusCode, 200, on.body);
    assert.equal((on.json() as { api_key: KeyView }).api_key.enabled, true);

    const del = await t.request({ method: 'DELETE', url: `/v1/api-keys/${key.id}` });
    assert.equal(del.statusCode, 204);
    assert.equal(del.body, '');
    assertError(
      await t.request({ method: 'GET', url: `/v1/api-keys/${key.id}` }),
      404,
      'API_KEY_NOT_FOUND',
      'id',
      { messageNamesField: false },
    );
    assertError(
      await t.request({ method: 'DELETE', url: `/v1/api-keys/${key.id}` }),
      404,
      'API_KEY_NOT_FOUND',
      'id',
      { messageNamesField: false },
    );
    const after = (
      (await t.request({ method: 'GET', url: '/v1/api-keys' })).json() as { api_keys: KeyView[] }
    ).api_keys;
    assert.ok(!after.some((k) => k.id === key.id));

    const entries = (await auditLog(t)).filter((e) => e.resource_id === key.id).reverse();
    assert.deepEqual(
      entries.map((e) => e.action),
      ['API key enabled', 'API key updated', 'API key disabled', 'API key enabled', 'API key deleted'],
    );
    assert.deepEqual(entries[0]!.extra_data, { role: 'viewer', type: 'service', event: 'created' });
    assert.equal(entries[0]!.resource_name, 'lifecycle');
    assert.equal(entries[2]!.resource_name, 'lifecycle-renamed');
    assert.deepEqual(entries[4]!.extra_data, { role: 'viewer', type: 'service' });
    for (const e of entries) {
      assert.equal(e.actor_type, 'api_key');
      assert.equal(e.actor_name, 'Workspace owner key');
      assert.equal(e.account_id, t.workspaceId);
    }
  });

  it('GET /v1alpha/api-keys answers the Torq shape', async () => {
    const { api_key: key, client_secret } = await create({ name: 'torq-shaped', role: 'operator' });
    await freshToken(t, { client_id: key.client_id, client_secret });
    for (const url of ['/v1alpha/api-keys', '/public/v1alpha/api-keys']) {
      const res = await t.request({ method: 'GET', url });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as { api_keys: TorqKey[] };
      assert.deepEqual(Object.keys(body), ['api_keys']);
      const k = body.api_keys.find((x) => x.client_id === key.client_id);
      assert.ok(k, res.body);
      assert.deepEqual(Object.keys(k).sort(), [
        'client_id',
        'created_time',
        'last_authenticated_time',
        'name',
        'role_id',
        'role_name',
        'type',
      ]);
      assert.equal(k.name, 'torq-shaped');
      assert.equal(k.type, 'API_KEY_TYPE_SERVICE');
      assert.equal(k.role_name, 'operator');
      assert.equal(k.role_id, roleIds.operator);
      assert.equal(k.created_time, key.created_at);
      assert.ok(!Number.isNaN(Date.parse(k.last_authenticated_time!)));
      for (const other of body.api_keys) {
        assert.match(other.type, /^API_KEY_TYPE_(SERVICE|PRIVATE)$/);
        assert.ok(Object.values(roleIds).includes(other.role_id));
      }
    }
  });

  it('creates a private key for a signed-in user, shown as API_KEY_TYPE_PRIVATE with the user', async () => {
    const user = await member(t, 'key.maker@example.com', 'owner');
    const res = await withSession(t, user.session, {
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'my laptop', role: 'viewer', type: 'private' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const { api_key: key, client_secret } = res.json() as Created;
    assert.equal(key.type, 'private');
    assert.deepEqual(key.user, { id: user.id, email: 'key.maker@example.com', name: 'key.maker' });
    assert.equal(key.created_by, 'key.maker@example.com');
    const torq = (
      (await t.request({ method: 'GET', url: '/v1alpha/api-keys' })).json() as { api_keys: TorqKey[] }
    ).api_keys.find((k) => k.client_id === key.client_id);
    assert.equal(torq?.type, 'API_KEY_TYPE_PRIVATE');
    assert.deepEqual(torq?.user, { id: user.id, email: 'key.maker@example.com' });
    // It acts as that user.
    const me = await t.request({
      method: 'GET',
      url: '/v1/auth/me',
      as: { client_id: key.client_id, client_secret },
    });
    assert.equal(me.statusCode, 200, me.body);
    const actor = (me.json() as { actor: { type: string; email: string; user_id: string } }).actor;
    assert.equal(actor.type, 'api_key');
    assert.equal(actor.email, 'key.maker@example.com');
    assert.equal(actor.user_id, user.id);
  });

  it('answers 400 naming type when a service key asks for a private key', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'not mine to make', role: 'viewer', type: 'private' },
    });
    const body = assertError(res, 400, 'INVALID_ARGUMENT', 'type', { messageNamesField: false });
    assert.match(body.message, /private key/);
    const list = (await t.request({ method: 'GET', url: '/v1/api-keys' })).json() as { api_keys: KeyView[] };
    assert.ok(!list.api_keys.some((k) => k.name === 'not mine to make'), 'nothing was created');
  });

  it('answers 409 API_KEY_NAME_TAKEN naming name for a duplicate name, on create and rename', async () => {
    const { api_key: a } = await create({ name: 'dup-a', role: 'viewer' });
    await create({ name: 'dup-b', role: 'viewer' });
    for (const name of ['dup-a', 'Workspace owner key']) {
      const res = await t.request({ method: 'POST', url: '/v1/api-keys', payload: { name, role: 'owner' } });
      assertError(res, 409, 'API_KEY_NAME_TAKEN', 'name');
    }
    const rename = await t.request({
      method: 'PATCH',
      url: `/v1/api-keys/${a.id}`,
      payload: { name: 'dup-b' },
    });
    assertError(rename, 409, 'API_KEY_NAME_TAKEN', 'name');
    const still = await t.request({ method: 'GET', url: `/v1/api-keys/${a.id}` });
    assert.equal((still.json() as { api_key: KeyView }).api_key.name, 'dup-a');
  });

  it('answers 403 to every role but owner, on every route', async () => {
    const { api_key: target } = await create({ name: 'target', role: 'viewer' });
    for (const role of ['contributor', 'creator', 'operator', 'viewer']) {
      const key = await t.keyWithRole(role);
      const calls = [
        { method: 'GET' as const, url: '/v1/api-keys' },
        { method: 'GET' as const, url: `/v1/api-keys/${target.id}` },
        { method: 'GET' as const, url: '/v1alpha/api-keys' },
        { method: 'POST' as const, url: '/v1/api-keys', payload: { name: `by-${role}`, role: 'viewer' } },
        { method: 'PATCH' as const, url: `/v1/api-keys/${target.id}`, payload: { enabled: false } },
        { method: 'DELETE' as const, url: `/v1/api-keys/${target.id}` },
      ];
      for (const call of calls) {
        const res = await t.request({ ...call, as: key });
        if (call.url.startsWith('/v1alpha')) assertStatusError(res, 403, 7, 'PERMISSION_DENIED');
        else assertError(res, 403, 'PERMISSION_DENIED');
      }
    }
    const after = await t.request({ method: 'GET', url: `/v1/api-keys/${target.id}` });
    assert.equal(after.statusCode, 200);
    assert.equal((after.json() as { api_key: KeyView }).api_key.enabled, true, 'nothing changed');
  });

  it('answers 400 UNKNOWN_FIELD naming unknown fields', async () => {
    const { api_key: key } = await create({ name: 'unknowns', role: 'viewer' });
    const cases: [string, string, Record<string, unknown>, string][] = [
      ['POST', '/v1/api-keys', { name: 'u1', role: 'viewer', client_id: 'chosen' }, 'client_id'],
      ['POST', '/v1/api-keys', { name: 'u2', role: 'viewer', client_secret: 'chosen' }, 'client_secret'],
      ['POST', '/v1/api-keys', { name: 'u3', role: 'viewer', scopes: ['all'] }, 'scopes'],
      ['PATCH', `/v1/api-keys/${key.id}`, { role: 'owner' }, 'role'],
      ['PATCH', `/v1/api-keys/${key.id}`, { type: 'private' }, 'type'],
    ];
    for (const [method, url, payload, field] of cases) {
      const res = await t.request({ method: method as 'POST', url, payload });
      assertError(res, 400, 'UNKNOWN_FIELD', field);
    }
    const unchanged = await t.request({ method: 'GET', url: `/v1/api-keys/${key.id}` });
    assert.equal((unchanged.json() as { api_key: KeyView }).api_key.role, 'viewer');
  });

  it('answers 400 INVALID_ARGUMENT naming the field for wrong types and values', async () => {
    const { api_key: key } = await create({ name: 'typed', role: 'viewer' });
    const soon = new Date(Date.now() - 60_000).toISOString();
    const cases: [string, string, Record<string, unknown>, string][] = [
      ['POST', '/v1/api-keys', { name: 5, role: 'viewer' }, 'name'],
      ['POST', '/v1/api-keys', { name: '', role: 'viewer' }, 'name'],
      ['POST', '/v1/api-keys', { name: 'x'.repeat(101), role: 'viewer' }, 'name'],
      ['POST', '/v1/api-keys', { name: 'no role' }, 'role'],
      ['POST', '/v1/api-keys', { name: 'bad role', role: 'admin' }, 'role'],
      ['POST', '/v1/api-keys', { name: 'bad type', role: 'viewer', type: 'robot' }, 'type'],
      ['POST', '/v1/api-keys', { name: 'bad expiry', role: 'viewer', expires_at: 'tomorrow' }, 'expires_at'],
      [
        'POST',
        '/v1/api-keys',
        { name: 'num expiry', role: 'viewer', expires_at: 1_900_000_000 },
        'expires_at',
      ],
      ['POST', '/v1/api-keys', { name: 'past expiry', role: 'viewer', expires_at: soon }, 'expires_at'],
      ['PATCH', `/v1/api-keys/${key.id}`, { enabled: 'false' }, 'enabled'],
      ['PATCH', `/v1/api-keys/${key.id}`, { enabled: 0 }, 'enabled'],
      ['PATCH', `/v1/api-keys/${key.id}`, { name: null }, 'name'],
      ['PATCH', `/v1/api-keys/${key.id}`, { expires_at: soon }, 'expires_at'],
      ['PATCH', `/v1/api-keys/${key.id}`, {}, 'body'],
    ];
    for (const [method, url, payload, field] of cases) {
      const res = await t.request({ method: method as 'POST', url, payload });
      assertError(res, 400, 'INVALID_ARGUMENT', field);
    }
    const unchanged = await t.request({ method: 'GET', url: `/v1/api-keys/${key.id}` });
    const view = (unchanged.json() as { api_key: KeyView }).api_key;
    assert.equal(view.enabled, true);
    assert.equal(view.expires_at, null);
    const names = (
      (await t.request({ method: 'GET', url: '/v1/api-keys' })).json() as { api_keys: KeyView[] }
    ).api_keys.map((k) => k.name);
    for (const n of ['no role', 'bad role', 'bad type', 'bad expiry', 'num expiry', 'past expiry'])
      assert.ok(!names.includes(n), `${n} was not created`);
  });

  it('sets and clears an expiry', async () => {
    const { api_key: key, client_secret } = await create({ name: 'expiring', role: 'viewer' });
    const at = new Date(Date.now() + 86_400_000).toISOString();
    const set = await t.request({
      method: 'PATCH',
      url: `/v1/api-keys/${key.id}`,
      payload: { expires_at: at },
    });
    assert.equal(set.statusCode, 200, set.body);
    assert.equal((set.json() as { api_key: KeyView }).api_key.expires_at, at);
    assert.equal((await exchange(t, { client_id: key.client_id, client_secret })).statusCode, 200);
    const clear = await t.request({
      method: 'PATCH',
      url: `/v1/api-keys/${key.id}`,
      payload: { expires_at: null },
    });
    assert.equal(clear.statusCode, 200, clear.body);
    assert.equal((clear.json() as { api_key: KeyView }).api_key.expires_at, null);
  });

  it('answers 400 naming id for a path id that is not a uuid, and 404 for an unknown one', async () => {
    for (const id of ['not-a-uuid', '123', "1' OR '1'='1", '00000000-0000-4000-8000-00000000000g']) {
      const path = `/v1/api-keys/${encodeURIComponent(id)}`;
      assertError(await t.request({ method: 'GET', url: path }), 400, 'INVALID_ARGUMENT', 'id');
      assertError(
        await t.request({ method: 'PATCH', url: path, payload: { enabled: false } }),
        400,
        'INVALID_ARGUMENT',
        'id',
      );
      assertError(await t.request({ method: 'DELETE', url: path }), 400, 'INVALID_ARGUMENT', 'id');
    }
    const unknown = '00000000-0000-4000-8000-000000000999';
    for (const call of [
      { method: 'GET' as const, url: `/v1/api-keys/${unknown}` },
      { method: 'PATCH' as const, url: `/v1/api-keys/${unknown}`, payload: { enabled: false } },
      { method: 'DELETE' as const, url: `/v1/api-keys/${unknown}` },
    ]) {
      const body = assertError(await t.request(call), 404, 'API_KEY_NOT_FOUND', 'id', {
        messageNamesField: false,
      });
      assert.ok(body.message.includes(unknown), body.message);
    }
  });
});
