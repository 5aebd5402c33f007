import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Worker } from '../src/engine/worker.js';
import { startTestApp, type TestApp } from './helpers/app.js';

interface Entry {
  id: string;
  type: string;
  timestamp: string;
  workflow_id: string;
  execution_id: string;
  status: string;
  step_id?: string;
  event: { id: string; timestamp: string; type: string; body?: string };
}
interface Page {
  activity_logs: Entry[];
  next_page_token?: string;
}

describe('activity logs', () => {
  let t: TestApp;
  let first: string;
  let second: string;
  before(async () => {
    t = await startTestApp();
    const make = async (name: string): Promise<string> => {
      const yaml = `name: ${name}\ntrigger: { type: on_demand }\nsteps:\n  - { id: echo, kind: transform, value: "{{ $.event }}" }\n  - { id: done, kind: exit }\n`;
      const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
      return (res.json() as { workflow: { id: string } }).workflow.id;
    };
    first = await make('First');
    second = await make('Second');
    for (let i = 0; i < 4; i++) {
      await t.request({
        method: 'POST',
        url: `/v1/workflows/${first}/executions`,
        payload: { inputs: { alert: `phishing-${i}`, host: 'mail01' } },
      });
    }
    await t.request({
      method: 'POST',
      url: `/v1/workflows/${second}/executions`,
      payload: { inputs: { alert: 'malware', host: 'db07' } },
    });
    await new Worker({
      db: t.db,
      executor: t.services.executor,
      logger: pino({ level: 'silent' }),
    }).runUntilIdle();
  });
  after(() => t.close());

  async function page(url: string): Promise<Page> {
    const res = await t.request({ method: 'GET', url });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Page;
  }

  it("lists a workflow's runs (the seed's /v1/activitylogs?workflowId=) with their executions", async () => {
    const runs = await page(`/v1/activitylogs?workflowId=${first}&activity_type=workflow_runs`);
    assert.equal(runs.activity_logs.length, 4);
    assert.ok(
      runs.activity_logs.every(
        (e) => e.workflow_id === first && e.type === 'workflow_run' && e.status === 'SUCCESS',
      ),
    );
    const latest = runs.activity_logs[0]!;
    assert.equal(JSON.parse(latest.event.body!).alert, 'phishing-3', 'newest first');
    // The seed's flow: take the execution id from the activity log, then fetch the execution.
    const exec = await t.request({ method: 'GET', url: `/v1/executions/${latest.execution_id}` });
    assert.equal((exec.json() as { execution: { status: string } }).execution.status, 'succeeded');
  });

  it('filters step executions, payload keywords and bodies, on the Torq surface too', async () => {
    const steps = await page(
      `/public/v1alpha/activity_logs?activity_type=step_executions&workflow_id=${second}`,
    );
    assert.deepEqual(steps.activity_logs.map((e) => e.step_id).sort(), ['done', 'echo']);
    const matched = await page(
      '/v1alpha/activity_logs?activity_type=workflow_runs&payload=MAIL01%20phishing-2',
    );
    assert.equal(matched.activity_logs.length, 1);
    assert.match(matched.activity_logs[0]!.event.body!, /phishing-2/);
    const bare = await page('/v1alpha/activity_logs?discard_body=true');
    assert.ok(bare.activity_logs.every((e) => e.event.body === undefined));
    const none = await page(
      `/v1alpha/activity_logs?end_time=${new Date(Date.now() - 3_600_000).toISOString()}`,
    );
    assert.equal(none.activity_logs.length, 0);
  });

  it('pages through everything in both orders without skipping or repeating', async () => {
    const everything = (await page('/v1alpha/activity_logs?page_size=500')).activity_logs;
    assert.equal(everything.length, 5 + 5 * 2, 'five runs and two steps each');
    for (const order of ['asc', 'desc']) {
      const ids: string[] = [];
      let token: string | undefined;
      let url = `/v1alpha/activity_logs?page_size=4&order=${order}`;
      do {
        const p = await page(url);
        ids.push(...p.activity_logs.map((e) => e.id));
        token = p.next_page_token;
        url = `/v1alpha/activity_logs?page_size=4&page_token=${encodeURIComponent(token ?? '')}`;
      } while (token);
      assert.equal(ids.length, everything.length, order);
      assert.equal(new Set(ids).size, ids.length, order);
    }
  });

  it('answers 400 naming the parameter, and 401 without credentials', async () => {
    for (const [query, field] of [
      ['page_size=501', 'page_size'],
      ['activity_type=everything', 'activity_type'],
      ['start_time=soon', 'start_time'],
      ['page_token=forged', 'page_token'],
      ['workflow_id=not-a-uuid', 'workflow_id'],
    ]) {
      const res = await t.request({ method: 'GET', url: `/v1/activitylogs?${query}` });
      assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
      assert.ok(
        (res.json() as { details: { field: string }[] }).details.some((d) => d.field === field),
        res.body,
      );
    }
    assert.equal(
      (await t.request({ method: 'GET', url: '/v1alpha/activity_logs', as: null })).statusCode,
      401,
    );
  });
});
