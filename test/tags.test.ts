import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';
import { accept, assertError, auditLog, invite, login, member, withSession } from './helpers/api.js';
import { sign } from './helpers/orchestrate.js';

interface TagView {
  id: string;
  title: string;
  description: string;
  color: string;
  workflow_count: number;
  granted_to?: { users: string[]; api_keys: string[] };
  created_by: string;
}
type Body = Record<string, unknown>;
const WAIT = '{ id: hold, kind: wait, duration: 1h }';

/** Tags: CRUD, and the gate they put on operators' runs (start, retry, cancel). */
describe('tags', () => {
  let t: TestApp;
  let worker: Worker;

  before(async () => {
    t = await startTestApp();
    worker = testWorker(t);
  });
  after(() => t.close());

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: Body, as?: KeyPair) =>
    t.request({ method, url, ...(payload && { payload }), ...(as && { as }) });
  const fails = async (res: Promise<LightMyRequestResponse>, status: number, code: string, field?: string) =>
    assertError(await res, status, code, field, { messageNamesField: false });
  async function json<T>(res: Promise<LightMyRequestResponse>, status = 200): Promise<T> {
    const r = await res;
    assert.equal(r.statusCode, status, r.body);
    return r.json() as T;
  }
  const tag = async (payload: Body, as?: KeyPair) =>
    (await json<{ tag: TagView }>(call('POST', '/v1/tags', payload, as), 201)).tag;
  const patchTag = async (ref: string, payload: Body) =>
    (await json<{ tag: TagView }>(call('PATCH', `/v1/tags/${ref}`, payload))).tag;
  const getTag = async (ref: string, as?: KeyPair) =>
    (await json<{ tag: TagView }>(call('GET', `/v1/tags/${ref}`, undefined, as))).tag;
  /** A key with the role, and its id (for grants). */
  async function key(role: string): Promise<KeyPair & { id: string }> {
    const body = await json<{ api_key: { id: string; client_id: string }; client_secret: string }>(
      call('POST', '/v1/api-keys', { name: `${role}-${randomUUID().slice(0, 8)}`, role }),
      201,
    );
    return { id: body.api_key.id, client_id: body.api_key.client_id, client_secret: body.client_secret };
  }
  async function workflow(name: string, tags: string[], step = '{ id: done, kind: exit }'): Promise<string> {
    const yaml = `name: ${name}\ntags: [${tags.join(', ')}]\ntrigger: { type: on_demand }\nsteps:\n  - ${step}\n`;
    const { workflow: w } = await json<{ workflow: { id: string } }>(
      call('POST', '/v1/workflows', { yaml }),
      201,
    );
    await json(call('POST', `/v1/workflows/${w.id}/publish`, {}));
    return w.id;
  }
  const start = (id: string, as?: KeyPair) => call('POST', `/v1/workflows/${id}/executions`, {}, as);
  const started = async (id: string, as?: KeyPair) =>
    (await json<{ execution_id: string }>(start(id, as), 201)).execution_id;
  const workflowTags = async (id: string) =>
    (await json<{ workflow: { tags: string[] } }>(call('GET', `/v1/workflows/${id}`))).workflow.tags;
  const titles = async (query: string, as?: KeyPair) => {
    const body = await json<{ tags: TagView[]; next_page_token?: string }>(
      call('GET', `/v1/tags${query}`, undefined, as),
    );
    return { titles: body.tags.map((x) => x.title), next: body.next_page_token };
  };

  it('creates, reads by id or title, lists, updates and deletes, audited', async () => {
    const created = await tag({ title: 'Phishing', description: 'mail triage', color: '#1E88E5' });
    assert.deepEqual(
      [created.title, created.color, created.workflow_count, created.created_by],
      ['Phishing', '#1E88E5', 0, 'owner@example.com'],
    );
    assert.deepEqual(created.granted_to, { users: [], api_keys: [] });
    assert.equal((await getTag('Phishing')).id, created.id);
    assert.equal((await getTag(created.id)).title, 'Phishing');
    assert.equal((await tag({ title: 'Malware' })).color, '#6B7280');
    await workflow('Triage mail', ['Phishing']);
    assert.equal((await getTag('Phishing')).workflow_count, 1);

    assert.deepEqual((await titles('?q=phish')).titles, ['Phishing']);
    const first = await titles('?page_size=1');
    assert.deepEqual(first.titles, ['Malware']);
    assert.deepEqual((await titles(`?page_size=1&page_token=${first.next}`)).titles, ['Phishing']);

    const p = await patchTag(created.id, { description: 'mail', color: '#000000' });
    assert.deepEqual([p.title, p.description, p.color], ['Phishing', 'mail', '#000000']);
    assert.equal((await call('DELETE', '/v1/tags/Malware')).statusCode, 204);
    await fails(call('GET', '/v1/tags/Malware'), 404, 'TAG_NOT_FOUND');

    const entries = await auditLog(t);
    const on = entries.filter((e) => e.resource_id === created.id);
    assert.deepEqual(
      on.map((e) => e.action),
      ['Tag updated', 'Tag created'],
    );
    assert.deepEqual(on[0]!.extra_data.changed_fields, ['description', 'color']);
    assert.ok(entries.some((e) => e.action === 'Tag deleted' && e.resource_name === 'Malware'));
  });

  it('refuses bad input by field, taken titles, unknown tags and writes below contributor', async () => {
    for (const [payload, code, field] of [
      [{ description: 'x' }, 'INVALID_ARGUMENT', 'title'],
      [{ title: '   ' }, 'INVALID_ARGUMENT', 'title'],
      [{ title: 'x', color: 'red' }, 'INVALID_ARGUMENT', 'color'],
      [{ title: 'x', owner: 'me' }, 'UNKNOWN_FIELD', 'owner'],
      [{ title: 'x', granted_to: { api_keys: ['not-a-uuid'] } }, 'INVALID_ARGUMENT', 'granted_to.api_keys.0'],
    ] as const)
      await fails(call('POST', '/v1/tags', payload), 400, code, field);
    await tag({ title: 'Dup' });
    await tag({ title: 'Other' });
    await fails(call('POST', '/v1/tags', { title: 'Dup' }), 409, 'TAG_TITLE_TAKEN', 'title');
    await fails(call('PATCH', '/v1/tags/Other', { title: 'Dup' }), 409, 'TAG_TITLE_TAKEN', 'title');
    await fails(call('PATCH', '/v1/tags/Dup', {}), 400, 'INVALID_ARGUMENT');
    for (const method of ['GET', 'DELETE'] as const)
      await fails(call(method, `/v1/tags/${randomUUID()}`), 404, 'TAG_NOT_FOUND');
    await fails(call('PATCH', '/v1/tags/nope', { color: '#111111' }), 404, 'TAG_NOT_FOUND');

    for (const role of ['viewer', 'operator', 'creator']) {
      const k = await t.keyWithRole(role);
      assert.equal((await getTag('Dup', k)).granted_to, undefined, `${role} does not see grants`);
      await fails(call('POST', '/v1/tags', { title: `by-${role}` }, k), 403, 'PERMISSION_DENIED');
      await fails(call('DELETE', '/v1/tags/Dup', undefined, k), 403, 'PERMISSION_DENIED');
    }
    const contributor = await t.keyWithRole('contributor');
    const made = await tag({ title: 'by-contributor' }, contributor);
    assert.deepEqual(made.granted_to, { users: [], api_keys: [] }, 'a contributor sees grants');
    // Granting run rights is user management: the whole write is refused, nothing is kept.
    const op = await key('operator');
    const grant = { granted_to: { api_keys: [op.id] } };
    await fails(
      call('POST', '/v1/tags', { title: 'given', ...grant }, contributor),
      403,
      'PERMISSION_DENIED',
    );
    await fails(call('GET', '/v1/tags/given'), 404, 'TAG_NOT_FOUND');
    await fails(call('PATCH', '/v1/tags/by-contributor', grant, contributor), 403, 'PERMISSION_DENIED');
  });

  it('an operator starts, retries and cancels only runs of workflows with a tag granted to its key', async () => {
    const op = await key('operator');
    const gated = await workflow('Contain host', ['IR']);
    const other = await workflow('Reset password', ['Identity']);
    const before = await fails(start(gated, op), 403, 'WORKFLOW_NOT_GRANTED');
    assert.match(before.message, /"Contain host" carries "IR"/);
    const ir = await tag({ title: 'IR', granted_to: { api_keys: [op.id] } });
    assert.deepEqual(ir.granted_to, { users: [], api_keys: [op.id] });

    const run = await started(gated, op);
    assert.match((await fails(start(other, op), 403, 'WORKFLOW_NOT_GRANTED')).message, /"Identity"/);
    const untagged = await workflow('No tags', []);
    assert.match((await fails(start(untagged, op), 403, 'WORKFLOW_NOT_GRANTED')).message, /no tag/);
    const otherRun = await started(other);
    await worker.runUntilIdle();
    await json(call('POST', `/v1/executions/${run}/retry`, {}, op), 201);
    await fails(call('POST', `/v1/executions/${otherRun}/retry`, {}, op), 403, 'WORKFLOW_NOT_GRANTED');
    const holding = await started(await workflow('Hold', ['IR'], WAIT));
    const otherHolding = await started(await workflow('Hold other', ['Identity'], WAIT));
    await worker.runUntilIdle();
    const cancelled = await json<{ execution: { status: string } }>(
      call('POST', `/v1/executions/${holding}/cancel`, undefined, op),
    );
    assert.equal(cancelled.execution.status, 'cancelled');
    await fails(
      call('POST', `/v1/executions/${otherHolding}/cancel`, undefined, op),
      403,
      'WORKFLOW_NOT_GRANTED',
    );
    // The Orchestrate surface goes through the same gate.
    const orch = await t.app.inject({
      method: 'POST',
      url: `/soarapi/openapi/v1/playbook/run/?${sign(op)}`,
      payload: { playbook_unique_id: other, data: {} },
    });
    assert.equal(orch.statusCode, 403, orch.body);
    assert.match(orch.body, /WORKFLOW_NOT_GRANTED|granted/);

    // A viewer cannot run at all; a creator runs anything; another operator key is not granted.
    await fails(start(gated, await t.keyWithRole('viewer')), 403, 'PERMISSION_DENIED');
    await started(other, await t.keyWithRole('creator'));
    await fails(start(gated, await t.keyWithRole('operator')), 403, 'WORKFLOW_NOT_GRANTED');

    // Grants are replaced, not merged; deleting the tag takes them away.
    const replaced = await patchTag('IR', { granted_to: { api_keys: [] } });
    assert.deepEqual(replaced.granted_to, { users: [], api_keys: [] });
    await fails(start(gated, op), 403, 'WORKFLOW_NOT_GRANTED');
    await patchTag('IR', { granted_to: { api_keys: [op.id] } });
    await started(gated, op);
    assert.equal((await call('DELETE', '/v1/tags/IR')).statusCode, 204);
    await fails(start(gated, op), 403, 'WORKFLOW_NOT_GRANTED');
    await worker.runUntilIdle();
  });

  it('grants to users by email (any case) or id, and refuses non-members by index', async () => {
    const operator = await member(t, 'ops.analyst@example.com', 'operator');
    const wf = await workflow('Block sender', ['Mail']);
    const asOperator = () =>
      withSession(t, operator.session, {
        method: 'POST',
        url: `/v1/workflows/${wf}/executions`,
        payload: {},
      });
    await fails(asOperator(), 403, 'WORKFLOW_NOT_GRANTED');
    const mail = await tag({ title: 'Mail', granted_to: { users: ['OPS.Analyst@Example.com'] } });
    assert.deepEqual(mail.granted_to, { users: [operator.id], api_keys: [] });
    await json(asOperator(), 201);
    const byId = await patchTag('Mail', { granted_to: { users: [operator.id] } });
    assert.deepEqual(byId.granted_to?.users, [operator.id]);

    for (const [granted_to, field] of [
      [{ users: [operator.id, 'nobody@example.com'] }, 'granted_to.users[1]'],
      [{ users: [randomUUID()] }, 'granted_to.users[0]'],
      [{ api_keys: [randomUUID()] }, 'granted_to.api_keys[0]'],
    ] as const)
      await fails(
        call('POST', '/v1/tags', { title: 'Stranger', granted_to }),
        400,
        'INVALID_ARGUMENT',
        field,
      );
    await fails(call('GET', '/v1/tags/Stranger'), 404, 'TAG_NOT_FOUND');
    const audit = (await auditLog(t)).find((e) => e.resource_id === mail.id && e.action === 'Tag created');
    assert.deepEqual(audit?.extra_data.granted_to, { users: ['OPS.Analyst@Example.com'] });
    await worker.runUntilIdle();
  });

  it('refuses to rename a tag workflows carry; once they are retagged it renames, and the grant follows', async () => {
    const op = await key('operator');
    const wf = await workflow('Quarantine file', ['EDR', 'Other-tag']);
    const edr = await tag({ title: 'EDR', granted_to: { api_keys: [op.id] } });
    const refused = await fails(
      call('PATCH', `/v1/tags/${edr.id}`, { title: 'Endpoint' }),
      409,
      'CONFLICT',
      'title',
    );
    assert.match(refused.message, /1 workflow\(s\) carry the tag "EDR"; retag them before renaming it/);
    assert.equal((await getTag(edr.id)).title, 'EDR', 'nothing changed');
    assert.deepEqual(await workflowTags(wf), ['EDR', 'Other-tag']);
    assert.equal(
      (await patchTag('EDR', { title: 'EDR', color: '#123456' })).color,
      '#123456',
      'not a rename',
    );

    await json(call('PATCH', `/v1/workflows/${wf}`, { tags: ['Endpoint', 'Other-tag'] }));
    await fails(start(wf, op), 403, 'WORKFLOW_NOT_GRANTED');
    const renamed = await patchTag(edr.id, { title: 'Endpoint' });
    assert.deepEqual(
      [renamed.title, renamed.workflow_count, renamed.granted_to?.api_keys],
      ['Endpoint', 1, [op.id]],
    );
    await started(wf, op);
    const entry = (await auditLog(t)).find((e) => e.resource_id === edr.id && e.extra_data.previous_title);
    assert.deepEqual([entry?.action, entry?.extra_data.previous_title], ['Tag updated', 'EDR']);
    await worker.runUntilIdle();
  });

  it('a grant ends with the API key or the membership: a re-invited member is not granted again', async () => {
    const op = await key('operator');
    const user = await member(t, 'leaver@example.com', 'operator');
    const wf = await workflow('Hunt threats', ['Hunt']);
    const hunt = await tag({ title: 'Hunt', granted_to: { users: [user.id], api_keys: [op.id] } });
    assert.equal((await call('DELETE', `/v1/api-keys/${op.id}`)).statusCode, 204);
    assert.equal((await call('DELETE', `/v1/users/${user.id}`)).statusCode, 204);
    const back = await invite(t, 'leaver@example.com', 'operator');
    assert.equal(back.id, user.id, 'the same user');
    assert.equal((await accept(t, back.invitation_token, user.password)).statusCode, 200);
    const session = await login(t, 'leaver@example.com', user.password);
    const run = withSession(t, session, {
      method: 'POST',
      url: `/v1/workflows/${wf}/executions`,
      payload: {},
    });
    await fails(run, 403, 'WORKFLOW_NOT_GRANTED');
    const now = await getTag(hunt.id);
    assert.deepEqual(now.granted_to, { users: [], api_keys: [] }, 'no grant to who is gone');
    await json(call('PATCH', `/v1/tags/${hunt.id}`, { granted_to: now.granted_to }));
    await worker.runUntilIdle();
  });

  it('keeps workspaces apart: titles, reads and grants', async () => {
    const ownerB = (await json<{ api_key: KeyPair }>(call('POST', '/v1alpha/workspaces', { name: 'tags-b' })))
      .api_key;
    const a = await tag({ title: 'Shared title' });
    const b = await tag({ title: 'Shared title' }, ownerB);
    assert.notEqual(a.id, b.id);
    for (const method of ['GET', 'DELETE'] as const)
      await fails(call(method, `/v1/tags/${a.id}`, undefined, ownerB), 404, 'TAG_NOT_FOUND');
    assert.deepEqual((await titles('', ownerB)).titles, ['Shared title']);
    const keyA = await key('operator');
    for (const [granted_to, field] of [
      [{ api_keys: [keyA.id] }, 'granted_to.api_keys[0]'],
      [{ users: ['ops.analyst@example.com'] }, 'granted_to.users[0]'],
    ] as const)
      await fails(call('PATCH', `/v1/tags/${b.id}`, { granted_to }, ownerB), 400, 'INVALID_ARGUMENT', field);
  });
});
