import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';

interface Execution {
  id: string;
  status: string;
  output: unknown;
  trigger: Record<string, unknown>;
  error: { code: string; message: string; step_id?: string } | null;
  steps: { key: string; status: string; attempt: number; output: unknown }[];
}

describe('call_workflow: timeout and retry', () => {
  let t: TestApp;
  let worker: Worker;

  before(async () => {
    t = await startTestApp();
    worker = testWorker(t, { pollMs: 50, concurrency: 4 });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await t.close();
  });

  async function create(yaml: string): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    const id = (res.json() as { workflow: { id: string } }).workflow.id;
    const pub = await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish` });
    assert.equal(pub.statusCode, 200, pub.body);
    return id;
  }
  async function runToEnd(id: string, inputs: unknown = {}): Promise<Execution> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions`,
      payload: { inputs },
    });
    assert.equal(res.statusCode, 201, res.body);
    return finished((res.json() as { execution_id: string }).execution_id);
  }
  async function finished(id: string): Promise<Execution> {
    const deadline = Date.now() + 40_000;
    for (;;) {
      const e = (
        (await t.request({ method: 'GET', url: `/v1/executions/${id}` })).json() as { execution: Execution }
      ).execution;
      if (['succeeded', 'failed', 'cancelled'].includes(e.status)) return e;
      assert.ok(Date.now() < deadline, `execution ${id} still ${e.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('cancels a child that outlives the step timeout and fails the step with STEP_TIMEOUT', async () => {
    await create(`name: Slow child
trigger: { type: nested }
steps:
  - id: nap
    kind: wait
    duration: 1h
`);
    const parent = await create(`name: Impatient parent
trigger: { type: on_demand }
steps:
  - id: call
    kind: call_workflow
    workflow: Slow child
    timeout: 1s
`);
    const started = Date.now();
    const e = await runToEnd(parent);
    assert.equal(e.status, 'failed', JSON.stringify(e.error));
    assert.equal(e.error?.code, 'STEP_TIMEOUT');
    assert.equal(e.error?.step_id, 'call');
    assert.ok(Date.now() - started < 30_000, 'the parent woke at its timeout, not at the 5-minute recheck');
    const call = e.steps.find((s) => s.key === 'call')!;
    const childId = (call.output as { execution_id: string } | null)?.execution_id;
    const child = childId
      ? await t.db.one<{ status: string }>('SELECT status FROM executions WHERE id = $1', [childId])
      : await t.db.one<{ status: string }>(`SELECT status FROM executions WHERE parent_execution_id = $1`, [
          e.id,
        ]);
    assert.equal(child?.status, 'cancelled');
  });

  it('starts a fresh child for each retry attempt, then records the failure', async () => {
    await create(`name: Flaky child
trigger: { type: nested }
steps:
  - id: broken
    kind: exit
    status: failure
    output: { fine: false }
`);
    const parent = await create(`name: Persistent parent
trigger: { type: on_demand }
steps:
  - id: call
    kind: call_workflow
    workflow: Flaky child
    retry: { max_attempts: 3 }
    on_error: continue
`);
    const e = await runToEnd(parent);
    // The child always fails, so all three attempts run, then the error is recorded.
    assert.equal(e.status, 'succeeded');
    const call = e.steps.find((s) => s.key === 'call')!;
    assert.equal(call.status, 'failed');
    assert.equal(call.attempt, 3);
    assert.equal((call.output as { error: { code: string } }).error.code, 'CHILD_FAILED');
    const children = await t.db.rows<{ status: string; trigger: Record<string, unknown> }>(
      'SELECT status, trigger FROM executions WHERE parent_execution_id = $1 ORDER BY created_at',
      [e.id],
    );
    assert.deepEqual(
      children.map((c) => c.status),
      ['failed', 'failed', 'failed'],
    );
    assert.deepEqual(
      children.map((c) => c.trigger.attempt ?? 1),
      [1, 2, 3],
    );
  });
});
