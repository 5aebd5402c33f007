import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';

interface Execution {
  id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string } | null;
  steps: { key: string; step_id: string; status: string; input: unknown; output: unknown }[];
}

/**
 * The engine parts of the seed's "copy a workflow" flow: a workflow that, through Osprey's own API,
 * polls the activity log in a loop (waiting between polls, holding no worker) until a run of the
 * target workflow appears, then fetches that execution and reports its status and output.
 */
describe('watching for a workflow run through the activity log, as the seed flow does', () => {
  let t: TestApp;
  let worker: Worker;
  let base: string;

  before(async () => {
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    worker = testWorker(t, { pollMs: 50, concurrency: 2 });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await t.close();
  });

  const watcher = (): string => `name: Watch for the first run
trigger:
  type: on_demand
  inputs: { type: object, required: [workflow_id], properties: { workflow_id: { type: string } } }
steps:
  - id: poll
    kind: loop
    over: "{{ [1..30] }}"
    collect: "{{ $.check.api_object.activity_logs[0].execution_id }}"
    steps:
      - id: check
        kind: action
        action: http.request
        with:
          method: GET
          url: "${base}/v1/activity-logs?activity_type=workflow_runs&workflow_id={{ $.event.workflow_id }}"
          headers: { Authorization: "Bearer {{ $secrets.osprey_token }}" }
      - id: seen
        kind: break
        when: "{{ $count($.check.api_object.activity_logs) > 0 }}"
      - id: pause
        kind: wait
        duration: 1s
  - id: found
    kind: if
    condition: "{{ $type($.poll[-1]) != 'string' }}"
    then:
      - id: never
        kind: exit
        status: failure
        output: { error: "no run of the workflow appeared" }
  - id: details
    kind: action
    action: http.request
    with:
      method: GET
      url: "${base}/v1/executions/{{ $.poll[-1] }}"
      headers: { Authorization: "Bearer {{ $secrets.osprey_token }}" }
  - id: report
    kind: exit
    output:
      execution_id: "{{ $.details.api_object.execution.id }}"
      status: "{{ $.details.api_object.execution.status }}"
      output: "{{ $.details.api_object.execution.output }}"
      polls: "{{ $count($.poll) }}"
`;

  async function create(yaml: string): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { workflow: { id: string } }).workflow.id;
  }
  async function start(id: string, inputs: unknown): Promise<string> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions`,
      payload: { inputs, revision: 'current' },
    });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { execution_id: string }).execution_id;
  }
  async function finished(id: string, timeoutMs = 20_000): Promise<Execution> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await t.request({ method: 'GET', url: `/v1/executions/${id}` });
      const e = (res.json() as { execution: Execution }).execution;
      if (['succeeded', 'failed', 'cancelled'].includes(e.status)) return e;
      assert.ok(Date.now() < deadline, `execution ${id} still ${e.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('polls until the run appears, then reports its status and output', async () => {
    const secret = await t.request({
      method: 'POST',
      url: '/v1/secrets',
      payload: { name: 'osprey_token', value: await t.token() },
    });
    assert.equal(secret.statusCode, 201, secret.body);
    const target = await create(`name: Imported workflow
trigger: { type: on_demand }
steps:
  - id: done
    kind: exit
    output: { copied: true }
`);
    const watcherId = await create(watcher());
    const watch = await start(watcherId, { workflow_id: target });

    // The watcher parks between polls; the target's first run starts a little later.
    await new Promise((r) => setTimeout(r, 2500));
    const during = (await t.request({ method: 'GET', url: `/v1/executions/${watch}` })).json() as {
      execution: Execution;
    };
    assert.ok(['waiting', 'running'].includes(during.execution.status), during.execution.status);
    const targetRun = await start(target, {});

    const report = await finished(watch);
    assert.equal(report.status, 'succeeded', JSON.stringify(report.error));
    const out = report.output as { execution_id: string; status: string; output: unknown; polls: number };
    assert.equal(out.execution_id, targetRun);
    assert.equal(out.status, 'succeeded');
    assert.deepEqual(out.output, { copied: true });
    assert.ok(out.polls >= 2 && out.polls < 30, `polled ${out.polls} times`);
    const waits = report.steps.filter((s) => s.step_id === 'pause' && s.status === 'succeeded');
    assert.equal(waits.length, out.polls - 1, 'one wait between polls, none after the run appeared');
    // The bearer token never reaches the record.
    assert.ok(!JSON.stringify(report).includes(await t.token()));
  });

  it('fails clearly when no run appears before the loop ends', async () => {
    const target = await create(`name: Never runs
trigger: { type: on_demand }
steps:
  - id: done
    kind: exit
`);
    const short = watcher().replace('[1..30]', '[1..2]');
    const watch = await start(await create(short), { workflow_id: target });
    const report = await finished(watch);
    assert.equal(report.status, 'failed');
    assert.deepEqual(report.output, { error: 'no run of the workflow appeared' });
  });
});
