import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';

/** After a run resumes, steps nested in a finished if, switch or parallel are still visible. */
describe('replay: nested step outputs survive a resume', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('restores the outputs of the branch an if, a switch and a parallel took', async () => {
    const yaml = [
      'name: Replay nested',
      'trigger: { type: on_demand }',
      'steps:',
      '  - id: pick',
      '    kind: if',
      '    condition: "{{ true }}"',
      '    then: [{ id: x, kind: transform, value: 5 }]',
      '  - id: par',
      '    kind: parallel',
      '    branches:',
      '      - { name: a, steps: [{ id: pa, kind: transform, value: 1 }] }',
      '      - { name: b, steps: [{ id: pb, kind: transform, value: 2 }] }',
      '  - id: sw',
      '    kind: switch',
      '    cases: [{ name: one, when: "{{ true }}", steps: [{ id: sx, kind: transform, value: 3 }] }]',
      '  - { id: pause, kind: wait, duration: 1s }',
      '  - id: done',
      '    kind: exit',
      '    output: { x: "{{ $.x }}", pa: "{{ $.pa }}", pb: "{{ $.pb }}", sx: "{{ $.sx }}" }',
    ].join('\n');
    const created = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(created.statusCode, 201, created.body);
    const id = (created.json() as { workflow: { id: string } }).workflow.id;
    const run = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions`,
      payload: { revision: 'current' },
    });
    const executionId = (run.json() as { execution_id: string }).execution_id;
    const worker = testWorker(t);
    await worker.runUntilIdle();
    await new Promise((r) => setTimeout(r, 1100));
    await worker.runUntilIdle();
    const done = await t.request({ method: 'GET', url: `/v1/executions/${executionId}` });
    const execution = (done.json() as { execution: { status: string; output: unknown } }).execution;
    assert.equal(execution.status, 'succeeded', done.body);
    assert.deepEqual(execution.output, { x: 5, pa: 1, pb: 2, sx: 3 });
  });
});
