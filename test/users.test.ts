import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import {
  accept,
  assertError,
  assertStatusError,
  auditLog,
  eventually,
  invite,
  login,
  member,
  withSession,
  type AuditEntry,
} from './helpers/api.js';

interface UserView {
  id: string;
  email: string;
  name: string;
  role: string;
  role_id: string;
  status: 'INVITATION_SENT' | 'VERIFIED';
  sso_provision: boolean;
  created_time: string;
  last_login_time: string | null;
}
interface TorqUser {
  id: string;
  email: string;
  role_id: string;
  status: string;
  sso_provision: boolean;
  created_time: string;
  last_login_time?: string;
}

const PASSWORD = 'correct horse battery staple';
const UA = 'osprey-tests/1.0 (users)';
const IP = '203.0.113.7';

describe('users: invitations, sign-in, roles', () => {
  let t: TestApp;
  let roleIds: Record<string, string>;
  let ownerUserId: string;
  before(async () => {
    t = await startTestApp();
    const roles = await t.request({ method: 'GET', url: '/v1alpha/roles' });
    roleIds = Object.fromEntries(
      (roles.json() as { roles: { id: string; name: string }[] }).roles.map((r) => [r.name, r.id]),
    );
    const users = (await t.request({ method: 'GET', url: '/v1/users' })).json() as { users: UserView[] };
    ownerUserId = users.users.find((u) => u.email === 'owner@example.com')!.id;
  });
  after(() => t.close());

  async function entriesFor(resourceId: string): Promise<AuditEntry[]> {
    return (await auditLog(t)).filter((e) => e.resource_id === resourceId).reverse();
  }

  async function torqUsers(): Promise<TorqUser[]> {
    const res = await t.request({ method: 'GET', url: '/v1alpha/users' });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { users: TorqUser[] }).users;
  }

  it('lists the five preset roles with stable ids on both role routes', async () => {
    for (const url of ['/v1alpha/roles', '/v1alpha/users/roles', '/v1/roles']) {
      const res = await t.request({ method: 'GET', url });
      assert.equal(res.statusCode, 200, res.body);
      const roles = (res.json() as { roles: { id: string; name: string; scope_names: string[] }[] }).roles;
      assert.deepEqual(
        roles.map((r) => r.name),
        ['owner', 'contributor', 'creator', 'operator', 'viewer'],
      );
      for (const r of roles) assert.equal(r.id, roleIds[r.name]);
      assert.equal(new Set(roles.map((r) => r.id)).size, 5);
    }
  });

  it('invites with POST /v1/users as a viewer by default, lowercasing the email', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/v1/users',
      payload: { email: 'Ada.Lovelace@Example.COM', name: 'Ada' },
      headers: { 'user-agent': UA },
      remoteAddress: IP,
    });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json() as { user: UserView; invitation_token: string; invitation_expires_at: string };
    assert.equal(body.user.email, 'ada.lovelace@example.com');
    assert.equal(body.user.role, 'viewer');
    assert.equal(body.user.role_id, roleIds.viewer);
    assert.equal(body.user.status, 'INVITATION_SENT');
    assert.equal(body.user.last_login_time, null);
    assert.ok(body.invitation_token.length >= 32);
    const ttl = Date.parse(body.invitation_expires_at) - Date.now();
    assert.ok(ttl > 6.9 * 86_400_000 && ttl <= 7 * 86_400_000, `the invitation lasts 7 days (${ttl} ms)`);

    const listed = (await torqUsers()).find((u) => u.id === body.user.id);
    assert.ok(listed);
    assert.deepEqual(Object.keys(listed).sort(), [
      'created_time',
      'email',
      'id',
      'role_id',
      'sso_provision',
      'status',
    ]);
    assert.equal(listed.status, 'INVITATION_SENT');
    assert.equal(listed.sso_provision, false);
    assert.equal(listed.role_id, roleIds.viewer);
    assert.ok(!JSON.stringify(await torqUsers()).includes(body.invitation_token), 'the token is not listed');

    const [invited] = await entriesFor(body.user.id);
    assert.equal(invited?.action, 'User invited');
    assert.equal(invited.actor_type, 'api_key');
    assert.equal(invited.actor_name, 'Workspace owner key');
    assert.equal(invited.email, 'owner@example.com');
    assert.equal(invited.ip, IP);
    assert.equal(invited.user_agent, UA);
    assert.equal(invited.resource_name, 'ada.lovelace@example.com');
    assert.deepEqual(invited.extra_data, { role: 'viewer' });
  });

  it('invites with POST /v1alpha/users/invite and a role_id from GET /v1alpha/roles', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/v1alpha/users/invite',
      payload: { email: 'grace@example.com', role_id: roleIds.contributor },
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as TorqUser & { invitation_token: string };
    assert.equal(body.email, 'grace@example.com');
    assert.equal(body.role_id, roleIds.contributor);
    assert.equal(body.status, 'INVITATION_SENT');
    assert.equal(typeof body.invitation_token, 'string');
    const plain = await t.request({
      method: 'POST',
      url: '/public/v1alpha/users/invite',
      payload: { email: 'hopper@example.com' },
    });
    assert.equal(plain.statusCode, 200, plain.body);
    assert.equal((plain.json() as TorqUser).role_id, roleIds.viewer, 'viewer by default');
    const listed = await torqUsers();
    assert.equal(listed.find((u) => u.email === 'grace@example.com')?.role_id, roleIds.contributor);
  });

  it('refuses bad invitations, naming the field', async () => {
    assertStatusError(
      await t.request({
        method: 'POST',
        url: '/v1alpha/users/invite',
        payload: { email: 'x@example.com', role_id: '00000000-0000-4000-8000-0000000000ff' },
      }),
      400,
      3,
      'ROLE_NOT_FOUND',
      'role_id',
    );
    assertStatusError(
      await t.request({ method: 'POST', url: '/v1alpha/users/invite', payload: { email: 'not an email' } }),
      400,
      3,
      'INVALID_ARGUMENT',
      'email',
    );
    assertStatusError(
      await t.request({
        method: 'POST',
        url: '/v1alpha/users/invite',
        payload: { email: 'x@example.com', role: 'owner' },
      }),
      400,
      3,
      'UNKNOWN_FIELD',
      'role',
    );
    assertError(
      await t.request({
        method: 'POST',
        url: '/v1/users',
        payload: { email: 'x@example.com', role: 'admin' },
      }),
      400,
      'INVALID_ARGUMENT',
      'role',
    );
    assertError(
      await t.request({ method: 'POST', url: '/v1/users', payload: { role: 'viewer' } }),
      400,
      'INVALID_ARGUMENT',
      'email',
    );
    assertError(
      await t.request({ method: 'POST', url: '/v1/users', payload: { email: 42 } }),
      400,
      'INVALID_ARGUMENT',
      'email',
    );
    assertError(
      await t.request({
        method: 'POST',
        url: '/v1/users',
        payload: { email: 'x@example.com', password: 'let me pick' },
      }),
      400,
      'UNKNOWN_FIELD',
      'password',
    );
    assert.ok(!(await torqUsers()).some((u) => u.email === 'x@example.com'), 'nobody was invited');
  });

  it('answers 409 USER_ALREADY_MEMBER for a second invitation, whatever the case of the email', async () => {
    const first = await invite(t, 'twice@example.com');
    const res = await t.request({
      method: 'POST',
      url: '/v1/users',
      payload: { email: 'TWICE@example.com' },
    });
    assertError(res, 409, 'USER_ALREADY_MEMBER', 'email', { messageNamesField: false });
    // The first invitation still works.
    assert.equal((await accept(t, first.invitation_token, PASSWORD)).statusCode, 200);
  });

  it('accepts an invitation once: short password 400 naming password, reuse 404', async () => {
    const inv = await invite(t, 'linus@example.com', 'creator');
    const short = await accept(t, inv.invitation_token, 'short', 'Linus');
    assertError(short, 400, 'INVALID_ARGUMENT', 'password');
    assertError(await accept(t, inv.invitation_token, ''), 400, 'INVALID_ARGUMENT', 'password');
    assertError(
      await t.app.inject({
        method: 'POST',
        url: '/v1/auth/accept-invitation',
        payload: { token: inv.invitation_token },
      }),
      400,
      'INVALID_ARGUMENT',
      'password',
    );
    assertError(await accept(t, 'short', PASSWORD), 400, 'INVALID_ARGUMENT', 'token');
    assertError(await accept(t, 'a-token-nobody-issued-0123456789', PASSWORD), 404, 'INVITATION_NOT_FOUND');
    // The failed attempts did not use the invitation up.
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/accept-invitation',
      payload: { token: inv.invitation_token, password: PASSWORD, name: 'Linus T' },
      headers: { 'user-agent': UA },
      remoteAddress: IP,
    });
    assert.equal(res.statusCode, 200, res.body);
    const user = (res.json() as { user: UserView }).user;
    assert.equal(user.id, inv.id);
    assert.equal(user.status, 'VERIFIED');
    assert.equal(user.name, 'Linus T');
    assert.equal(user.role, 'creator');
    assert.doesNotMatch(res.body, /password/);
    assertError(await accept(t, inv.invitation_token, PASSWORD), 404, 'INVITATION_NOT_FOUND');
    assertError(await accept(t, inv.invitation_token, 'another long password'), 404, 'INVITATION_NOT_FOUND');
    assert.equal((await torqUsers()).find((u) => u.id === inv.id)?.status, 'VERIFIED');

    const accepted = (await entriesFor(inv.id)).find((e) => e.action === 'User accepted invitation');
    assert.ok(accepted, 'an audit entry records the acceptance');
    assert.equal(accepted.actor_type, 'web_app');
    assert.equal(accepted.email, 'linus@example.com');
    assert.equal(accepted.ip, IP);
    assert.equal(accepted.user_agent, UA);
    assert.equal(accepted.account_id, t.workspaceId);
    assert.deepEqual(accepted.extra_data, { role: 'creator' });
    const failures = (await entriesFor(inv.id)).filter((e) => e.action === 'User accepted invitation');
    assert.equal(failures.length, 1, 'failed attempts record no acceptance');
  });

  it('signs in with email and password, setting an httpOnly osprey_session cookie', async () => {
    const inv = await invite(t, 'margaret@example.com', 'contributor');
    assert.equal((await accept(t, inv.invitation_token, PASSWORD, 'Margaret')).statusCode, 200);
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: 'Margaret@Example.com', password: PASSWORD },
      headers: { 'user-agent': UA, 'x-forwarded-for': '198.51.100.1' },
      remoteAddress: IP,
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as {
      user: { id: string; email: string };
      workspace: { id: string; name: string };
      role: string;
      expires_at: string;
    };
    assert.deepEqual(body.user, { id: inv.id, email: 'margaret@example.com' });
    assert.deepEqual(body.workspace, { id: t.workspaceId, name: 'default' });
    assert.equal(body.role, 'contributor');
    const cookie = res.cookies.find((c) => c.name === 'osprey_session');
    assert.ok(cookie && cookie.value.length >= 32);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/');
    assert.ok(cookie.expires && Math.abs(cookie.expires.getTime() - Date.parse(body.expires_at)) < 1000);
    assert.doesNotMatch(res.body, new RegExp(cookie.value), 'the session is only in the cookie');

    const loggedIn = (await entriesFor(inv.id)).find((e) => e.action === 'User logged in');
    assert.ok(loggedIn);
    assert.equal(loggedIn.actor_type, 'web_app');
    assert.equal(loggedIn.email, 'margaret@example.com');
    assert.equal(loggedIn.actor_name, 'Margaret');
    assert.equal(loggedIn.ip, IP, 'X-Forwarded-For is not trusted by default');
    assert.equal(loggedIn.user_agent, UA);
    assert.deepEqual(loggedIn.extra_data, { role: 'contributor' });
    assert.ok((await torqUsers()).find((u) => u.id === inv.id)?.last_login_time);
  });

  it('answers 401 INVALID_CREDENTIALS for a wrong password, and records "User login failed"', async () => {
    const user = await member(t, 'ken@example.com', 'viewer');
    const before = (await entriesFor(user.id)).length;
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: 'ken@example.com', password: 'wrong password entirely' },
      headers: { 'user-agent': UA },
      remoteAddress: IP,
    });
    const body = assertError(wrong, 401, 'INVALID_CREDENTIALS');
    assert.equal(wrong.cookies.length, 0, 'no cookie');
    const entries = await entriesFor(user.id);
    assert.equal(entries.length, before + 1);
    const failed = entries.at(-1)!;
    assert.equal(failed.action, 'User login failed');
    assert.equal(failed.actor_type, 'web_app');
    assert.equal(failed.email, 'ken@example.com');
    assert.equal(failed.ip, IP);
    assert.equal(failed.user_agent, UA);
    assert.ok(!JSON.stringify(failed).includes('wrong password entirely'), 'the attempt is not logged');

    // An unknown email and a not-yet-accepted invitation answer exactly the same.
    const pending = await invite(t, 'pending@example.com');
    for (const email of ['nobody@example.com', pending.email]) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email, password: PASSWORD },
      });
      assert.equal(assertError(res, 401, 'INVALID_CREDENTIALS').message, body.message);
    }
    assertError(
      await t.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { email: 'ken@example.com' } }),
      400,
      'INVALID_ARGUMENT',
      'password',
    );
    assertError(
      await t.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: 'not-an-email', password: PASSWORD },
      }),
      400,
      'INVALID_ARGUMENT',
      'email',
    );
  });

  it('authenticates API calls with the session cookie, with the member role', async () => {
    const user = await member(t, 'barbara@example.com', 'viewer');
    const me = await withSession(t, user.session, { method: 'GET', url: '/v1/auth/me' });
    assert.equal(me.statusCode, 200, me.body);
    assert.deepEqual(me.json(), {
      workspace: { id: t.workspaceId, name: 'default' },
      role: 'viewer',
      actor: { type: 'web_app', email: 'barbara@example.com', name: 'barbara', user_id: user.id },
    });
    // A viewer may read variables but not list users or the audit log.
    assert.equal(
      (await withSession(t, user.session, { method: 'GET', url: '/v1/variables' })).statusCode,
      200,
    );
    assertError(
      await withSession(t, user.session, { method: 'GET', url: '/v1/users' }),
      403,
      'PERMISSION_DENIED',
    );
    assertStatusError(
      await withSession(t, user.session, { method: 'GET', url: '/v1alpha/audit_logs' }),
      403,
      7,
      'PERMISSION_DENIED',
    );
    const forged = await withSession(t, `${user.session}x`, { method: 'GET', url: '/v1/auth/me' });
    assertError(forged, 401, 'UNAUTHENTICATED');
  });

  it('logs out: 204, the cookie is cleared and no longer works, "User logged out" is recorded', async () => {
    const user = await member(t, 'dennis@example.com', 'viewer');
    const other = await login(t, 'dennis@example.com', PASSWORD);
    const res = await withSession(t, user.session, {
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { 'user-agent': UA },
      remoteAddress: IP,
    });
    assert.equal(res.statusCode, 204, res.body);
    const cleared = res.cookies.find((c) => c.name === 'osprey_session');
    assert.ok(cleared, 'the response clears the cookie');
    assert.equal(cleared.value, '');
    assert.ok(cleared.expires && cleared.expires.getTime() <= Date.now());
    const after = await withSession(t, user.session, { method: 'GET', url: '/v1/auth/me' });
    assertError(after, 401, 'UNAUTHENTICATED');
    assertError(
      await withSession(t, user.session, { method: 'POST', url: '/v1/auth/logout' }),
      401,
      'UNAUTHENTICATED',
    );
    // Only that session ended.
    assert.equal((await withSession(t, other, { method: 'GET', url: '/v1/auth/me' })).statusCode, 200);
    const out = (await entriesFor(user.id)).find((e) => e.action === 'User logged out');
    assert.ok(out);
    assert.equal(out.actor_type, 'web_app');
    assert.equal(out.email, 'dennis@example.com');
    assert.equal(out.ip, IP);
    assert.equal(out.user_agent, UA);
    // An API token has no session to end.
    assertError(await t.request({ method: 'POST', url: '/v1/auth/logout' }), 400, 'INVALID_ARGUMENT');
  });

  it('changes a role with PATCH /v1/users/{id}, recording "User role updated"', async () => {
    const user = await member(t, 'frances@example.com', 'viewer');
    const res = await t.request({
      method: 'PATCH',
      url: `/v1/users/${user.id}`,
      payload: { role: 'creator' },
      headers: { 'user-agent': UA },
      remoteAddress: IP,
    });
    assert.equal(res.statusCode, 200, res.body);
    const view = (res.json() as { user: UserView }).user;
    assert.equal(view.role, 'creator');
    assert.equal(view.role_id, roleIds.creator);
    assert.equal((await torqUsers()).find((u) => u.id === user.id)?.role_id, roleIds.creator);
    const updated = (await entriesFor(user.id)).find((e) => e.action === 'User role updated');
    assert.ok(updated);
    assert.equal(updated.extra_data.role, 'creator');
    assert.equal(updated.extra_data.previous_role, 'viewer');
    assert.equal(updated.actor_type, 'api_key');
    assert.equal(updated.email, 'owner@example.com');
    assert.equal(updated.ip, IP);
    assert.equal(updated.user_agent, UA);
    assert.equal(updated.resource_name, 'frances@example.com');
    // The user's open session gets the new role within seconds.
    assert.ok(
      await eventually(async () => {
        const me = await withSession(t, user.session, { method: 'GET', url: '/v1/auth/me' });
        return (me.json() as { role: string }).role === 'creator';
      }),
    );

    for (const [payload, code, field] of [
      [{ role: 'admin' }, 'INVALID_ARGUMENT', 'role'],
      [{}, 'INVALID_ARGUMENT', 'role'],
      [{ role: 'owner', email: 'x@example.com' }, 'UNKNOWN_FIELD', 'email'],
    ] as const) {
      const bad = await t.request({ method: 'PATCH', url: `/v1/users/${user.id}`, payload });
      assertError(bad, 400, code, field);
    }
    assertError(
      await t.request({ method: 'PATCH', url: '/v1/users/nope', payload: { role: 'viewer' } }),
      400,
      'INVALID_ARGUMENT',
      'id',
    );
    assertError(
      await t.request({
        method: 'PATCH',
        url: '/v1/users/00000000-0000-4000-8000-000000000777',
        payload: { role: 'viewer' },
      }),
      404,
      'USER_NOT_FOUND',
      'id',
      { messageNamesField: false },
    );
  });

  it('answers 409 LAST_OWNER to demoting or deleting the last owner', async () => {
    const demote = await t.request({
      method: 'PATCH',
      url: `/v1/users/${ownerUserId}`,
      payload: { role: 'contributor' },
    });
    assertError(demote, 409, 'LAST_OWNER', 'role', { messageNamesField: false });
    assertError(await t.request({ method: 'DELETE', url: `/v1/users/${ownerUserId}` }), 409, 'LAST_OWNER');
    // A pending owner invitation does not count as a second owner.
    await invite(t, 'future.owner@example.com', 'owner');
    assertError(
      await t.request({ method: 'PATCH', url: `/v1/users/${ownerUserId}`, payload: { role: 'viewer' } }),
      409,
      'LAST_OWNER',
    );
    const users = (await t.request({ method: 'GET', url: '/v1/users' })).json() as { users: UserView[] };
    assert.equal(users.users.find((u) => u.id === ownerUserId)?.role, 'owner', 'still owner');
    // Promoting a verified user first makes the demotion possible; the new owner is then the last.
    const second = await member(t, 'second.owner@example.com', 'viewer');
    assert.equal(
      (await t.request({ method: 'PATCH', url: `/v1/users/${second.id}`, payload: { role: 'owner' } }))
        .statusCode,
      200,
    );
    const ok = await t.request({
      method: 'PATCH',
      url: `/v1/users/${ownerUserId}`,
      payload: { role: 'contributor' },
    });
    assert.equal(ok.statusCode, 200, ok.body);
    assertError(
      await withSession(t, second.session, {
        method: 'PATCH',
        url: `/v1/users/${second.id}`,
        payload: { role: 'viewer' },
      }),
      409,
      'LAST_OWNER',
    );
    assertError(
      await withSession(t, second.session, { method: 'DELETE', url: `/v1/users/${second.id}` }),
      409,
      'LAST_OWNER',
    );
    // Restore the original owner for the tests that follow.
    const back = await t.request({
      method: 'PATCH',
      url: `/v1/users/${ownerUserId}`,
      payload: { role: 'owner' },
    });
    assert.equal(back.statusCode, 200, back.body);
  });

  it('never leaves a workspace without an owner when two owners are demoted at once', async () => {
    const t2 = await startTestApp();
    try {
      const users = (await t2.request({ method: 'GET', url: '/v1/users' })).json() as { users: UserView[] };
      const first = users.users.find((u) => u.email === 'owner@example.com')!.id;
      const second = await member(t2, 'race@example.com', 'owner');
      const results = await Promise.all(
        [first, second.id].map((id) =>
          t2.request({ method: 'PATCH', url: `/v1/users/${id}`, payload: { role: 'viewer' } }),
        ),
      );
      const codes = results.map((r) => r.statusCode).sort();
      assert.deepEqual(codes, [200, 409], results.map((r) => r.body).join('\n'));
      const after = (await t2.request({ method: 'GET', url: '/v1/users' })).json() as { users: UserView[] };
      assert.equal(after.users.filter((u) => u.role === 'owner').length, 1);
    } finally {
      await t2.close();
    }
  });

  it('lets no one grant a role above their own: a contributor cannot grant owner (403)', async () => {
    const contributorKey = await t.keyWithRole('contributor');
    const target = await member(t, 'ordinary@example.com', 'viewer');
    assertError(
      await t.request({
        method: 'POST',
        url: '/v1/users',
        payload: { email: 'crony@example.com', role: 'owner' },
        as: contributorKey,
      }),
      403,
      'PERMISSION_DENIED',
    );
    assertStatusError(
      await t.request({
        method: 'POST',
        url: '/v1alpha/users/invite',
        payload: { email: 'crony@example.com', role_id: roleIds.owner },
        as: contributorKey,
      }),
      403,
      7,
      'PERMISSION_DENIED',
    );
    assertError(
      await t.request({
        method: 'PATCH',
        url: `/v1/users/${target.id}`,
        payload: { role: 'owner' },
        as: contributorKey,
      }),
      403,
      'PERMISSION_DENIED',
    );
    // A signed-in contributor cannot promote themselves either.
    const self = await member(t, 'climber@example.com', 'contributor');
    assertError(
      await withSession(t, self.session, {
        method: 'PATCH',
        url: `/v1/users/${self.id}`,
        payload: { role: 'owner' },
      }),
      403,
      'PERMISSION_DENIED',
    );
    // Nor create a key above their role.
    assertError(
      await withSession(t, self.session, {
        method: 'POST',
        url: '/v1/api-keys',
        payload: { name: 'escalate', role: 'owner' },
      }),
      403,
      'PERMISSION_DENIED',
    );
    const users = (await t.request({ method: 'GET', url: '/v1/users' })).json() as { users: UserView[] };
    assert.equal(users.users.find((u) => u.id === target.id)?.role, 'viewer');
    assert.equal(users.users.find((u) => u.id === self.id)?.role, 'contributor');
    assert.ok(!users.users.some((u) => u.email === 'crony@example.com'));
  });

  it('deletes a user: 204, "User deleted", their session, private keys and sign-in end', async () => {
    const user = await member(t, 'doomed@example.com', 'owner');
    const key = await withSession(t, user.session, {
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'doomed laptop', role: 'viewer', type: 'private' },
    });
    assert.equal(key.statusCode, 201, key.body);
    const keyId = (key.json() as { api_key: { id: string } }).api_key.id;
    const res = await t.request({
      method: 'DELETE',
      url: `/v1/users/${user.id}`,
      headers: { 'user-agent': UA },
      remoteAddress: IP,
    });
    assert.equal(res.statusCode, 204, res.body);
    const deleted = (await entriesFor(user.id)).find((e) => e.action === 'User deleted');
    assert.ok(deleted);
    assert.equal(deleted.resource_name, 'doomed@example.com');
    assert.deepEqual(deleted.extra_data, { role: 'owner' });
    assert.equal(deleted.actor_type, 'api_key');
    assert.equal(deleted.ip, IP);
    assert.equal(deleted.user_agent, UA);
    assertError(
      await t.request({ method: 'GET', url: `/v1/users/${user.id}` }),
      404,
      'USER_NOT_FOUND',
      'id',
      { messageNamesField: false },
    );
    assertError(await t.request({ method: 'DELETE', url: `/v1/users/${user.id}` }), 404, 'USER_NOT_FOUND');
    assert.ok(!(await torqUsers()).some((u) => u.id === user.id));
    assertError(await t.request({ method: 'GET', url: `/v1/api-keys/${keyId}` }), 404, 'API_KEY_NOT_FOUND');
    assert.ok(
      await eventually(
        async () =>
          (await withSession(t, user.session, { method: 'GET', url: '/v1/auth/me' })).statusCode === 401,
      ),
      "the deleted user's session stops working",
    );
    const signIn = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: 'doomed@example.com', password: PASSWORD },
    });
    assertError(signIn, 401, 'INVALID_CREDENTIALS');
  });

  it('answers 403 to roles without users.read or users.manage', async () => {
    for (const role of ['operator', 'viewer']) {
      const key = await t.keyWithRole(role);
      assertError(await t.request({ method: 'GET', url: '/v1/users', as: key }), 403, 'PERMISSION_DENIED');
      assertStatusError(
        await t.request({ method: 'GET', url: '/v1alpha/users', as: key }),
        403,
        7,
        'PERMISSION_DENIED',
      );
    }
    for (const role of ['contributor', 'creator']) {
      const key = await t.keyWithRole(role);
      assert.equal((await t.request({ method: 'GET', url: '/v1/users', as: key })).statusCode, 200);
      assertError(
        await t.request({ method: 'POST', url: '/v1/users', payload: { email: 'z@example.com' }, as: key }),
        403,
        'PERMISSION_DENIED',
      );
      assertError(
        await t.request({ method: 'DELETE', url: `/v1/users/${ownerUserId}`, as: key }),
        403,
        'PERMISSION_DENIED',
      );
    }
  });

  it("makes an existing user prove their password to accept another workspace's invitation", async () => {
    const user = await member(t, 'roaming@example.com', 'viewer');
    const created = await t.request({
      method: 'POST',
      url: '/v1alpha/workspaces',
      payload: { name: 'other' },
    });
    assert.equal(created.statusCode, 200, created.body);
    const otherKey = (created.json() as { api_key: { client_id: string; client_secret: string } }).api_key;
    const inv = await invite(t, 'roaming@example.com', 'operator', otherKey);
    assert.equal(inv.id, user.id, 'the same user');
    const takeover = await accept(t, inv.invitation_token, 'a brand new password!');
    assertError(takeover, 401, 'INVALID_CREDENTIALS');
    // The old password still signs in; the new one does not.
    await login(t, 'roaming@example.com', PASSWORD);
    assertError(
      await t.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: 'roaming@example.com', password: 'a brand new password!' },
      }),
      401,
      'INVALID_CREDENTIALS',
    );
    assert.equal((await accept(t, inv.invitation_token, PASSWORD)).statusCode, 200);
    const users = (await t.request({ method: 'GET', url: '/v1alpha/users', as: otherKey })).json() as {
      users: TorqUser[];
    };
    assert.equal(users.users.find((u) => u.id === user.id)?.status, 'VERIFIED');
  });
});

describe('invitation expiry', () => {
  let t: TestApp;
  let offset = 0;
  before(async () => {
    t = await startTestApp({ clock: { now: () => Date.now() + offset } });
  });
  after(() => t.close());

  it('refuses an invitation after its 7 days with 404 INVITATION_NOT_FOUND', async () => {
    const inv = await invite(t, 'late@example.com', 'viewer');
    offset = 7 * 86_400_000 + 60_000;
    try {
      assertError(await accept(t, inv.invitation_token, PASSWORD), 404, 'INVITATION_NOT_FOUND');
    } finally {
      offset = 0;
    }
    // Within the 7 days it would have worked.
    assert.equal((await accept(t, inv.invitation_token, PASSWORD)).statusCode, 200);
  });

  it('issues a new invitation to someone whose invitation expired', async () => {
    const first = await invite(t, 'renewed@example.com', 'creator');
    offset = 8 * 86_400_000;
    try {
      const again = await t.request({
        method: 'POST',
        url: '/v1/users',
        payload: { email: 'renewed@example.com', role: 'creator' },
      });
      assert.equal(again.statusCode, 201, `re-inviting after expiry: ${again.body}`);
      const renewed = again.json() as { user: { id: string }; invitation_token: string };
      assert.equal(renewed.user.id, first.id);
      assert.notEqual(renewed.invitation_token, first.invitation_token);
      assert.equal((await accept(t, renewed.invitation_token, PASSWORD)).statusCode, 200);
    } finally {
      offset = 0;
    }
  });
});

describe('client addresses behind a trusted proxy', () => {
  it('records the X-Forwarded-For address when OSPREY_TRUST_PROXY is set', async () => {
    const t = await startTestApp({ env: { OSPREY_TRUST_PROXY: 'true' } });
    try {
      const inv = await t.request({
        method: 'POST',
        url: '/v1/users',
        payload: { email: 'proxied@example.com' },
        headers: { 'x-forwarded-for': '192.0.2.44', 'user-agent': UA },
        remoteAddress: '10.0.0.1',
      });
      assert.equal(inv.statusCode, 201, inv.body);
      const id = (inv.json() as { user: { id: string } }).user.id;
      const entry = (await auditLog(t)).find((e) => e.resource_id === id);
      assert.equal(entry?.ip, '192.0.2.44');
      assert.equal(entry?.user_agent, UA);
    } finally {
      await t.close();
    }
  });
});
