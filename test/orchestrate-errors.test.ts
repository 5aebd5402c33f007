import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { resign, sign } from './helpers/orchestrate.js';
import {
  OpenApiClient,
  assertOpenError,
  created,
  http,
  native,
  publish,
  sendJson,
  sleep,
  type Obj,
  type Paged,
} from './helpers/orchestrate-client.js';

const UNKNOWN = '00000000-0000-4000-8000-00000000abcd';
const o = (v: unknown): Obj => v as Obj;

const PLAYBOOK = `name: Errors target
trigger: { type: on_demand }
steps:
  - id: pick
    kind: transform
    value: "{{ $.event.ip }}"
`;

/**
 * The error answers of the Orchestrate Open API, over a real HTTP listener and signed as the
 * reference signs: 401 to bad signatures, 404 to unknown ids, 400 to wrong body types and query
 * fields, 413 to oversized bodies. The setup is only what those cases name: a published playbook,
 * two tags, a persistent list, an event webhook, an event and one run log (left queued: no worker).
 */
describe('Orchestrate Open API: error answers, signed as the reference signs', () => {
  let t: TestApp;
  let base = '';
  let api: OpenApiClient;
  const ids = { playbook: '', list: '', token: '', seedEvent: '' };

  /** A webhook URL (§5.10): `events/` answers detailed events. */
  const hookUrl = (prefix: string, path: string, token = ids.token): string =>
    `${base}/soarapi/webhooks_auth/${prefix}${path}?token=${encodeURIComponent(token)}`;

  before(async () => {
    t = await startTestApp();
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    api = new OpenApiClient(base, t.owner);
    ids.playbook = await publish(t, PLAYBOOK);
    // Two tags, so that v1/tags/ at page_size=1 has a link.next for the stale-link case.
    await created(t, '/v1/tags', 'tag', { title: 'triage', description: 'Tier 1 triage', color: '#1E88E5' });
    await created(t, '/v1/tags', 'tag', { title: 'containment', description: 'Blocks', color: '#E53935' });
    ids.list = await created(t, '/v1/lists', 'list', { title: 'Errors IPs', slug: 'errors_ips' });
    ids.token = String(o((await native(t, 'POST', '/v1/event-webhooks', { title: 'CTIX' })).webhook).token);
    await native(t, 'POST', `/v1/workflows/${ids.playbook}/executions`, { inputs: { ip: '192.0.2.1' } });
    const seedEvent = { title: 'Seed event', app_identifier: 'splunk', action_identifier: 'notable' };
    ids.seedEvent = await created(t, '/v1/events', 'event', { ...seedEvent, data: { ip: '192.0.2.2' } });
  });
  after(async () => {
    await t.close();
  });

  it('answers 401 JSON to a wrong signature, an expired or far-future Expires, an unknown or disabled key, missing parameters, and a stale link', async () => {
    const disabled = await t.keyWithRole('viewer');
    assert.equal((await http(api.url('v1/test_connectivity/', {}, disabled))).status, 200);
    const keys = (await native(t, 'GET', '/v1/api-keys')).api_keys as { id: string; client_id: string }[];
    const keyId = keys.find((k) => k.client_id === disabled.client_id)!.id;
    await native(t, 'PATCH', `/v1/api-keys/${keyId}`, { enabled: false });
    const noSignature = new URLSearchParams(sign(t.owner));
    noSignature.delete('Signature');
    const cases: [string, string][] = [
      ['a wrong signature', sign({ ...t.owner, client_secret: 'not-the-secret' })],
      ['Expires in the past', sign(t.owner, -120)],
      ['Expires far in the future', sign(t.owner, 3600)],
      ['an unknown AccessID', sign({ client_id: randomUUID(), client_secret: 'x' })],
      ['a disabled key', sign(disabled)],
      ['no parameters', ''],
      ['no Signature', noSignature.toString()],
      ['Expires that is not a time', `AccessID=${t.owner.client_id}&Expires=soon&Signature=x`],
    ];
    const before = ((await api.get('v1/playbook/playbook-result/')).body as Paged).count;
    for (const [name, query] of cases) {
      const ping = await http(`${base}/soarapi/openapi/v1/test_connectivity/?${query}`);
      assert.equal(ping.status, 401, `${name}: ${ping.text}`);
      assertOpenError(ping, 401, 'UNAUTHENTICATED');
      const run = await sendJson(`${base}/soarapi/openapi/v1/playbook/run/?${query}`, {
        playbook_unique_id: ids.playbook,
        data: {},
      });
      assert.equal(run.status, 401, `${name}: ${run.text}`);
    }
    assert.equal(
      ((await api.get('v1/playbook/playbook-result/')).body as Paged).count,
      before,
      'no run started',
    );

    // A link.next keeps the request's own Expires: once that has passed (with the 30 s skew the
    // server allows), following it as given fails and signing it again works.
    const stale = sign(t.owner, -28, Math.floor(Date.now() / 1000) * 1000);
    const expires = Number(new URLSearchParams(stale).get('Expires'));
    const first = await http(`${base}/soarapi/openapi/v1/tags/?${stale}&page_size=1`);
    assert.equal(first.status, 200, first.text);
    const next = (first.body as Paged).link!.next!;
    assert.ok(next.includes(`Expires=${expires}`), next);
    await sleep((expires + 30) * 1000 - Date.now() + 250);
    assertOpenError(await http(`${base}/soarapi/${next}`), 401, 'UNAUTHENTICATED');
    assert.equal((await http(`${base}${resign(next, t.owner)}`)).status, 200);
  });

  it('answers 404 for an unknown id on every detail route', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', `v1/integrations/apps/${UNKNOWN}/`],
      ['GET', `v1/integrations/apps-instances/${UNKNOWN}/`],
      ['GET', `v1/integrations/apps-instances/test-connectivity/${UNKNOWN}/`],
      ['GET', `v1/integrations/app-actions/${UNKNOWN}/`],
      ['GET', 'v1/integrations/apps/download/no_such_app_1_0_0/'],
      ['GET', `v1/playbook/export/${UNKNOWN}/`],
      ['GET', `v1/playbook/playbook-result/${UNKNOWN}/`],
      ['GET', `v1/playbook/node-results/${UNKNOWN}/`],
      ['GET', `v1/playbook/playbook-result/export/${UNKNOWN}/?field=initial_params`],
      ['GET', `v1/playbook/node-results/export/${UNKNOWN}/?field=result`],
      ['GET', `v1/custom-templates/${UNKNOWN}/`],
      ['GET', `v1/code-snippets/${UNKNOWN}/`],
      ['GET', `v1/storage-manager/${UNKNOWN}/`],
      ['PUT', `v1/storage-manager/${UNKNOWN}/`, { title: 'x' }],
      ['PUT', `v1/storage-manager/${UNKNOWN}/`, { is_removed: true }],
      ['GET', `v1/storage-manager/${UNKNOWN}/playbooks/`],
      ['GET', `v1/storage-manager/${UNKNOWN}/playbook-count/`],
      ['GET', `v1/events/${UNKNOWN}/`],
      ['GET', `v1/events/export/${UNKNOWN}/?field=data`],
      ['GET', `v1/tags/${UNKNOWN}/`],
      ['POST', 'v1/playbook/run/', { playbook_unique_id: UNKNOWN }],
      ['POST', 'v1/playbook/run/', { playbook_unique_id: ids.playbook, event: UNKNOWN }],
      ['POST', 'v1/playbook/run/', { playbook_unique_id: ids.playbook, runLog: UNKNOWN }],
      ['POST', 'v1/integrations/app-instances/', { title: 'x', app_unique_id: UNKNOWN }],
    ];
    const failures: string[] = [];
    for (const [method, path, body] of routes) {
      const [p, q] = path.split('?');
      const query = Object.fromEntries(new URLSearchParams(q ?? ''));
      const r = method === 'GET' ? await api.get(p!, query) : await api.send(method, p!, body, query);
      if (r.status !== 404 || !/_NOT_FOUND$/.test(String(o(r.body).code)))
        failures.push(`${method} ${path}: ${r.status} ${r.text}`);
      else assertOpenError(r, 404, /_NOT_FOUND$/);
    }
    assert.deepEqual(failures, []);
  });

  it('answers 400 naming the field for wrong types in bodies', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', 'v1/playbook/run/', { playbook_unique_id: 5 }, 'playbook_unique_id'],
      ['POST', 'v1/playbook/run/', { playbook_unique_id: ids.playbook, data: 'str' }, 'data'],
      ['POST', 'v1/playbook/run/', { playbook_unique_id: ids.playbook, event: 7 }, 'event'],
      ['POST', 'v1/playbook/run/', { playbook_unique_id: ids.playbook, runLog: ['x'] }, 'runLog'],
      [
        'POST',
        'v1/webhooks/data-labels/',
        { labels: 'x', app_identifier: 'CTIX', action_identifier: 'a' },
        'labels',
      ],
      [
        'POST',
        'v1/events/',
        { title: 'x', app_identifier: 'CTIX', action_identifier: 'a', data: 'str' },
        'data',
      ],
      ['POST', 'v2/events/', { title: 5, app_identifier: 'CTIX', action_identifier: 'a' }, 'title'],
      ['POST', 'v1/integrations/app-instances/', { title: 5, app_unique_id: UNKNOWN }, 'title'],
      [
        'POST',
        'v1/integrations/actions/execute/',
        { app_identifier: 'http', action_identifier: 'request', action_params: 'x', app_instance_slug: 'y' },
        'action_params',
      ],
      ['POST', 'v1/storage-manager/', { title: 5 }, 'title'],
      ['POST', 'v1/storage-manager/', { title: 'x', storage_manager_data: 'x' }, 'storage_manager_data'],
      ['PUT', `v1/storage-manager/${ids.list}/`, { is_removed: 'maybe' }, 'is_removed'],
      [
        'POST',
        'v1/playbook/playbook-result/bulk-terminate/',
        { playbook_result_unique_ids: 'x' },
        'playbook_result_unique_ids',
      ],
    ];
    for (const [method, path, body, field] of cases) {
      const r = await api.send(method, path, body);
      assertOpenError(r, 400, /^(INVALID_ARGUMENT|UNKNOWN_FIELD)$/, field);
    }
    const hook = await sendJson(hookUrl('events/', ''), {
      title: 5,
      app_identifier: 'a',
      action_identifier: 'b',
    });
    assertOpenError(hook, 400, 'INVALID_ARGUMENT', 'title');
  });

  it('answers 413 to a body over the server body limit, and stores nothing', async () => {
    const limit = t.config.bodyLimit;
    const blob = 'x'.repeat(limit);
    const events = async (): Promise<number> => ((await api.get('v1/events/')).body as Paged).count;
    const runs = async (): Promise<number> =>
      ((await api.get('v1/playbook/playbook-result/')).body as Paged).count;
    const [eventsBefore, runsBefore] = [await events(), await runs()];
    const big = [
      ['v1/events/', { title: 'big', app_identifier: 'CTIX', action_identifier: 'a', data: { blob } }],
      ['v2/events/', { title: 'big', app_identifier: 'CTIX', action_identifier: 'a', data: { blob } }],
      ['v1/playbook/run/', { playbook_unique_id: ids.playbook, data: { blob } }],
      ['v1/storage-manager/', { title: 'big', storage_manager_data: { data: { blob } } }],
    ] as const;
    for (const [path, body] of big) {
      assert.ok(Buffer.byteLength(JSON.stringify(body)) > limit);
      assertOpenError(await api.post(path, body), 413, 'PAYLOAD_TOO_LARGE', 'body');
    }
    const hook = await sendJson(hookUrl('events/', ''), {
      title: 'big',
      app_identifier: 'a',
      action_identifier: 'b',
      data: { blob },
    });
    assertOpenError(hook, 413, 'PAYLOAD_TOO_LARGE', 'body');
    assert.equal(await events(), eventsBefore);
    assert.equal(await runs(), runsBefore);
  });

  it('answers 400 to page=0, page_size=5000, a bad categorize_by, 101 ids to terminate and missing query fields', async () => {
    const paged = [
      'v1/integrations/apps/',
      'v1/integrations/app-instances/',
      'v1/integrations/app-actions/',
      'v1/playbook/',
      'v1/playbook/filter/',
      'v1/playbook/playbook-result/',
      'v1/custom-templates/',
      'v1/code-snippets/',
      'v1/storage-manager/',
      'v1/storage-manager/slugs/',
      'v1/events/',
      'v1/tags/',
    ];
    for (const path of paged) {
      assertOpenError(await api.get(path, { page: '0' }), 400, 'INVALID_ARGUMENT', 'page');
      assertOpenError(await api.get(path, { page_size: '5000' }), 400, 'INVALID_ARGUMENT', 'page_size');
    }
    assertOpenError(
      await api.get('v1/analytics/data-source/', { categorize_by: 'most_loved_playbooks' }),
      400,
      'INVALID_ARGUMENT',
      'categorize_by',
    );
    assertOpenError(await api.get('v1/analytics/data-source/'), 400, 'INVALID_ARGUMENT', 'categorize_by');
    const many = Array.from({ length: 101 }, () => randomUUID());
    assertOpenError(
      await api.post('v1/playbook/playbook-result/bulk-terminate/', { playbook_result_unique_ids: many }),
      400,
      'INVALID_ARGUMENT',
      'playbook_result_unique_ids',
    );
    assert.equal(
      (
        await api.post('v1/playbook/playbook-result/bulk-terminate/', {
          playbook_result_unique_ids: many.slice(0, 100),
        })
      ).status,
      200,
      '100 is allowed',
    );
    assertOpenError(
      await api.get('v1/playbook/playbook-result/filter/'),
      400,
      'INVALID_ARGUMENT',
      'playbook',
    );
    assertOpenError(
      await api.get('v1/playbook/playbook-result/', { status: 'DONE' }),
      400,
      'INVALID_ARGUMENT',
      'status',
    );
    const runs = ((await api.get('v1/playbook/playbook-result/', { page_size: '1' })).body as Paged).results;
    assertOpenError(
      await api.get(`v1/playbook/playbook-result/export/${String(runs[0]!.unique_id)}/`),
      400,
      'INVALID_ARGUMENT',
      'field',
    );
    assertOpenError(
      await api.get(`v1/events/export/${ids.seedEvent}/`, { field: 'title' }),
      400,
      'INVALID_ARGUMENT',
      'field',
    );
  });
});
