import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';

interface ListView {
  id: string;
  readable_id: string;
  title: string;
  slug: string;
  data?: Record<string, unknown>;
}

describe('persistent lists', () => {
  let t: TestApp;
  let worker: Worker;

  before(async () => {
    t = await startTestApp();
    worker = testWorker(t, { pollMs: 20, concurrency: 10 });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await t.close();
  });

  async function create(payload: Record<string, unknown>): Promise<ListView> {
    const res = await t.request({ method: 'POST', url: '/v1/lists', payload });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { list: ListView }).list;
  }

  async function workflow(yaml: string): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { workflow: { id: string } }).workflow.id;
  }

  it('creates, reads (by id, slug or readable id), lists, updates and audits', async () => {
    const list = await create({ title: 'IP addresses', data: { known: ['198.51.100.1'], owner: 'soc' } });
    assert.equal(list.slug, 'ip_addresses');
    assert.match(list.readable_id, /^PL\d+$/);
    assert.deepEqual(list.data, { known: ['198.51.100.1'], owner: 'soc' });
    for (const ref of [list.id, list.slug, list.readable_id]) {
      const got = await t.request({ method: 'GET', url: `/v1/lists/${ref}` });
      assert.equal(got.statusCode, 200, got.body);
      assert.deepEqual((got.json() as { list: ListView }).list.data, list.data);
    }
    const listed = await t.request({ method: 'GET', url: '/v1/lists?q=ip' });
    const items = (listed.json() as { lists: ListView[] }).lists;
    assert.deepEqual(
      items.map((l) => l.slug),
      ['ip_addresses'],
    );
    assert.equal(items[0]!.data, undefined, 'list items carry no data');
    const patched = await t.request({
      method: 'PATCH',
      url: `/v1/lists/${list.slug}`,
      payload: { title: 'Known IPs', data: { known: [] } },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.deepEqual((patched.json() as { list: ListView }).list.data, { known: [] });
    const put = await t.request({
      method: 'PUT',
      url: `/v1/lists/${list.slug}/items/threshold`,
      payload: { value: 70 },
    });
    assert.equal(put.statusCode, 200, put.body);
    const item = await t.request({ method: 'GET', url: `/v1/lists/${list.slug}/items/threshold` });
    assert.deepEqual(item.json(), { key: 'threshold', value: 70 });
    const appended = await t.request({
      method: 'POST',
      url: `/v1/lists/${list.slug}/items/known/append`,
      payload: { values: ['203.0.113.1', '203.0.113.1', '203.0.113.2'], unique: true },
    });
    assert.equal((appended.json() as { length: number }).length, 2);
    assert.equal(
      (await t.request({ method: 'DELETE', url: `/v1/lists/${list.slug}/items/threshold` })).statusCode,
      204,
    );
    assert.equal(
      (await t.request({ method: 'GET', url: `/v1/lists/${list.slug}/items/threshold` })).statusCode,
      404,
    );

    const audit = await t.request({ method: 'GET', url: '/v1/audit-logs?page_size=20' });
    const actions = (audit.json() as { audit_logs: { action: string; resource_id: string }[] }).audit_logs
      .filter((e) => e.resource_id === list.id)
      .map((e) => e.action);
    assert.ok(actions.includes('Persistent list created'));
    assert.ok(actions.filter((a) => a === 'Persistent list updated').length >= 4, actions.join(', '));
  });

  it('refuses bad input by field, a taken slug, unknown lists, and writes by viewers', async () => {
    const bad = await t.request({
      method: 'POST',
      url: '/v1/lists',
      payload: { title: 'x', slug: 'Not A Slug' },
    });
    assert.equal(bad.statusCode, 400);
    assert.equal((bad.json() as { details: { field: string }[] }).details[0]?.field, 'slug');
    const missing = await t.request({ method: 'POST', url: '/v1/lists', payload: { data: {} } });
    assert.equal(missing.statusCode, 400);
    await create({ title: 'Dup' });
    const taken = await t.request({ method: 'POST', url: '/v1/lists', payload: { title: 'dup' } });
    assert.equal(taken.statusCode, 409);
    assert.equal((taken.json() as { code: string }).code, 'LIST_SLUG_TAKEN');
    assert.equal((await t.request({ method: 'GET', url: '/v1/lists/PL999999' })).statusCode, 404);
    const viewer = await t.keyWithRole('viewer');
    assert.equal((await t.request({ method: 'GET', url: '/v1/lists/dup', as: viewer })).statusCode, 200);
    const denied = await t.request({
      method: 'PUT',
      url: '/v1/lists/dup/items/a',
      payload: { value: 1 },
      as: viewer,
    });
    assert.equal(denied.statusCode, 403);
  });

  it('fifty concurrent executions appending to one key lose no element', async () => {
    await create({ title: 'Blocked IPs' });
    const id = await workflow(`name: Block
trigger:
  type: on_demand
  inputs: { type: object, required: [ip], properties: { ip: { type: string } } }
steps:
  - id: add
    kind: action
    action: lists.append
    with: { list: blocked_ips, key: ips, value: "{{ $.event.ip }}" }
  - id: seen
    kind: action
    action: lists.contains
    with: { list: blocked_ips, key: ips, value: "{{ $.event.ip }}" }
  - id: done
    kind: exit
    output: "{{ $.seen.contains }}"
`);
    const ips = Array.from({ length: 50 }, (_, i) => `10.9.${Math.floor(i / 10)}.${i % 10}`);
    const started = await Promise.all(
      ips.map(async (ip) => {
        const res = await t.request({
          method: 'POST',
          url: `/v1/workflows/${id}/executions`,
          payload: { inputs: { ip }, revision: 'current' },
        });
        assert.ok(res.statusCode < 300, res.body);
        return (res.json() as { execution_id: string }).execution_id;
      }),
    );
    for (const exec of started) {
      for (let i = 0; ; i++) {
        const res = await t.request({ method: 'GET', url: `/v1/executions/${exec}` });
        const ex = (res.json() as { execution: { status: string; output: unknown } }).execution;
        if (ex.status === 'succeeded') {
          assert.equal(ex.output, true);
          break;
        }
        assert.ok(!['failed', 'cancelled'].includes(ex.status), res.body);
        assert.ok(i < 600, 'runs finish');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const item = await t.request({ method: 'GET', url: '/v1/lists/blocked_ips/items/ips' });
    const value = (item.json() as { value: string[] }).value;
    assert.equal(value.length, 50);
    assert.deepEqual([...value].sort(), [...ips].sort());
  });

  it('reads in workflows, names the workflows that use a list, and refuses to delete it while they do', async () => {
    await create({ title: 'Allow list', data: { domains: ['example.com'] } });
    const id = await workflow(`name: Check domain
trigger: { type: on_demand }
steps:
  - id: lookup
    kind: action
    action: lists.get
    with: { list: allow_list, key: domains }
  - id: missing
    kind: action
    action: lists.get
    with: { list: allow_list, key: nothing, default: [] }
  - id: done
    kind: exit
    output: { domains: "{{ $.lookup.value }}", found: "{{ $.missing.found }}", fallback: "{{ $.missing.value }}" }
`);
    const run = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions?wait=true`,
      payload: { revision: 'current' },
    });
    const ex = (run.json() as { execution: { status: string; output: unknown } }).execution;
    assert.equal(ex.status, 'succeeded', run.body);
    assert.deepEqual(ex.output, { domains: ['example.com'], found: false, fallback: [] });

    const users = await t.request({ method: 'GET', url: '/v1/lists/allow_list/workflows' });
    assert.deepEqual(
      (users.json() as { workflows: { name: string }[] }).workflows.map((w) => w.name),
      ['Check domain'],
    );
    const refused = await t.request({ method: 'DELETE', url: '/v1/lists/allow_list' });
    assert.equal(refused.statusCode, 400, refused.body);
    const body = refused.json() as { code: string; message: string; details: { message: string }[] };
    assert.equal(body.code, 'LIST_IN_USE');
    assert.equal(body.message, 'This persistent list has associated playbooks');
    assert.match(body.details[0]!.message, /Check domain/);
    assert.equal((await t.request({ method: 'DELETE', url: `/v1/workflows/${id}` })).statusCode, 204);
    assert.equal((await t.request({ method: 'DELETE', url: '/v1/lists/allow_list' })).statusCode, 204);
    assert.equal((await t.request({ method: 'GET', url: '/v1/lists/allow_list' })).statusCode, 404);

    const gone = await workflow(`name: Missing list
trigger: { type: on_demand }
steps:
  - { id: read, kind: action, action: lists.get, with: { list: no_such_list, key: k } }
`);
    const failed = await t.request({
      method: 'POST',
      url: `/v1/workflows/${gone}/executions?wait=true`,
      payload: { revision: 'current' },
    });
    const fx = (failed.json() as { execution: { status: string; error: { code: string } } }).execution;
    assert.equal(fx.status, 'failed');
    assert.equal(fx.error.code, 'LIST_NOT_FOUND');
  });
});
