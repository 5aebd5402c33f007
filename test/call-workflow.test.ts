import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_CALL_DEPTH } from '../src/engine/steps/call-workflow.js';
import type { Worker } from '../src/engine/worker.js';
import { assertError } from './helpers/api.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';

interface StepRun {
  key: string;
  step_id: string;
  kind: string;
  status: string;
  input: unknown;
  output: unknown;
  error: { code: string; message: string } | null;
}

interface Execution {
  id: string;
  workflow_id: string;
  revision_id: string;
  status: string;
  trigger: Record<string, unknown>;
  input: unknown;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
  steps: StepRun[];
}

interface WorkflowView {
  id: string;
  current_revision_id: string;
  published_revision_id: string | null;
}

describe('call_workflow steps: running one workflow from another', () => {
  let t: TestApp;
  let worker: Worker;

  before(async () => {
    t = await startTestApp();
    worker = testWorker(t, { leaseMs: 2000, pollMs: 50 });
  });
  after(() => t.close());

  async function create(yaml: string, as: KeyPair = t.owner): Promise<WorkflowView> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml }, as });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { workflow: WorkflowView }).workflow;
  }
  async function publish(id: string, as: KeyPair = t.owner): Promise<WorkflowView> {
    const res = await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish`, as });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { workflow: WorkflowView }).workflow;
  }
  async function workflow(yaml: string, published = true): Promise<string> {
    const w = await create(yaml);
    if (published) await publish(w.id);
    return w.id;
  }
  async function run(id: string, inputs: unknown = {}, revision?: 'current' | 'published'): Promise<string> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions`,
      payload: { inputs, ...(revision ? { revision } : {}) },
    });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { execution_id: string }).execution_id;
  }
  async function get(id: string): Promise<Execution> {
    const res = await t.request({ method: 'GET', url: `/v1/executions/${id}` });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { execution: Execution }).execution;
  }
  async function runsOf(workflowId: string): Promise<Execution[]> {
    const res = await t.request({ method: 'GET', url: `/v1/executions?workflow_id=${workflowId}` });
    assert.equal(res.statusCode, 200, res.body);
    const list = (res.json() as { executions: Execution[] }).executions;
    return Promise.all(list.map((e) => get(e.id)));
  }
  function step(x: Execution, key: string): StepRun {
    const s = x.steps.find((r) => r.key === key);
    assert.ok(s, `step ${key} in ${JSON.stringify(x.steps.map((r) => r.key))}`);
    return s;
  }
  /** The step failed with `code` and the run failed with it, naming the step. */
  function failedWith(x: Execution, stepId: string, code: string): void {
    assert.equal(x.status, 'failed', JSON.stringify(x));
    assert.equal(x.error?.code, code, JSON.stringify(x.error));
    assert.equal(x.error?.step_id, stepId);
    assert.equal(step(x, stepId).status, 'failed');
    assert.equal(step(x, stepId).error?.code, code);
  }

  const ENRICH = (name: string, trigger = 'nested') => `name: ${name}
trigger:
  type: ${trigger}
  inputs: { type: object, required: [ip], properties: { ip: { type: string }, score: { type: number } } }
steps:
  - { id: facts, kind: transform, value: { ip: "{{ $.event.ip }}", score: "{{ $.event.score ? $.event.score : 0 }}" } }
  - { id: report, kind: exit, output: { ip: "{{ $.facts.ip }}", risky: "{{ $.facts.score > 50 }}" } }
`;

  it('sync: the parent parks holding no worker and takes the child exit output (by name)', async () => {
    const child = await workflow(ENRICH('Enrich child'));
    const parent = await workflow(`name: Enrich parent
trigger: { type: on_demand }
steps:
  - id: call
    kind: call_workflow
    workflow: Enrich child
    inputs: { ip: "{{ $.event.ip }}", score: "{{ $.event.score }}" }
  - { id: done, kind: exit, output: { child: "{{ $.call }}", risky: "{{ $.call.risky }}" } }
`);
    const e = await run(parent, { ip: '203.0.113.5', score: 80 });
    assert.equal(await worker.runOne(), true);
    const parked = await get(e);
    assert.equal(parked.status, 'waiting', JSON.stringify(parked.error));
    const call = step(parked, 'call');
    assert.equal(call.status, 'waiting');
    const childId = (call.output as { execution_id: string }).execution_id;
    assert.ok(childId);
    const row = await t.db.one<{ lease_owner: string | null }>(
      'SELECT lease_owner FROM executions WHERE id = $1',
      [e],
    );
    assert.equal(row?.lease_owner, null, 'the waiting parent holds no worker');
    const started = call.input as Record<string, unknown>;
    const childView = (await t.request({ method: 'GET', url: `/v1/workflows/${child}` })).json() as {
      workflow: WorkflowView;
    };
    assert.equal(started.workflow_id, child);
    assert.equal(started.revision_id, childView.workflow.published_revision_id);
    assert.equal(started.mode, 'sync');
    assert.deepEqual(started.inputs, { ip: '203.0.113.5', score: 80 });

    const c = await get(childId);
    assert.equal(c.workflow_id, child);
    assert.deepEqual(c.input, { ip: '203.0.113.5', score: 80 });
    assert.equal(c.trigger.type, 'workflow');
    assert.equal(c.trigger.parent_execution_id, e);
    assert.equal(c.trigger.depth, 1);

    assert.equal(await worker.runUntilIdle(), 2, 'the child runs, then the woken parent');
    const x = await get(e);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { child: { ip: '203.0.113.5', risky: true }, risky: true });
    assert.deepEqual(step(x, 'call').output, { ip: '203.0.113.5', risky: true });
    assert.equal((await get(childId)).status, 'succeeded');
    assert.equal((await runsOf(child)).length, 1, 'one child run');
  });

  it('calls a child by id', async () => {
    const child = await workflow(ENRICH('Enrich by id'));
    const parent = await workflow(`name: By id parent
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: "${child}", inputs: { ip: 192.0.2.10 } }
  - { id: done, kind: exit, output: "{{ $.call }}" }
`);
    const e = await run(parent);
    await worker.runUntilIdle();
    const x = await get(e);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { ip: '192.0.2.10', risky: false });
  });

  it('async: answers {execution_id} at once and the child runs on its own', async () => {
    const child = await workflow(ENRICH('Async child'));
    const parent = await workflow(`name: Async parent
trigger: { type: on_demand }
steps:
  - { id: fire, kind: call_workflow, workflow: Async child, mode: async, inputs: { ip: 198.51.100.3, score: 99 } }
  - { id: done, kind: exit, output: { started: "{{ $.fire.execution_id }}" } }
`);
    const e = await run(parent);
    assert.equal(await worker.runOne(), true);
    const x = await get(e);
    assert.equal(x.status, 'succeeded', 'the parent did not wait');
    const childId = (step(x, 'fire').output as { execution_id: string }).execution_id;
    assert.deepEqual(x.output, { started: childId });
    assert.equal(step(x, 'fire').status, 'succeeded');
    const queued = await get(childId);
    assert.equal(queued.status, 'queued');
    assert.equal(queued.trigger.type, 'workflow');
    assert.equal(queued.trigger.parent_execution_id, e);
    assert.equal(queued.trigger.depth, 1);
    await worker.runUntilIdle();
    const c = await get(childId);
    assert.equal(c.status, 'succeeded');
    assert.deepEqual(c.output, { ip: '198.51.100.3', risky: true });
    assert.equal((await runsOf(child)).length, 1);
  });

  it('fails the parent step with CHILD_FAILED when the child fails, or records it with on_error: continue', async () => {
    await workflow(`name: Failing child
trigger: { type: nested }
steps:
  - { id: bad_wait, kind: wait, until: "{{ 'not a time' }}" }
`);
    await workflow(`name: Exit failure child
trigger: { type: nested }
steps:
  - { id: nope, kind: exit, status: failure, output: { reason: denied } }
`);
    const strict = await workflow(`name: Strict parent
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: Failing child }
  - { id: never, kind: transform, value: 1 }
`);
    const lenient = await workflow(`name: Lenient parent
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: Exit failure child, on_error: continue }
  - { id: after, kind: exit, output: { code: "{{ $.call.error.code }}", message: "{{ $.call.error.message }}" } }
`);
    const s = await run(strict);
    const l = await run(lenient);
    await worker.runUntilIdle();
    const x = await get(s);
    failedWith(x, 'call', 'CHILD_FAILED');
    assert.match(x.error!.message, /INVALID_WAIT|RFC 3339/, 'the child error is in the message');
    assert.ok(!x.steps.some((r) => r.key === 'never'));
    const y = await get(l);
    assert.equal(y.status, 'succeeded', JSON.stringify(y.error));
    assert.equal((y.output as { code: string }).code, 'CHILD_FAILED');
    assert.equal(step(y, 'call').status, 'failed');
    assert.deepEqual(step(y, 'call').output, { error: step(y, 'call').error });
  });

  it('refuses children that cannot be called: CHILD_NOT_CALLABLE, CHILD_NOT_FOUND, CHILD_AMBIGUOUS', async () => {
    await workflow(`name: Hook child
trigger: { type: webhook }
steps: [{ id: only, kind: exit }]
`);
    // Two workflows may share a name.
    await workflow(`name: Twin
trigger: { type: on_demand }
steps: [{ id: only, kind: exit }]
`);
    await workflow(`name: Twin
trigger: { type: nested }
steps: [{ id: only, kind: exit }]
`);
    const parent = await workflow(
      `name: Bad calls
trigger: { type: on_demand }
steps:
  - { id: hook, kind: call_workflow, workflow: Hook child, on_error: continue }
  - { id: missing, kind: call_workflow, workflow: "{{ 'No such ' & 'workflow' }}", on_error: continue }
  - { id: twin, kind: call_workflow, workflow: "{{ 'Twin' }}", on_error: continue }
  - id: done
    kind: exit
    output: ["{{ $.hook.error.code }}", "{{ $.missing.error.code }}", "{{ $.twin.error.code }}"]
`,
    );
    const e = await run(parent);
    await worker.runUntilIdle();
    const x = await get(e);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, ['CHILD_NOT_CALLABLE', 'CHILD_NOT_FOUND', 'CHILD_AMBIGUOUS']);
    assert.match(step(x, 'hook').error!.message, /webhook/);
    assert.match(step(x, 'missing').error!.message, /No such workflow/);
    assert.match(step(x, 'twin').error!.message, /by id/);
  });

  it('does not find a workflow of another workspace by its id', async () => {
    const res = await t.request({ method: 'POST', url: '/v1alpha/workspaces', payload: { name: 'other' } });
    assert.equal(res.statusCode, 200, res.body);
    const other = (res.json() as { api_key: KeyPair }).api_key;
    const foreign = await create(ENRICH('Foreign child', 'on_demand'), other);
    await publish(foreign.id, other);
    const parent = await workflow(
      `name: Cross workspace
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: "{{ $.event.child }}", inputs: { ip: 192.0.2.1 } }
`,
    );
    const e = await run(parent, { child: foreign.id });
    await worker.runUntilIdle();
    failedWith(await get(e), 'call', 'CHILD_NOT_FOUND');
    assert.equal(
      (
        await t.db.one<{ n: number }>('SELECT count(*)::int AS n FROM executions WHERE workflow_id = $1', [
          foreign.id,
        ])
      )?.n,
      0,
    );
  });

  it('runs the child published revision from a published parent, its current revision from a draft run', async () => {
    const VERSION = (v: string) => `name: Versioned child
trigger: { type: nested }
steps:
  - { id: out, kind: exit, output: { version: ${v} } }
`;
    const child = await create(VERSION('one'));
    const published = await publish(child.id);
    const edit = await t.request({
      method: 'PATCH',
      url: `/v1/workflows/${child.id}`,
      payload: { yaml: VERSION('two') },
    });
    assert.equal(edit.statusCode, 200, edit.body);
    const draft = (
      (await t.request({ method: 'GET', url: `/v1/workflows/${child.id}` })).json() as {
        workflow: WorkflowView;
      }
    ).workflow;
    assert.notEqual(draft.current_revision_id, published.published_revision_id);
    assert.equal(draft.published_revision_id, published.published_revision_id);

    const parent = await workflow(`name: Version parent
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: Versioned child }
  - { id: done, kind: exit, output: "{{ $.call.version }}" }
`);
    const pub = await run(parent);
    const cur = await run(parent, {}, 'current');
    await worker.runUntilIdle();
    const p = await get(pub);
    const c = await get(cur);
    assert.equal(p.output, 'one', 'a published run calls the published child');
    assert.equal(c.output, 'two', 'a draft run calls the current child');
    const children = await runsOf(child.id);
    const pChild = children.find((r) => r.trigger.parent_execution_id === pub);
    const cChild = children.find((r) => r.trigger.parent_execution_id === cur);
    assert.ok(pChild && cChild);
    assert.equal(
      (step(p, 'call').input as { revision_id: string }).revision_id,
      published.published_revision_id,
    );
    assert.equal(pChild.revision_id, published.published_revision_id);
    assert.equal(pChild.trigger.revision, 'published');
    assert.equal(cChild.revision_id, draft.current_revision_id);
    assert.equal(cChild.trigger.revision, 'current');
  });

  it('refuses to publish a parent whose literal child is unpublished, naming the field', async () => {
    const child = await workflow(ENRICH('Unpublished child'), false);
    const parent = await create(`name: Eager parent
trigger: { type: on_demand }
steps:
  - { id: first, kind: transform, value: 1 }
  - { id: call, kind: call_workflow, workflow: Unpublished child, inputs: { ip: 192.0.2.2 } }
`);
    const res = await t.request({ method: 'POST', url: `/v1/workflows/${parent.id}/publish` });
    assertError(res, 400, 'WORKFLOW_NOT_PUBLISHABLE', 'yaml:steps[1].workflow', { messageNamesField: false });
    assert.match(res.body, /Unpublished child/);
    await publish(child);
    await publish(parent.id);

    // A draft run of an unpublished parent may call an unpublished child.
    const lonely = await workflow(ENRICH('Draft-only child'), false);
    const draftParent = await workflow(
      `name: Draft parent
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: Draft-only child, inputs: { ip: 192.0.2.3 } }
  - { id: done, kind: exit, output: "{{ $.call.ip }}" }
`,
      false,
    );
    const e = await run(draftParent, {}, 'current');
    await worker.runUntilIdle();
    const x = await get(e);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.equal(x.output, '192.0.2.3');
    assert.equal((await runsOf(lonely)).length, 1);
  });

  it('fails CHILD_NOT_PUBLISHED when a published parent reaches an unpublished child at run time', async () => {
    await workflow(ENRICH('Later child'), false);
    const parent = await workflow(`name: Dynamic parent
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: "{{ $.event.child }}", inputs: { ip: 192.0.2.4 } }
`);
    const e = await run(parent, { child: 'Later child' });
    await worker.runUntilIdle();
    failedWith(await get(e), 'call', 'CHILD_NOT_PUBLISHED');
  });

  it('can publish a workflow that calls itself', async () => {
    const w = await create(`name: Self caller
trigger: { type: on_demand }
steps:
  - id: again
    kind: if
    condition: "{{ $.event.n > 0 }}"
    then:
      - { id: call, kind: call_workflow, workflow: Self caller, inputs: { n: "{{ $.event.n - 1 }}" } }
  - { id: done, kind: exit, output: "{{ $.event.n }}" }
`);
    const res = await t.request({ method: 'POST', url: `/v1/workflows/${w.id}/publish` });
    assert.equal(res.statusCode, 200, `publishing a self-calling workflow: ${res.body}`);
    const e = await run(w.id, { n: 2 });
    await worker.runUntilIdle();
    const x = await get(e);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.equal(x.output, 2);
    assert.deepEqual(
      (await runsOf(w.id)).map((r) => r.trigger.depth ?? 0).sort(),
      [0, 1, 2],
      'it called itself twice, through its published revision',
    );
  });

  it(`stops a workflow calling itself forever at depth ${MAX_CALL_DEPTH} with CALL_DEPTH_EXCEEDED`, async () => {
    assert.equal(MAX_CALL_DEPTH, 10);
    const id = await workflow(
      `name: Forever
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: Forever, inputs: { level: "{{ $.event.level + 1 }}" } }
`,
      false,
    );
    const root = await run(id, { level: 0 }, 'current');
    await worker.runUntilIdle();
    const runs = await runsOf(id);
    assert.equal(runs.length, MAX_CALL_DEPTH + 1, 'the root and ten nested runs');
    const deepest = runs.find((r) => r.trigger.depth === MAX_CALL_DEPTH);
    assert.ok(deepest, JSON.stringify(runs.map((r) => r.trigger)));
    assert.deepEqual(deepest.input, { level: MAX_CALL_DEPTH });
    failedWith(deepest, 'call', 'CALL_DEPTH_EXCEEDED');
    for (const r of runs)
      assert.equal(r.status, 'failed', `every run in the chain fails: ${String(r.trigger.depth)}`);
    const top = await get(root);
    failedWith(top, 'call', 'CHILD_FAILED');
    assert.match(top.error!.message, /nest at most 10 deep/, 'the root names the reason');
    assert.equal(top.trigger.type, 'manual');
  });

  it('checks the child inputs against its schema: INPUTS_INVALID fails the step and starts no run', async () => {
    const child = await workflow(ENRICH('Strict inputs child'));
    const parent = await workflow(`name: Wrong inputs
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: Strict inputs child, inputs: { ip: 42 } }
`);
    const missing = await workflow(`name: Missing inputs
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: Strict inputs child, on_error: continue }
  - { id: done, kind: exit, output: "{{ $.call.error }}" }
`);
    const e = await run(parent);
    const m = await run(missing);
    await worker.runUntilIdle();
    const x = await get(e);
    failedWith(x, 'call', 'INPUTS_INVALID');
    assert.match(x.error!.message, /inputs\.ip/);
    const y = await get(m);
    assert.equal(y.status, 'succeeded');
    assert.equal((y.output as { code: string }).code, 'INPUTS_INVALID');
    assert.match((y.output as { message: string }).message, /inputs\.ip is required/);
    assert.equal((await runsOf(child)).length, 0, 'no child run was queued');
  });

  it('cancels the waiting child with the parent; a cancelled child fails the waiting parent', async () => {
    const child = await workflow(`name: Slow child
trigger: { type: nested }
steps:
  - { id: pause, kind: wait, duration: 1h }
  - { id: out, kind: exit, output: late }
`);
    const parent = await workflow(`name: Impatient parent
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: Slow child }
  - { id: never, kind: transform, value: 1 }
`);
    const e = await run(parent);
    assert.equal(await worker.runUntilIdle(), 2, 'the parent parks, then the child parks');
    const childId = (step(await get(e), 'call').output as { execution_id: string }).execution_id;
    assert.equal((await get(childId)).status, 'waiting');
    const res = await t.request({ method: 'POST', url: `/v1/executions/${e}/cancel` });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await get(e)).status, 'cancelled');
    const c = await get(childId);
    assert.equal(c.status, 'cancelled', 'the child was cancelled with its parent');
    assert.equal(await worker.runUntilIdle(), 0);
    assert.equal((await get(e)).status, 'cancelled');

    // The other way round: cancelling the child wakes the parent, whose step fails.
    const e2 = await run(parent);
    await worker.runUntilIdle();
    const child2 = (step(await get(e2), 'call').output as { execution_id: string }).execution_id;
    const r2 = await t.request({ method: 'POST', url: `/v1/executions/${child2}/cancel` });
    assert.equal(r2.statusCode, 200, r2.body);
    assert.equal(await worker.runUntilIdle(), 1, 'the parent is woken at once');
    const x = await get(e2);
    failedWith(x, 'call', 'CHILD_FAILED');
    assert.match(x.error!.message, /cancelled/);
    assert.equal((await runsOf(child)).length, 2);
  });

  it('finishes a sync call end to end on a running worker', async () => {
    await workflow(ENRICH('Quick child'));
    const parent = await workflow(`name: Racing parent
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: Quick child, inputs: { ip: 192.0.2.77 } }
  - { id: done, kind: exit, output: "{{ $.call.ip }}" }
`);
    const e = await run(parent);
    await worker.start();
    try {
      const deadline = Date.now() + 10_000;
      while ((await get(e)).status !== 'succeeded' && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
    } finally {
      await worker.stop();
    }
    const x = await get(e);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.equal(x.output, '192.0.2.77');
  });
});
