import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import {
  accept,
  assertError,
  assertStatusError,
  auditLog,
  eventually,
  exchange,
  invite,
  member,
  withSession,
  type AuditEntry,
} from './helpers/api.js';

interface WorkspaceView {
  id: string;
  name: string;
  created_at: string;
  owners_emails: string[];
  workflows_usage: number;
  nested_usage: number;
  editors_usage: number;
  cases_operators_usage: number;
  runners_usage: number;
}
interface CreatedWorkspace {
  workspace: WorkspaceView;
  api_key: KeyPair;
}
interface Named {
  id: string;
  name: string;
  description: string;
  updated_at: string;
  value?: unknown;
}

const SECRET_VALUE = 'alpha-only-secret-value-3f9c';

describe('POST /v1alpha/workspaces', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('creates a workspace and answers it with an owner key shown once', async () => {
    const res = await t.request({ method: 'POST', url: '/v1alpha/workspaces', payload: { name: 'beta' } });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as CreatedWorkspace;
    assert.deepEqual(Object.keys(body).sort(), ['api_key', 'workspace']);
    assert.deepEqual(Object.keys(body.api_key).sort(), ['client_id', 'client_secret']);
    assert.deepEqual(Object.keys(body.workspace).sort(), [
      'cases_operators_usage',
      'created_at',
      'editors_usage',
      'id',
      'name',
      'nested_usage',
      'owners_emails',
      'runners_usage',
      'workflows_usage',
    ]);
    assert.equal(body.workspace.name, 'beta');
    assert.notEqual(body.workspace.id, t.workspaceId);
    // A service key acts for the person who made it: they own the new workspace.
    assert.deepEqual(body.workspace.owners_emails, ['owner@example.com']);
    assert.ok(!Number.isNaN(Date.parse(body.workspace.created_at)));
    // The key works, as the owner of the new workspace.
    const me = await t.request({ method: 'GET', url: '/v1/auth/me', as: body.api_key });
    assert.equal(me.statusCode, 200, me.body);
    const who = me.json() as { workspace: { id: string; name: string }; role: string };
    assert.deepEqual(who.workspace, { id: body.workspace.id, name: 'beta' });
    assert.equal(who.role, 'owner');
    // Its secret is not shown again, anywhere.
    for (const url of ['/v1/api-keys', '/v1alpha/api-keys', '/v1alpha/audit_logs', '/v1/workspaces']) {
      for (const as of [t.owner, body.api_key]) {
        const r = await t.request({ method: 'GET', url, as });
        assert.equal(r.statusCode, 200, r.body);
        assert.ok(!r.body.includes(body.api_key.client_secret), `${url} does not show the secret`);
      }
    }
    // The creating workspace records that it created one.
    const created = (await auditLog(t)).find(
      (e) => e.action === 'Workspace created' && e.resource_id === body.workspace.id,
    );
    assert.ok(created, 'the creating workspace has a "Workspace created" entry');
    assert.equal(created.account_id, t.workspaceId);
  });

  it('lists only verified owners in owners_emails, as the last-owner rule counts them', async () => {
    await invite(t, 'pending.owner@example.com', 'owner');
    const res = await t.request({ method: 'GET', url: `/v1/workspaces/${t.workspaceId}` });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual((res.json() as { workspace: WorkspaceView }).workspace.owners_emails, [
      'owner@example.com',
    ]);
  });

  it('answers 201 on the native route', async () => {
    const res = await t.request({ method: 'POST', url: '/v1/workspaces', payload: { name: 'gamma' } });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal((res.json() as CreatedWorkspace).workspace.name, 'gamma');
  });

  it('answers 409 for a duplicate name, trimmed, on both surfaces', async () => {
    await t.request({ method: 'POST', url: '/v1/workspaces', payload: { name: 'delta' } });
    assertStatusError(
      await t.request({ method: 'POST', url: '/v1alpha/workspaces', payload: { name: 'delta' } }),
      409,
      6,
      'WORKSPACE_NAME_TAKEN',
      'name',
    );
    assertError(
      await t.request({ method: 'POST', url: '/v1/workspaces', payload: { name: '  delta ' } }),
      409,
      'WORKSPACE_NAME_TAKEN',
      'name',
      { messageNamesField: false },
    );
    assertError(
      await t.request({ method: 'POST', url: '/v1/workspaces', payload: { name: 'default' } }),
      409,
      'WORKSPACE_NAME_TAKEN',
      'name',
      { messageNamesField: false },
    );
    const count = await t.db.one<{ n: number }>(
      `SELECT count(*)::int AS n FROM workspaces WHERE name = 'delta'`,
    );
    assert.equal(count?.n, 1);
  });

  it('answers 400 naming name for an empty, blank, missing or mistyped name, and unknown fields', async () => {
    for (const [payload, code, field] of [
      [{ name: '' }, 'INVALID_ARGUMENT', 'name'],
      [{ name: '   ' }, 'INVALID_ARGUMENT', 'name'],
      [{}, 'INVALID_ARGUMENT', 'name'],
      [{ name: 7 }, 'INVALID_ARGUMENT', 'name'],
      [{ name: 'x'.repeat(101) }, 'INVALID_ARGUMENT', 'name'],
      [{ name: 'epsilon', owner: 'me' }, 'UNKNOWN_FIELD', 'owner'],
    ] as const) {
      const native = await t.request({ method: 'POST', url: '/v1/workspaces', payload });
      assertError(native, 400, code, field);
      const torq = await t.request({ method: 'POST', url: '/v1alpha/workspaces', payload });
      assertStatusError(torq, 400, 3, code, field);
    }
  });

  it('answers 403 to every role but owner', async () => {
    for (const role of ['contributor', 'creator', 'operator', 'viewer']) {
      const key = await t.keyWithRole(role);
      assertStatusError(
        await t.request({
          method: 'POST',
          url: '/v1alpha/workspaces',
          payload: { name: `by-${role}` },
          as: key,
        }),
        403,
        7,
        'PERMISSION_DENIED',
      );
      assertError(
        await t.request({ method: 'POST', url: '/v1/workspaces', payload: { name: `by-${role}` }, as: key }),
        403,
        'PERMISSION_DENIED',
      );
    }
    const n = await t.db.one<{ n: number }>(
      `SELECT count(*)::int AS n FROM workspaces WHERE name LIKE 'by-%'`,
    );
    assert.equal(n?.n, 0);
  });
});

describe('workspace isolation', () => {
  let t: TestApp;
  let b: KeyPair;
  let bId: string;
  const a = {} as {
    secret: Named;
    variable: Named;
    userId: string;
    key: { id: string; client_id: string; pair: KeyPair };
  };

  before(async () => {
    t = await startTestApp();
    const s = await t.request({
      method: 'POST',
      url: '/v1/secrets',
      payload: { name: 'shared_name', value: SECRET_VALUE, description: 'alpha secret' },
    });
    assert.equal(s.statusCode, 201, s.body);
    a.secret = (s.json() as { secret: Named }).secret;
    const v = await t.request({
      method: 'POST',
      url: '/v1/variables',
      payload: { name: 'shared_name', value: { alpha: true }, description: 'alpha variable' },
    });
    assert.equal(v.statusCode, 201, v.body);
    a.variable = (v.json() as { variable: Named }).variable;
    a.userId = (await invite(t, 'alpha.member@example.com', 'creator')).id;
    const k = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'alpha automation', role: 'contributor' },
    });
    assert.equal(k.statusCode, 201, k.body);
    const kb = k.json() as { api_key: { id: string; client_id: string }; client_secret: string };
    a.key = {
      id: kb.api_key.id,
      client_id: kb.api_key.client_id,
      pair: { client_id: kb.api_key.client_id, client_secret: kb.client_secret },
    };
    const created = await t.request({
      method: 'POST',
      url: '/v1alpha/workspaces',
      payload: { name: 'beta' },
    });
    assert.equal(created.statusCode, 200, created.body);
    const cw = created.json() as CreatedWorkspace;
    b = cw.api_key;
    bId = cw.workspace.id;
  });
  after(() => t.close());

  async function snapshotA() {
    const get = async (url: string) => {
      const res = await t.request({ method: 'GET', url });
      assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
      return res.json() as Record<string, unknown>;
    };
    return {
      secret: await get(`/v1/secrets/${a.secret.id}`),
      secretValue: await t.services.secrets.reveal(t.workspaceId, 'shared_name'),
      variable: await get(`/v1/variables/${a.variable.id}`),
      user: await get(`/v1/users/${a.userId}`),
      key: await get(`/v1/api-keys/${a.key.id}`),
      auditCount: (await auditLog(t)).length,
    };
  }

  it("answers 404 to every read, update and delete of workspace A's resources with B's key", async () => {
    const before = await snapshotA();
    assert.equal(before.secretValue, SECRET_VALUE);
    const cases: [string, string, Record<string, unknown> | undefined, string][] = [
      ['GET', `/v1/secrets/${a.secret.id}`, undefined, 'SECRET_NOT_FOUND'],
      ['PATCH', `/v1/secrets/${a.secret.id}`, { value: 'stolen' }, 'SECRET_NOT_FOUND'],
      ['PATCH', `/v1/secrets/${a.secret.id}`, { name: 'renamed', description: 'x' }, 'SECRET_NOT_FOUND'],
      ['DELETE', `/v1/secrets/${a.secret.id}`, undefined, 'SECRET_NOT_FOUND'],
      ['GET', `/v1/variables/${a.variable.id}`, undefined, 'VARIABLE_NOT_FOUND'],
      ['PATCH', `/v1/variables/${a.variable.id}`, { value: 'overwritten' }, 'VARIABLE_NOT_FOUND'],
      ['DELETE', `/v1/variables/${a.variable.id}`, undefined, 'VARIABLE_NOT_FOUND'],
      ['GET', `/v1/users/${a.userId}`, undefined, 'USER_NOT_FOUND'],
      ['PATCH', `/v1/users/${a.userId}`, { role: 'owner' }, 'USER_NOT_FOUND'],
      ['DELETE', `/v1/users/${a.userId}`, undefined, 'USER_NOT_FOUND'],
      ['GET', `/v1/api-keys/${a.key.id}`, undefined, 'API_KEY_NOT_FOUND'],
      ['PATCH', `/v1/api-keys/${a.key.id}`, { enabled: false }, 'API_KEY_NOT_FOUND'],
      ['PATCH', `/v1/api-keys/${a.key.id}`, { name: 'hijacked' }, 'API_KEY_NOT_FOUND'],
      ['DELETE', `/v1/api-keys/${a.key.id}`, undefined, 'API_KEY_NOT_FOUND'],
      ['GET', `/v1/workspaces/${t.workspaceId}`, undefined, 'WORKSPACE_NOT_FOUND'],
    ];
    for (const [method, url, payload, code] of cases) {
      const res = await t.request({
        method: method as 'GET',
        url,
        ...(payload ? { payload } : {}),
        as: b,
      });
      const body = assertError(res, 404, code, 'id', { messageNamesField: false });
      // The answer is the same as for an id that exists nowhere.
      const id = url.split('/').at(-1)!;
      const nowhere = await t.request({
        method: method as 'GET',
        url: url.replace(id, '00000000-0000-4000-8000-0000000abcde'),
        ...(payload ? { payload } : {}),
        as: b,
      });
      assert.equal(nowhere.statusCode, 404);
      assert.equal(
        body.message.replace(id, '<id>'),
        (nowhere.json() as { message: string }).message.replace(
          '00000000-0000-4000-8000-0000000abcde',
          '<id>',
        ),
      );
    }
    const after = await snapshotA();
    assert.deepEqual(after, before, 'nothing in workspace A changed, and A logged nothing');
    // A's key still works.
    assert.equal((await exchange(t, a.key.pair)).statusCode, 200);
  });

  it("never lists A's items in B's lists, even with the same names", async () => {
    const s = await t.request({
      method: 'POST',
      url: '/v1/secrets',
      payload: { name: 'shared_name', value: 'beta value' },
      as: b,
    });
    assert.equal(s.statusCode, 201, s.body);
    const v = await t.request({
      method: 'POST',
      url: '/v1/variables',
      payload: { name: 'shared_name', value: 'beta' },
      as: b,
    });
    assert.equal(v.statusCode, 201, v.body);
    const k = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'alpha automation', role: 'viewer' },
      as: b,
    });
    assert.equal(k.statusCode, 201, k.body);
    const bUser = await invite(t, 'alpha.member@example.com', 'viewer', b);
    assert.equal(bUser.id, a.userId, 'one person, two memberships');
    assert.equal(await t.services.secrets.reveal(t.workspaceId, 'shared_name'), SECRET_VALUE);
    assert.equal(await t.services.secrets.reveal(bId, 'shared_name'), 'beta value');

    const aMarkers = [
      a.secret.id,
      a.variable.id,
      a.key.id,
      a.key.client_id,
      t.owner.client_id,
      t.workspaceId,
    ];
    for (const url of [
      '/v1/secrets',
      '/v1/variables',
      '/v1/users',
      '/v1alpha/users',
      '/v1/api-keys',
      '/v1alpha/api-keys',
      '/public/v1alpha/api-keys',
      '/v1/workspaces',
    ]) {
      const res = await t.request({ method: 'GET', url, as: b });
      assert.equal(res.statusCode, 200, res.body);
      for (const marker of aMarkers)
        assert.ok(!res.body.includes(marker), `${url} shows ${marker}: ${res.body}`);
      assert.ok(!res.body.includes('alpha secret') && !res.body.includes('alpha variable'), url);
      assert.ok(!res.body.includes('"alpha":true'), url);
    }
    const users = (await t.request({ method: 'GET', url: '/v1/users', as: b })).json() as {
      users: { id: string; role: string }[];
    };
    assert.equal(users.users.find((u) => u.id === a.userId)?.role, 'viewer', 'B sees its own membership');
    const aUsers = (await t.request({ method: 'GET', url: '/v1/users' })).json() as {
      users: { id: string; role: string }[];
    };
    assert.equal(aUsers.users.find((u) => u.id === a.userId)?.role, 'creator', 'A keeps its own');
    const ws = (await t.request({ method: 'GET', url: '/v1/workspaces', as: b })).json() as {
      workspaces: WorkspaceView[];
    };
    assert.deepEqual(
      ws.workspaces.map((w) => w.id),
      [bId],
    );
    // A's lists likewise never show B's.
    const aSecrets = (await t.request({ method: 'GET', url: '/v1/secrets' })).json() as { secrets: Named[] };
    assert.deepEqual(
      aSecrets.secrets.map((x) => x.id),
      [a.secret.id],
    );
  });

  it("changes in B with B's own ids leave A untouched", async () => {
    const before = await snapshotA();
    const list = (await t.request({ method: 'GET', url: '/v1/users', as: b })).json() as {
      users: { id: string }[];
    };
    assert.ok(list.users.some((u) => u.id === a.userId));
    // Changing the shared person's role in B does not change it in A.
    const patch = await t.request({
      method: 'PATCH',
      url: `/v1/users/${a.userId}`,
      payload: { role: 'contributor' },
      as: b,
    });
    assert.equal(patch.statusCode, 200, patch.body);
    const del = await t.request({ method: 'DELETE', url: `/v1/users/${a.userId}`, as: b });
    assert.equal(del.statusCode, 204, del.body);
    const after = await snapshotA();
    assert.deepEqual(after, before);
    assert.equal((after.user as { user: { role: string } }).user.role, 'creator');
  });

  it("keeps B's audit log free of A's entries, and A's of B's", async () => {
    const bEntries = await auditLog(t, b);
    assert.ok(bEntries.length >= 2, 'B has its own entries');
    for (const e of bEntries) {
      assert.equal(e.account_id, bId, JSON.stringify(e));
      assert.equal(e.account_name, 'beta');
    }
    const aIds = new Set([a.secret.id, a.variable.id, a.key.id]);
    assert.ok(!bEntries.some((e) => aIds.has(e.resource_id)), "no entry about A's resources");
    const aEntries = await auditLog(t);
    const shared = new Set(aEntries.map((e) => e.id));
    assert.ok(!bEntries.some((e) => shared.has(e.id)), 'no entry appears in both');
    for (const e of aEntries) assert.equal(e.account_id, t.workspaceId);
    const bResources = new Set(bEntries.map((e: AuditEntry) => e.resource_id));
    // Only the "Workspace created" entry in A refers to B (A created it).
    const aboutB = aEntries.filter((e) => bResources.has(e.resource_id) && e.resource_id !== a.userId);
    assert.deepEqual(
      aboutB.map((e) => e.action),
      ['Workspace created'],
    );
    // Each chain verifies on its own.
    assert.equal((await t.services.audit.verify(t.workspaceId)).ok, true);
    assert.equal((await t.services.audit.verify(bId)).ok, true);
  });

  it("refuses A's page tokens in B, naming page_token", async () => {
    for (let i = 0; i < 3; i++)
      await t.request({ method: 'POST', url: '/v1/variables', payload: { name: `page_${i}`, value: i } });
    const aLog = await t.request({ method: 'GET', url: '/v1alpha/audit_logs?page_size=1' });
    const logToken = (aLog.json() as { next_page_token?: string }).next_page_token;
    assert.ok(logToken);
    assertStatusError(
      await t.request({
        method: 'GET',
        url: `/v1alpha/audit_logs?page_size=1&page_token=${encodeURIComponent(logToken)}`,
        as: b,
      }),
      400,
      3,
      'INVALID_PAGE_TOKEN',
      'page_token',
    );
    const aVars = await t.request({ method: 'GET', url: '/v1/variables?page_size=1' });
    const varToken = (aVars.json() as { next_page_token?: string }).next_page_token;
    assert.ok(varToken);
    assertError(
      await t.request({
        method: 'GET',
        url: `/v1/variables?page_size=1&page_token=${encodeURIComponent(varToken)}`,
        as: b,
      }),
      400,
      'INVALID_PAGE_TOKEN',
      'page_token',
    );
  });

  it("a key's token acts only in its own workspace", async () => {
    // The token of A's key acts in A only.
    const me = await t.request({ method: 'GET', url: '/v1/auth/me', as: a.key.pair });
    assert.equal((me.json() as { workspace: { id: string } }).workspace.id, t.workspaceId);
    const bKeys = (await t.request({ method: 'GET', url: '/v1alpha/api-keys', as: b })).json() as {
      api_keys: { client_id: string }[];
    };
    assert.ok(!bKeys.api_keys.some((k) => k.client_id === a.key.client_id));
  });
  it('keeps a console session out of workspaces the user does not belong to', async () => {
    const solo = await member(t, 'solo@example.com', 'owner');
    const invitedToB = await invite(t, 'solo@example.com', 'creator', b);
    assert.equal(invitedToB.id, solo.id);
    // A pending invitation is not a membership: no switching, no signing in to B.
    for (const workspace_id of [bId, '00000000-0000-4000-8000-0000000abcde']) {
      const res = await withSession(t, solo.session, {
        method: 'POST',
        url: '/v1/auth/switch-workspace',
        payload: { workspace_id },
      });
      assertError(res, 404, 'WORKSPACE_NOT_FOUND');
    }
    const me = await withSession(t, solo.session, { method: 'GET', url: '/v1/auth/me' });
    assert.equal((me.json() as { workspace: { id: string } }).workspace.id, t.workspaceId);
    const signIn = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: 'solo@example.com', password: solo.password, workspace_id: bId },
    });
    assertError(signIn, 401, 'INVALID_CREDENTIALS');
    // Once accepted, switching works and the session then sees B only.
    assert.equal((await accept(t, invitedToB.invitation_token, solo.password)).statusCode, 200);
    const sw = await withSession(t, solo.session, {
      method: 'POST',
      url: '/v1/auth/switch-workspace',
      payload: { workspace_id: bId },
    });
    assert.equal(sw.statusCode, 204, sw.body);
    assert.ok(
      await eventually(async () => {
        const r = await withSession(t, solo.session, { method: 'GET', url: '/v1/auth/me' });
        return (r.json() as { workspace: { id: string } }).workspace.id === bId;
      }),
    );
    const secret = await withSession(t, solo.session, { method: 'GET', url: `/v1/secrets/${a.secret.id}` });
    assertError(secret, 404, 'SECRET_NOT_FOUND');
    const list = await withSession(t, solo.session, { method: 'GET', url: '/v1/secrets' });
    assert.equal(list.statusCode, 200, list.body);
    assert.ok(!list.body.includes(a.secret.id));
  });
});
