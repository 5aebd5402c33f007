import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';
import { sign } from './helpers/orchestrate.js';

interface Paged {
  count: number;
  link: { next: string | null; previous: string | null };
  results: Record<string, unknown>[];
}

/** Source events end to end: a configured trigger, a labelled workflow, the webhook URL, run logs. */
describe('Orchestrate Open API: events, webhooks and run logs', () => {
  let t: TestApp;
  let worker: Worker;
  const open = (path: string, query = ''): string => `/soarapi/openapi/${path}?${sign(t.owner)}${query}`;

  before(async () => {
    t = await startTestApp();
    worker = testWorker(t, { pollMs: 20, concurrency: 10 });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await t.close();
  });

  async function publish(yaml: string): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    const id = (res.json() as { workflow: { id: string } }).workflow.id;
    const pub = await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish`, payload: {} });
    assert.equal(pub.statusCode, 200, pub.body);
    return id;
  }

  async function runLog(
    id: string,
    until: (r: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>> {
    for (let i = 0; i < 200; i++) {
      const res = await t.app.inject({ method: 'GET', url: open(`v1/playbook/playbook-result/${id}/`) });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as Record<string, unknown>;
      if (until(body)) return body;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`run ${id} did not reach the state`);
  }

  it('an event raised through the webhook URL runs the labelled workflow, shown in the run logs', async () => {
    const workflowId = await publish(
      [
        'name: Enrich submitted IP',
        'trigger:',
        '  type: event',
        '  labels: [ip-submitted]',
        'steps:',
        '  - id: pick',
        '    kind: transform',
        '    value: "{{ $.event.data.ip }}"',
        '  - id: verdict',
        '    kind: if',
        '    condition: "{{ $.pick = \'203.0.113.9\' }}"',
        '    then:',
        '      - id: bad',
        '        kind: transform',
        '        value: malicious',
      ].join('\n'),
    );
    const trigger = await t.app.inject({
      method: 'POST',
      url: open('v1/webhooks/data-labels/'),
      payload: { labels: ['ip-submitted'], app_identifier: 'CTIX', action_identifier: 'ctix_submission' },
    });
    assert.equal(trigger.statusCode, 201, trigger.body);
    const tb = trigger.json() as { labels: string[]; labels_data: { title: string }[]; is_active: boolean };
    assert.deepEqual(tb.labels, ['ip-submitted']);
    assert.equal(tb.labels_data[0]?.title, 'ip-submitted');

    const hook = await t.request({ method: 'POST', url: '/v1/event-webhooks', payload: { title: 'CTIX' } });
    assert.equal(hook.statusCode, 201, hook.body);
    const { token, url } = (hook.json() as { webhook: { token: string; url: string } }).webhook;
    assert.match(url, /\/soarapi\/webhooks_auth\/events\/\?token=/);

    const ping = await t.app.inject({
      method: 'GET',
      url: `/soarapi/webhooks_auth/events/test_connectivity/?token=${token}`,
    });
    assert.deepEqual(ping.json(), { status: 'ok' });

    const raised = await t.app.inject({
      method: 'POST',
      url: `/soarapi/webhooks_auth/events/CTIX/ctix_submission/?token=${token}`,
      payload: { title: 'IP submitted', data: { ip: '203.0.113.9' } },
    });
    assert.equal(raised.statusCode, 201, raised.body);
    const event = raised.json() as {
      unique_id: string;
      readable_id: string;
      source: string;
      labels: string[];
      processed: boolean;
      playbook_result_unique_ids: string[];
    };
    assert.match(event.readable_id, /^TE[0-9a-f-]{10}$/);
    assert.equal(event.source, 'Webhooks');
    assert.deepEqual(event.labels, ['ip-submitted']);
    assert.equal(event.processed, true);
    assert.equal(event.playbook_result_unique_ids.length, 1);

    const runId = event.playbook_result_unique_ids[0]!;
    const detail = await runLog(runId, (r) => r.status === 'SUCCESS');
    assert.match(String(detail.readable_id), /^RL/);
    assert.equal((detail.playbook_data as { unique_id: string }).unique_id, workflowId);
    assert.equal((detail.event_data as { unique_id: string }).unique_id, event.unique_id);
    assert.equal(detail.source, 'Event');
    const nodes = detail.nodes_results as {
      unique_id: string;
      status: string;
      result: unknown;
      node_data: { type: string; internal_id: string; sub_type: string };
    }[];
    assert.deepEqual(
      nodes.map((n) => [n.node_data.internal_id, n.node_data.type, n.status]),
      [
        ['start', 'START', 'SUCCESS'],
        ['1', 'REGULAR', 'SUCCESS'],
        ['2', 'REGULAR', 'SUCCESS'],
        ['3', 'REGULAR', 'SUCCESS'],
      ],
    );
    assert.equal(nodes[1]!.result, '203.0.113.9');
    assert.equal(nodes[3]!.result, 'malicious');
    assert.equal(nodes[2]!.node_data.sub_type, 'EXPRESSION_BASED');
    const one = await t.app.inject({
      method: 'GET',
      url: open(`v1/playbook/node-results/${nodes[3]!.unique_id}/`),
    });
    assert.equal(one.statusCode, 200, one.body);
    assert.equal((one.json() as { result: unknown }).result, 'malicious');

    const listed = (
      await t.app.inject({
        method: 'GET',
        url: open('v1/playbook/playbook-result/filter/', `&playbook=${workflowId}`),
      })
    ).json() as Paged;
    assert.equal(listed.count, 1);
    assert.equal(listed.results[0]!.unique_id, runId);

    const events = (
      await t.app.inject({ method: 'GET', url: open('v1/events/', '&labels=ip-submitted') })
    ).json() as Paged;
    assert.equal(events.count, 1);
    assert.equal(events.results[0]!.unique_id, event.unique_id);
  });

  it('bulk terminate stops waiting runs and reports the rest', async () => {
    const workflowId = await publish(
      [
        'name: Waits',
        'trigger:',
        '  type: on_demand',
        'steps:',
        '  - id: hold',
        '    kind: wait',
        '    duration: 1h',
      ].join('\n'),
    );
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await t.app.inject({
        method: 'POST',
        url: open('v1/playbook/run/'),
        payload: { playbook_unique_id: workflowId, data: { n: i } },
      });
      assert.equal(run.statusCode, 200, run.body);
      ids.push((run.json() as { playbook_result_unique_id: string }).playbook_result_unique_id);
    }
    for (const id of ids) await runLog(id, (r) => r.status === 'WAITING');
    const done = await t.app.inject({
      method: 'POST',
      url: open('v1/playbook/playbook-result/bulk-terminate/'),
      payload: { playbook_result_unique_ids: [...ids, '00000000-0000-4000-8000-000000000000'] },
    });
    assert.equal(done.statusCode, 200, done.body);
    const body = done.json() as { terminated: string[]; skipped: { id: string }[] };
    assert.deepEqual(body.terminated.sort(), [...ids].sort());
    assert.equal(body.skipped.length, 1);
    for (const id of ids) await runLog(id, (r) => r.status === 'TERMINATED');
  });
});
