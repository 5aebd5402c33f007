import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';

/**
 * A child run that ends while its parent is parking on it must still wake the parent at once (not
 * at its five-minute recheck). Many short children make the two moments meet.
 */
describe('call_workflow: a child ending as its parent parks', () => {
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

  async function publish(yaml: string): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    const id = (res.json() as { workflow: { id: string } }).workflow.id;
    assert.equal(
      (await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish`, payload: {} })).statusCode,
      200,
    );
    return id;
  }

  it('every parent resumes within seconds of its child', async () => {
    await publish('name: Kid\ntrigger: { type: nested }\nsteps:\n  - id: s\n    kind: exit\n    output: 1\n');
    const parent = await publish(
      'name: Parent\ntrigger: { type: on_demand }\nsteps:\n  - id: c\n    kind: call_workflow\n    workflow: Kid\n',
    );
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const res = await t.request({ method: 'POST', url: `/v1/workflows/${parent}/executions`, payload: {} });
      assert.equal(res.statusCode, 201, res.body);
      ids.push((res.json() as { execution_id: string }).execution_id);
      await new Promise((r) => setTimeout(r, 25));
    }
    let stuck: { id: string; status: string }[] = [];
    for (let i = 0; i < 100; i++) {
      stuck = await t.db.rows<{ id: string; status: string }>(
        `SELECT id, status FROM executions WHERE id = ANY($1::uuid[]) AND status <> 'succeeded'`,
        [ids],
      );
      if (stuck.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(stuck, [], 'parents still waiting on children that ended');
  });
});
