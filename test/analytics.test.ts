import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';
import { assertError } from './helpers/api.js';

type Series = { label: string; value: number }[];
type Ratio = { label: string; total_value: number; value: number };

const DAY_MS = 86_400_000;
const day = (ms: number): string =>
  new Date(ms).toLocaleDateString('en-US', {
    month: 'short',
    day: 'numeric',
    year: 'numeric',
    timeZone: 'UTC',
  });

const APP = 'Persistent lists 1.0.0';
const GET = 'Get a key lists_1_0_0';
const PUT = 'Set a key lists_1_0_0';
const CONTAINS = 'Check a key lists_1_0_0';
const NONE = 'lists (no integration)';

/**
 * The thirteen dashboard metrics, checked exactly against runs and events made here: "Alpha" runs
 * three times (one of them two days ago), the draft "Beta" once with a named integration, and the
 * event workflow "Gamma" fails once; four events, one two days old, three started nothing.
 */
describe('analytics', () => {
  let t: TestApp;
  let worker: Worker;
  const now = Date.now();
  const range = (fromDays: number) =>
    `start_time=${new Date(now - fromDays * DAY_MS).toISOString()}&end_time=${new Date(now + 60_000).toISOString()}`;

  before(async () => {
    t = await startTestApp();
    worker = testWorker(t);
    await ok(call('POST', '/v1/integrations', { name: 'lists-main', app: 'lists' }), 201);
    await ok(call('POST', '/v1/lists', { title: 'kv' }), 201);
    const alpha = await workflow(
      'Alpha',
      'on_demand',
      [
        '- { id: put, kind: action, action: lists.put, with: { list: kv, key: a, value: 1 } }',
        '- { id: get, kind: action, action: lists.get, with: { list: kv, key: a } }',
      ],
      true,
    );
    const beta = await workflow(
      'Beta',
      'on_demand',
      [
        '- { id: get, kind: action, action: lists.get, integration: lists-main, with: { list: kv, key: a } }',
        '- { id: has, kind: action, action: lists.contains, with: { list: kv, key: a, value: 1 } }',
      ],
      false,
    );
    await workflow('Gamma', 'event, labels: [alarm]', ['- { id: done, kind: exit, status: failure }'], true);
    const alphaRuns = [];
    for (let i = 0; i < 3; i++) alphaRuns.push(await start(alpha));
    const betaRun = await start(beta, 'current');
    const raise = (title: string, app: string, labels: string[] = []) =>
      ok<{ event: { id: string; execution_ids: string[] } }>(
        call('POST', '/v1/events', { title, app_identifier: app, action_identifier: 'alert', labels }),
        201,
      );
    const alarm = await raise('Alarm', 'splunk', ['alarm']);
    const old = await raise('Old', 'splunk');
    await raise('Quiet', 'splunk');
    await raise('Detection', 'crowdstrike');
    await worker.runUntilIdle();
    const gammaRun = alarm.event.execution_ids[0]!;

    // Exact durations (2, 4, 6 s; 1.5 s; 0.25 s), and one run and one event two days back.
    const durations: [string, number][] = [
      ...alphaRuns.map((id, i): [string, number] => [id, 2 * (i + 1)]),
      [betaRun, 1.5],
      [gammaRun, 0.25],
    ];
    for (const [id, seconds] of durations)
      await t.db.exec(
        `UPDATE executions SET started_at = created_at, finished_at = created_at + make_interval(secs => $2)
          WHERE id = $1 AND status IN ('succeeded', 'failed')`,
        [id, seconds],
      );
    await t.db.exec(`UPDATE executions SET created_at = now() - interval '2 days' WHERE id = $1`, [
      alphaRuns[0],
    ]);
    await t.db.exec(`UPDATE events SET created_at = now() - interval '2 days' WHERE id = $1`, [old.event.id]);
  });
  after(() => t.close());

  const call = (method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>, as?: KeyPair) =>
    t.request({ method, url, ...(payload && { payload }), ...(as && { as }) });
  async function ok<T>(res: Promise<LightMyRequestResponse>, status = 200): Promise<T> {
    const r = await res;
    assert.equal(r.statusCode, status, r.body);
    return r.json() as T;
  }
  async function workflow(name: string, trigger: string, steps: string[], publish: boolean, as?: KeyPair) {
    const yaml = `name: ${name}\ntrigger: { type: ${trigger} }\nsteps:\n${steps.map((s) => `  ${s}`).join('\n')}\n`;
    const { workflow: w } = await ok<{ workflow: { id: string } }>(
      call('POST', '/v1/workflows', { yaml }, as),
      201,
    );
    if (publish) await ok(call('POST', `/v1/workflows/${w.id}/publish`, {}, as));
    return w.id;
  }
  async function start(id: string, revision = 'published', as?: KeyPair): Promise<string> {
    const res = await ok<{ execution_id: string }>(
      call('POST', `/v1/workflows/${id}/executions`, { revision }, as),
      201,
    );
    return res.execution_id;
  }
  async function metric<T = Series>(name: string, query: string, as?: KeyPair): Promise<T> {
    const body = await ok<{ metric: string; data: T }>(
      call('GET', `/v1/analytics/${name}?${query}`, undefined, as),
    );
    assert.equal(body.metric, name);
    return body.data;
  }

  it('counts runs and events per day, and only those in the range', async () => {
    assert.deepEqual(await metric('playbook_run_count', range(3)), [
      { label: day(now - 2 * DAY_MS), value: 1 },
      { label: day(now), value: 4 },
    ]);
    assert.deepEqual(await metric('playbook_run_count', range(1)), [{ label: day(now), value: 4 }]);
    assert.deepEqual(await metric('event_count', range(3)), [
      { label: day(now - 2 * DAY_MS), value: 1 },
      { label: day(now), value: 3 },
    ]);
    assert.deepEqual(await metric('event_count', range(1)), [{ label: day(now), value: 3 }]);
  });

  it('ranks workflows by runs and by average run time', async () => {
    assert.deepEqual(await metric('most_active_playbooks', range(3)), [
      { label: 'Alpha', value: 3 },
      { label: 'Beta', value: 1 },
      { label: 'Gamma', value: 1 },
    ]);
    assert.deepEqual(await metric('most_active_playbooks', range(1)), [
      { label: 'Alpha', value: 2 },
      { label: 'Beta', value: 1 },
      { label: 'Gamma', value: 1 },
    ]);
    assert.deepEqual(await metric('playbook_avg_execution_time', range(3)), [
      { label: 'Alpha', value: 4 },
      { label: 'Beta', value: 1.5 },
      { label: 'Gamma', value: 0.25 },
    ]);
    assert.deepEqual(
      (await metric('playbook_avg_execution_time', range(1))).find((s) => s.label === 'Alpha'),
      { label: 'Alpha', value: 5 },
      'the run from two days ago is out of the range',
    );
  });

  it('counts the workflows that use each app, action and integration (published, else the draft)', async () => {
    assert.deepEqual(await metric('most_used_apps', range(3)), [{ label: APP, value: 2 }]);
    assert.deepEqual(await metric('most_used_actions', range(3)), [
      { label: GET, value: 2 },
      { label: CONTAINS, value: 1 },
      { label: PUT, value: 1 },
    ]);
    assert.deepEqual(await metric('most_used_instances', range(3)), [
      { label: NONE, value: 2 },
      { label: 'lists-main', value: 1 },
    ]);
  });

  it('counts the action steps run, per app, action and integration, in the range', async () => {
    assert.deepEqual(await metric('most_active_apps', range(3)), [{ label: APP, value: 8 }]);
    assert.deepEqual(await metric('most_active_actions', range(3)), [
      { label: GET, value: 4 },
      { label: PUT, value: 3 },
      { label: CONTAINS, value: 1 },
    ]);
    assert.deepEqual(await metric('most_active_actions', range(1)), [
      { label: GET, value: 3 },
      { label: PUT, value: 2 },
      { label: CONTAINS, value: 1 },
    ]);
    assert.deepEqual(await metric('most_active_instances', range(3)), [
      { label: NONE, value: 7 },
      { label: 'lists-main', value: 1 },
    ]);
  });

  it('counts events by source app, unprocessed and with a failed run', async () => {
    assert.deepEqual(await metric('incoming_source_of_events', range(3)), [
      { label: 'splunk', value: 3 },
      { label: 'crowdstrike', value: 1 },
    ]);
    assert.deepEqual(await metric('incoming_source_of_events', range(1)), [
      { label: 'splunk', value: 2 },
      { label: 'crowdstrike', value: 1 },
    ]);
    assert.deepEqual(await metric<Ratio>('unprocessed_events', range(3)), {
      label: 'Percentage of Unprocessed Events',
      total_value: 4,
      value: 3,
    });
    assert.deepEqual(await metric<Ratio>('events_with_error', range(3)), {
      label: 'Events Giving Error',
      total_value: 4,
      value: 1,
    });
    assert.deepEqual(await metric<Ratio>('events_with_error', range(1)), {
      label: 'Events Giving Error',
      total_value: 3,
      value: 1,
    });
  });

  it('defaults to the last 30 days, lets every role read, and refuses a bad metric or range by field', async () => {
    const body = await ok<{ start_time: string; end_time: string; data: Series }>(
      call('GET', '/v1/analytics/most_active_playbooks'),
    );
    assert.equal(Date.parse(body.end_time) - Date.parse(body.start_time), 30 * DAY_MS);
    assert.equal(body.data.length, 3);
    for (const role of ['viewer', 'operator', 'creator', 'contributor'])
      assert.deepEqual(await metric('most_used_apps', range(3), await t.keyWithRole(role)), [
        { label: APP, value: 2 },
      ]);
    const get = (url: string) => call('GET', url);
    assertError(await get('/v1/analytics/most_loved_apps'), 400, 'INVALID_ARGUMENT', 'metric', {
      messageNamesField: false,
    });
    assertError(
      await get('/v1/analytics/event_count?start_time=yesterday'),
      400,
      'INVALID_ARGUMENT',
      'start_time',
      {
        messageNamesField: false,
      },
    );
    const backwards = `start_time=${new Date(now).toISOString()}&end_time=${new Date(now - DAY_MS).toISOString()}`;
    assertError(await get(`/v1/analytics/event_count?${backwards}`), 400, 'INVALID_TIME_RANGE', 'end_time', {
      messageNamesField: false,
    });
  });

  it('keeps workspaces apart, and counts a step copied into a retry as run once', async () => {
    const made = await ok<{ api_key: KeyPair }>(call('POST', '/v1alpha/workspaces', { name: 'analytics-b' }));
    const b = made.api_key;
    await ok(call('POST', '/v1/lists', { title: 'kv' }, b), 201);
    const id = await workflow(
      'Retry me',
      'on_demand',
      [
        '- { id: put, kind: action, action: lists.put, with: { list: kv, key: k, value: 1 } }',
        '- { id: read, kind: action, action: lists.get, with: { list: no_such_list, key: k } }',
      ],
      true,
      b,
    );
    const first = await start(id, 'published', b);
    await worker.runUntilIdle();
    await ok(call('POST', `/v1/executions/${first}/retry`, { from: 'failed_step' }, b), 201);
    await worker.runUntilIdle();
    assert.deepEqual(await metric('most_active_playbooks', range(1), b), [{ label: 'Retry me', value: 2 }]);
    assert.deepEqual(await metric<Ratio>('unprocessed_events', range(1), b), {
      label: 'Percentage of Unprocessed Events',
      total_value: 0,
      value: 0,
    });
    // The retry copied "put" from the first run and did not run it again.
    assert.deepEqual(await metric('most_active_actions', range(1), b), [
      { label: GET, value: 2 },
      { label: PUT, value: 1 },
    ]);
  });
});
