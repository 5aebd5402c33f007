import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { resign, sign } from './helpers/orchestrate.js';

interface Paged {
  count: number;
  link: { next: string | null; previous: string | null };
  results: Record<string, unknown>[];
}

/** Orchestrate's storage manager (persistent lists), signed as its Open API is. */
describe('Orchestrate Open API: storage manager', () => {
  let t: TestApp;
  const url = (path: string, query = ''): string =>
    `/soarapi/openapi/v1/storage-manager/${path}?${sign(t.owner)}${query}`;

  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('creates, lists (with slugs, paged), reads, updates and deletes lists', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: url(''),
      payload: { title: 'IP addresses', storage_manager_data: { data: { bad: ['198.51.100.7'] } } },
    });
    assert.equal(created.statusCode, 201, created.body);
    const list = created.json() as {
      unique_id: string;
      readable_id: string;
      slug: string;
      storage_manager_data: { unique_id: string; data: unknown };
    };
    assert.match(list.readable_id, /^PL\d+$/);
    assert.deepEqual(list.storage_manager_data.data, { bad: ['198.51.100.7'] });
    for (const title of ['Domains', 'Hashes'])
      await t.app.inject({ method: 'POST', url: url(''), payload: { title } });

    const first = (await t.app.inject({ method: 'GET', url: url('', '&page_size=2') })).json() as Paged;
    assert.equal(first.count, 3);
    assert.equal(first.results.length, 2);
    assert.ok(!('storage_manager_data' in first.results[0]!), 'list items carry no data');
    const second = (
      await t.app.inject({ method: 'GET', url: resign(first.link.next!, t.owner) })
    ).json() as Paged;
    assert.equal(second.results.length, 1);
    assert.equal(second.link.next, null);
    const slugs = (
      await t.app.inject({ method: 'GET', url: url('slugs/', '&page_size=10') })
    ).json() as Paged;
    assert.deepEqual(
      slugs.results.map((s) => s.slug),
      ['domains', 'hashes', 'ip_addresses'],
    );

    const detail = await t.app.inject({ method: 'GET', url: url(`${list.unique_id}/`) });
    assert.deepEqual((detail.json() as typeof list).storage_manager_data.data, { bad: ['198.51.100.7'] });
    const updated = await t.app.inject({
      method: 'PUT',
      url: url(`${list.unique_id}/`),
      payload: { title: 'Bad IPs', storage_manager_data: { data: { bad: [] } } },
    });
    assert.equal(updated.statusCode, 200, updated.body);
    assert.equal((updated.json() as { title: string }).title, 'Bad IPs');
    const count = await t.app.inject({ method: 'GET', url: url(`${list.unique_id}/playbook-count/`) });
    assert.deepEqual(count.json(), { result: { count: 0 } });
    const removed = await t.app.inject({
      method: 'PUT',
      url: url(`${list.unique_id}/`),
      payload: { is_removed: 'true' },
    });
    assert.equal(removed.statusCode, 200, removed.body);
    assert.equal((await t.app.inject({ method: 'GET', url: url(`${list.unique_id}/`) })).statusCode, 404);
  });

  it("refuses to remove a list a workflow uses, with Orchestrate's error body", async () => {
    const created = await t.app.inject({ method: 'POST', url: url(''), payload: { title: 'Watched' } });
    const id = (created.json() as { unique_id: string }).unique_id;
    const wf = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: {
        yaml: `name: Watcher
trigger: { type: on_demand }
steps:
  - { id: read, kind: action, action: lists.get, with: { list: watched, key: k } }
`,
      },
    });
    assert.equal(wf.statusCode, 201, wf.body);
    const playbooks = (await t.app.inject({ method: 'GET', url: url(`${id}/playbooks/`) })).json() as Paged;
    assert.deepEqual(
      playbooks.results.map((p) => p.title),
      ['Watcher'],
    );
    assert.deepEqual((await t.app.inject({ method: 'GET', url: url(`${id}/playbook-count/`) })).json(), {
      result: { count: 1 },
    });
    const refused = await t.app.inject({ method: 'PUT', url: url(`${id}/`), payload: { is_removed: true } });
    assert.equal(refused.statusCode, 400);
    assert.deepEqual(refused.json(), {
      result: { non_field_error: 'This persistent list has associated playbooks' },
      status_code: 400,
    });
    const unsigned = await t.app.inject({ method: 'GET', url: `/soarapi/openapi/v1/storage-manager/${id}/` });
    assert.equal(unsigned.statusCode, 401);
    const wrongType = await t.app.inject({ method: 'POST', url: url(''), payload: { title: 5 } });
    assert.equal(wrongType.statusCode, 400);
  });
});
